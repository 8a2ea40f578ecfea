//! `cargo bench --bench rules`: what each rule costs and what it fixes.
//!
//! Every example and fixture is slimmed without probe files, once with
//! everything on, then once with each mechanism that kept something turned
//! off (`--keep-app-files none`, `--trace-lookups=false`,
//! `--no-runtime-rule NAME`). For each build it prints the slim size and
//! which of the image's never-profiled requests (tests/common/routes.rs)
//! answer unlike the original. A rule pays for itself when turning it off
//! breaks an answer; its cost is the size it adds. Asserts nothing; needs
//! `scripts/setup`. docs/runtime-rules.md holds the output.

#[path = "../tests/common/mod.rs"]
mod common;

use common::routes::{Routes, EXAMPLES, FIXTURES};
use common::{answers, docker, remove_image, Answer};
use serde_json::Value;
use std::process::Command;

const SLIM: &str = "rslim-bench/rules:slim";

/// Report reasons, and the flag that turns off what keeps files for them.
const MECHANISMS: &[(&str, &[&str])] = &[
    ("app-file", &["--keep-app-files", "none"]),
    ("looked-up", &["--trace-lookups=false"]),
    ("python", &["--no-runtime-rule", "python"]),
    ("node", &["--no-runtime-rule", "node"]),
    ("perl", &["--no-runtime-rule", "perl"]),
    ("ruby", &["--no-runtime-rule", "ruby"]),
    ("jvm", &["--no-runtime-rule", "jvm"]),
    ("go", &["--no-runtime-rule", "go"]),
    ("glibc", &["--no-runtime-rule", "glibc"]),
    ("tls", &["--no-runtime-rule", "tls"]),
    ("data-set", &["--no-runtime-rule", "datasets"]),
];

struct Built {
    slim_bytes: u64,
    report: Value,
    /// Routes answered unlike the original.
    broken: Vec<String>,
}

fn main() {
    println!(
        "| image | fat | slim | mechanism | its bytes | slim without it | broken without it |"
    );
    println!("| --- | ---: | ---: | --- | ---: | ---: | --- |");
    for routes in EXAMPLES.iter().chain(FIXTURES) {
        if !docker(&["image", "inspect", routes.image]).status.success() {
            println!(
                "| {} | missing: run scripts/setup | | | | | |",
                routes.image
            );
            continue;
        }
        let original = answers(routes.image, routes.port, routes.paths);
        let Some(all_on) = build(routes, &[], &original) else {
            continue;
        };
        let fat = all_on.report["original_bytes"].as_u64().unwrap_or(0);
        let fired: Vec<_> = MECHANISMS
            .iter()
            .filter(|(reason, _)| all_on.report["kept_by_reason"].get(*reason).is_some())
            .collect();
        let broken_all_on = describe(&all_on.broken);
        println!(
            "| {} | {} | {} | all on | | | {} |",
            short(routes.image),
            mb(fat),
            mb(all_on.slim_bytes),
            broken_all_on
        );
        for (reason, flags) in fired {
            let bytes = all_on.report["kept_by_reason"][reason]["bytes"]
                .as_u64()
                .unwrap_or(0);
            let Some(without) = build(routes, flags, &original) else {
                continue;
            };
            println!(
                "| | | | {reason} | {} | {} | {} |",
                mb(bytes),
                mb(without.slim_bytes),
                describe(&without.broken)
            );
        }
    }
    remove_image(SLIM);
}

fn build(routes: &Routes, flags: &[&str], original: &[Answer]) -> Option<Built> {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args(["build", routes.image, "--tag", SLIM, "--report"])
        .arg(&report_path)
        .args(flags)
        .output()
        .expect("cannot run rslim");
    if !out.status.success() {
        println!(
            "| {} | build {flags:?} failed: {} | | | | | |",
            short(routes.image),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).ok()?).ok()?;
    // A slim image that does not start makes `answers` panic: that is a
    // result here, not a crash, so its message is not printed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let slim = std::panic::catch_unwind(|| answers(SLIM, routes.port, routes.paths)).ok();
    std::panic::set_hook(hook);
    let broken = match slim {
        Some(slim) => original
            .iter()
            .zip(&slim)
            .filter(|(fat, slim)| fat != slim)
            .map(|(fat, _)| fat.path.clone())
            .collect(),
        None => vec!["(does not start)".to_string()],
    };
    Some(Built {
        slim_bytes: report["slim_bytes"].as_u64().unwrap_or(0),
        report,
        broken,
    })
}

fn describe(broken: &[String]) -> String {
    if broken.is_empty() {
        "none".to_string()
    } else {
        broken.join(" ")
    }
}

fn short(image: &str) -> &str {
    image
        .trim_start_matches("rslim-examples/")
        .trim_start_matches("rslim-fixtures/")
        .trim_end_matches(":latest")
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}
