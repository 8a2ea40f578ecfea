//! `cargo bench --bench xray`: wall time and peak RSS of `rslim xray` on a
//! ~1 GB image of 50 000 files. Not part of the test suite.
//!
//! The image is built when missing (a few minutes) and removed afterwards
//! unless RSLIM_BENCH_KEEP=1. Every file has the same size and distinct
//! content, the worst case for duplicate detection: all sizes collide, so
//! every byte is hashed.

use std::process::Command;
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

    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_rslim"))
        .args(["xray", "--json", IMAGE])
        .output()
        .expect("/usr/bin/time (package `time`) is needed to measure peak RSS");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rslim xray failed: {stderr}");
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = report["summary"]["visible_files"].as_u64().unwrap();
    assert!(files >= FILES, "the image has {files} files");
    println!(
        "xray of {IMAGE}: {files} files, {} stored bytes ({} expected in /data)",
        report["summary"]["stored_bytes"],
        FILES * FILE_BYTES
    );
    println!(
        "wall time: {}",
        field("Elapsed (wall clock) time (h:mm:ss or m:ss):")
    );
    println!(
        "peak RSS: {} kB",
        field("Maximum resident set size (kbytes):")
    );

    if std::env::var_os("RSLIM_BENCH_KEEP").is_none() {
        let removed = Command::new("docker")
            .args(["rmi", IMAGE])
            .output()
            .unwrap();
        assert!(removed.status.success(), "cannot remove {IMAGE}");
    }
}
