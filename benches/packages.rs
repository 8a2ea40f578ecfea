//! `cargo bench --bench packages`: what `--keep packages` costs and what it
//! saves, per image (docs/packages.md holds the output).
//!
//! Every example and fixture with requests profiling never makes
//! (tests/common/routes.rs, plus `pyplugins`' plugin route) is slimmed with
//! no probes at all, once in the default mode and once with `--keep
//! packages`; each slim image is then asked those requests and compared with
//! the original, answer by answer. The `cli` fixture has no port: its three
//! `run` steps (tests/fixtures/cli/runs.json) are its requests, checked by
//! `--verify-probe`, and one more row shows it profiled with them (and
//! checked by `--verify`). Images
//! that only run once (`batch`) have nothing to ask; their sizes are shown.
//! Prints a markdown table; asserts nothing; needs `scripts/setup`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::routes::{Routes, EXAMPLES, FIXTURES};
use common::{answers, docker, remove_image, Answer};
use serde_json::Value;
use std::process::Command;

const SLIM: &str = "rslim-bench/packages:slim";
const CLI_RUNS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cli/runs.json");

/// The plugin route the default mode cannot keep (tests/keep_packages.rs).
const PYPLUGINS: Routes = Routes {
    image: "rslim-fixtures/pyplugins:latest",
    port: 8100,
    paths: &["/", "/plugin?name=colorsys", "/plugin?name=textwrap"],
};

/// How an image's slim builds are checked.
enum Check<'a> {
    Routes(&'a Routes),
    /// `--verify` with these flags: the differing `run` steps are the broken ones.
    Verify(&'a [&'a str]),
    Nothing,
}

struct Row<'a> {
    image: &'a str,
    check: Check<'a>,
    /// Probe flags both builds get (a row showing profiled runs).
    probes: &'a [&'a str],
}

struct Built {
    slim_bytes: u64,
    original_bytes: u64,
    whole: usize,
    in_part: usize,
    broken: Vec<String>,
}

fn main() {
    let mut rows: Vec<Row> = EXAMPLES
        .iter()
        .chain(FIXTURES)
        .chain([&PYPLUGINS])
        .map(|routes| Row {
            image: routes.image,
            check: Check::Routes(routes),
            probes: &[],
        })
        .collect();
    rows.push(Row {
        image: "rslim-fixtures/cli:latest",
        check: Check::Verify(&["--verify-probe", CLI_RUNS]),
        probes: &[],
    });
    rows.push(Row {
        image: "rslim-fixtures/cli:latest",
        check: Check::Verify(&["--verify"]),
        probes: &["--probe", CLI_RUNS],
    });
    rows.push(Row {
        image: "rslim-fixtures/batch:latest",
        check: Check::Nothing,
        probes: &[],
    });
    println!(
        "| image | original | default mode: slim | whole / in part | broken | `--keep packages`: slim | whole / in part | broken | cost |"
    );
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |");
    for row in &rows {
        let mut name = short(row.image).to_string();
        if !row.probes.is_empty() {
            name += " (with `--probe runs.json`)";
        }
        if !docker(&["image", "inspect", row.image]).status.success() {
            println!("| {name} | missing: run scripts/setup | | | | | | | |");
            continue;
        }
        let original = match &row.check {
            Check::Routes(routes) => answers(routes.image, routes.port, routes.paths),
            _ => Vec::new(),
        };
        let default = build(row, &[], &original);
        let packages = build(row, &["--keep", "packages"], &original);
        let (Ok(default), Ok(packages)) = (default, packages) else {
            println!("| {name} | build failed | | | | | | | |");
            continue;
        };
        println!(
            "| {name} | {} | {} | {} / {} | {} | {} | {} / {} | {} | +{} |",
            mb(default.original_bytes),
            mb(default.slim_bytes),
            default.whole,
            default.in_part,
            describe(&row.check, &default.broken),
            mb(packages.slim_bytes),
            packages.whole,
            packages.in_part,
            describe(&row.check, &packages.broken),
            mb(packages.slim_bytes.saturating_sub(default.slim_bytes)),
        );
    }
    remove_image(SLIM);
}

fn build(row: &Row, flags: &[&str], original: &[Answer]) -> Result<Built, String> {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rslim"));
    command
        .args(["-q", "build", row.image, "--tag", SLIM, "--report"])
        .arg(&report_path)
        .args(row.probes)
        .args(flags);
    if let Check::Verify(verify) = row.check {
        command.args(verify);
    }
    let out = command.output().expect("cannot run rslim");
    let report: Value = std::fs::read(&report_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("no report")?;
    // A failed verification still wrote its image and report.
    if !out.status.success() && out.status.code() != Some(9) {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let packages = report["packages"].as_array().cloned().unwrap_or_default();
    let whole = packages.iter().filter(|p| p["whole"] == true).count();
    let broken = match row.check {
        Check::Routes(routes) => broken_routes(routes, original),
        Check::Verify(_) => report["verification"]["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["step"].as_str().is_some_and(|t| t.starts_with("run ")))
            .filter(|s| s["same"] == false)
            .filter_map(|s| s["step"].as_str().map(str::to_string))
            .collect(),
        Check::Nothing => Vec::new(),
    };
    Ok(Built {
        slim_bytes: report["slim_bytes"].as_u64().unwrap_or(0),
        original_bytes: report["original_bytes"].as_u64().unwrap_or(0),
        whole,
        in_part: packages.len() - whole,
        broken,
    })
}

/// The routes the slim image answers unlike the original.
fn broken_routes(routes: &Routes, original: &[Answer]) -> Vec<String> {
    // A slim image that does not start makes `answers` panic: a result here.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let slim = std::panic::catch_unwind(|| answers(SLIM, routes.port, routes.paths)).ok();
    std::panic::set_hook(hook);
    match slim {
        Some(slim) => original
            .iter()
            .zip(&slim)
            .filter(|(fat, slim)| fat != slim)
            .map(|(fat, _)| format!("`{}`", fat.path))
            .collect(),
        None => vec!["(does not start)".to_string()],
    }
}

fn describe(check: &Check, broken: &[String]) -> String {
    match (check, broken.is_empty()) {
        (Check::Nothing, _) => "—".to_string(),
        (Check::Routes(routes), true) => format!("none of {}", routes.paths.len()),
        (Check::Verify(_), true) => "none of the 3 runs".to_string(),
        (_, false) => broken.join(", "),
    }
}

fn short(image: &str) -> &str {
    image
        .trim_start_matches("rslim-examples/")
        .trim_start_matches("rslim-fixtures/")
        .trim_end_matches(":latest")
        .trim_end_matches(":fat")
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
