//! `cargo bench --bench build`: what `rslim build` costs, stage by stage,
//! on the nginx example built on a full debootstrap minbase (~300 MB) and
//! on the same image with 1 GB of files the app never opens. Prints numbers;
//! it asserts nothing about time. Needs `scripts/setup && scripts/bench-setup`.
//!
//! Peak RSS comes from `/usr/bin/time -v` (Debian package `time`).

use std::process::Command;

const IMAGES: &[&str] = &["rslim-bench/nginx:fat", "rslim-bench/nginx-1g:fat"];
const RUNS: usize = 5;

struct Run {
    total_ms: f64,
    overhead_ms: f64,
    stages: Vec<(String, f64)>,
    peak_rss_kb: u64,
    original: u64,
    slim: u64,
}

fn main() {
    println!("rslim build benchmark: {RUNS} runs per image, medians (ms)\n");
    for image in IMAGES {
        let exists = Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .unwrap();
        if !exists.status.success() {
            println!("{image}: missing, run scripts/bench-setup first");
            continue;
        }
        let runs: Vec<Run> = (0..RUNS).map(|i| build(image, i)).collect();
        print_summary(image, &runs);
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", "rslim-bench/slim:latest"])
            .output();
    }
}

fn build(image: &str, index: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_rslim"))
        .args([
            "build",
            image,
            "--tag",
            "rslim-bench/slim:latest",
            "--report",
        ])
        .arg(&report)
        .output()
        .expect("/usr/bin/time (package `time`) is needed to measure peak RSS");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run {index} of {image} failed:\n{stderr}"
    );
    let peak_rss_kb = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    Run {
        total_ms: report["total_ms"].as_f64().unwrap(),
        overhead_ms: report["overhead_ms"].as_f64().unwrap(),
        stages: report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["stage"].as_str().unwrap().to_string(),
                    s["ms"].as_f64().unwrap(),
                )
            })
            .collect(),
        peak_rss_kb,
        original: report["original_bytes"].as_u64().unwrap(),
        slim: report["slim_bytes"].as_u64().unwrap(),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn print_summary(image: &str, runs: &[Run]) {
    let first = &runs[0];
    println!(
        "{image}: {:.1} MB -> {:.1} MB ({:.1}x smaller)",
        first.original as f64 / 1e6,
        first.slim as f64 / 1e6,
        first.original as f64 / first.slim as f64
    );
    let total = median(runs.iter().map(|r| r.total_ms).collect());
    let overhead = median(runs.iter().map(|r| r.overhead_ms).collect());
    println!("  whole build      {total:7.0} ms");
    println!("  rslim's overhead {overhead:7.0} ms  (whole build minus docker start, readiness and probes)");
    for (stage, _) in &first.stages {
        let ms = median(
            runs.iter()
                .map(|r| {
                    r.stages
                        .iter()
                        .filter(|(s, _)| s == stage)
                        .map(|(_, ms)| ms)
                        .sum()
                })
                .collect(),
        );
        println!("    {stage:<8} {ms:7.0} ms  ({:4.1}%)", 100.0 * ms / total);
    }
    let rss = runs.iter().map(|r| r.peak_rss_kb).max().unwrap_or(0);
    println!("  peak RSS (max)   {:7.1} MB\n", rss as f64 / 1024.0);
}
