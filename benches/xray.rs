//! `cargo bench --bench xray`: wall time and peak RSS of `rslim xray` on a
//! ~1 GB image of 50 000 files. Not part of the test suite.
//!
//! The image is built when missing (a few minutes) and removed afterwards
//! unless RSLIM_BENCH_KEEP=1. Every file has the same size and distinct
//! content, the worst case for duplicate detection: all sizes collide, so
//! every file's prefix is hashed.
//!
//! Prints three runs: xray from the daemon, `docker save` alone (the floor
//! the daemon sets), and xray of the same image saved to a file first.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

const IMAGE: &str = "rslim-xray-bench/big:latest";
const FILES: u64 = 50_000;
const FILE_BYTES: u64 = 20_000;

const DOCKERFILE: &str = r#"FROM debian:bookworm-slim
# 50 000 files of 20 000 bytes (1 GB), deterministic: consecutive numbers cut
# into equal chunks, so no two files are equal.
RUN mkdir /data && cd /data \
 && seq 1 200000000 | head -c 1000000000 | split -b 20000 -a 5 -d - f \
 && test "$(ls | wc -l)" = 50000
"#;

fn main() {
    if !Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .unwrap()
        .status
        .success()
    {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE).unwrap();
        let started = Instant::now();
        let status = Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "--force-rm", "-t", IMAGE])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "cannot build {IMAGE}");
        println!("built {IMAGE} in {:.1} s", started.elapsed().as_secs_f64());
    }

    // From the daemon: `docker save` spooled, then read.
    let report = measure(&["xray", "--json", "--timings", IMAGE]);
    let files = report["summary"]["visible_files"].as_u64().unwrap();
    assert!(files >= FILES, "the image has {files} files");
    println!(
        "xray of {IMAGE}: {files} files, {} stored bytes ({} expected in /data)",
        report["summary"]["stored_bytes"],
        FILES * FILE_BYTES
    );

    // The daemon's share alone: its `docker save` stream read and dropped.
    let started = Instant::now();
    let mut save = Command::new("docker")
        .args(["save", IMAGE])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = save.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).unwrap();
    let first_byte = started.elapsed();
    let bytes = 1 + std::io::copy(&mut stream, &mut std::io::sink()).unwrap();
    assert!(save.wait().unwrap().success(), "docker save failed");
    println!(
        "docker save alone: {bytes} bytes, first byte after {:.1} s, last after {:.1} s",
        first_byte.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // Without the daemon: the same image saved to a file first.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    let saved = Command::new("docker")
        .args(["save", "-o"])
        .arg(&archive)
        .arg(IMAGE)
        .status()
        .unwrap();
    assert!(saved.success(), "docker save -o failed");
    let from_file = measure(&[
        "xray",
        "--json",
        "--timings",
        "--archive",
        archive.to_str().unwrap(),
    ]);
    assert_eq!(from_file["summary"], report["summary"]);
    assert_eq!(from_file["duplicates"], report["duplicates"]);

    if std::env::var_os("RSLIM_BENCH_KEEP").is_none() {
        let removed = Command::new("docker")
            .args(["rmi", IMAGE])
            .output()
            .unwrap();
        assert!(removed.status.success(), "cannot remove {IMAGE}");
    }
}

/// Runs rslim under `/usr/bin/time -v`, prints its wall time, peak RSS and
/// stage times, and returns its `--json` report.
fn measure(args: &[&str]) -> serde_json::Value {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_rslim"))
        .args(args)
        .output()
        .expect("/usr/bin/time (package `time`) is needed to measure peak RSS");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rslim {args:?} failed: {stderr}");
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("rslim {}", args.join(" "));
    println!(
        "  wall time: {}, peak RSS: {} kB",
        field("Elapsed (wall clock) time (h:mm:ss or m:ss):"),
        field("Maximum resident set size (kbytes):")
    );
    println!("  stages (ms): {}", report["timings_ms"]);
    report
}
