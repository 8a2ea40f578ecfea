//! `run` steps and `--run-args`, end to end, on the `cli` fixture: a tool
//! whose subcommands each need other programs of the image (sort and awk,
//! perl, sha256sum and grep) while its default command only prints its
//! usage. Profiled with one run per subcommand, the slim image must answer
//! each the same as the original, on arguments profiling never gave too;
//! `--verify` must compare every run's exit code and output and fail when
//! a subcommand nobody profiled is asked for.

mod common;

use common::schema::assert_valid_report;
use common::*;
use serde_json::Value;

const FAT: &str = "rslim-fixtures/cli:latest";

fn probe_file(name: &str) -> String {
    format!("{}/tests/fixtures/cli/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Exit code and output (stdout, then stderr) of `docker run --rm IMAGE ARGS`.
fn run(image: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["run", "--rm", image];
    all.extend_from_slice(args);
    let out = docker(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The verified `run` steps (not the image's own command, compared too).
fn verified_runs(report: &Value) -> Vec<&Value> {
    report["verification"]["steps"]
        .as_array()
        .expect("no verification steps")
        .iter()
        .filter(|s| s["step"].as_str().is_some_and(|t| t.starts_with("run ")))
        .collect()
}

fn kept_reason<'a>(report: &'a Value, path: &str) -> Option<&'a str> {
    report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"] == path)
        .and_then(|k| k["reason"].as_str())
}

#[test]
fn three_subcommands_profiled_with_run_steps_answer_the_same_on_the_slim_image() {
    let _daemon = exclusive();
    let slim = "rslim-test/cli:runs";
    let (code, stderr, report) = run_build(
        FAT,
        slim,
        &["--probe", &probe_file("runs.json"), "--verify"],
    );
    let report = report.expect("no report");
    assert_valid_report(&report);
    assert_eq!(code, Some(0), "{stderr}");

    // Each run was profiled in its own container, and answered as expected.
    let profiled: Vec<&Value> = report["probe_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["answer"]["kind"] == "command")
        .collect();
    assert_eq!(profiled.len(), 3, "{:#}", report["probe_steps"]);
    assert!(profiled.iter().all(|s| s["answer"]["exit"] == 0));
    // What only the runs used is in the slim image, because they ran.
    assert_eq!(kept_reason(&report, "/usr/bin/perl"), Some("executed"));
    assert_eq!(kept_reason(&report, "/usr/bin/mawk"), Some("executed"));
    assert_eq!(kept_reason(&report, "/usr/bin/sha256sum"), Some("executed"));

    // --verify ran each again on the slim image and compared exit and output.
    let verified = verified_runs(&report);
    assert_eq!(verified.len(), 3, "{:#}", report["verification"]);
    for step in &verified {
        assert_eq!(step["same"], true, "{step:#}");
        assert_eq!(step["original"], step["slim"], "{step:#}");
    }

    // The same answers, byte for byte, on arguments profiling gave and on
    // ones it never gave (the default format, another file to check).
    for args in [
        &["report", "--format=text"][..],
        &["report", "--format=json"],
        &["check", "/etc/os-release"],
        &["report"],
        &["check", "/etc/debian_version"],
        &["check", "/nonexistent"],
        &["help"],
    ] {
        let fat = run(FAT, args);
        let thin = run(slim, args);
        assert_eq!(thin, fat, "{args:?} answers differently on the slim image");
    }
    // And it is slim: `stats` (paste) was never profiled, so it fails there.
    assert_eq!(run(FAT, &["stats"]).0, Some(0));
    assert_ne!(run(slim, &["stats"]).0, Some(0));
    remove_image(slim);
}

#[test]
fn run_args_profile_a_subcommand_and_verify_catches_one_nobody_ran() {
    let _daemon = exclusive();
    let slim = "rslim-test/cli:run-args";
    let (code, stderr, report) = run_build(
        FAT,
        slim,
        &[
            "--run-args",
            "report '--format=json'",
            "--verify-probe",
            &probe_file("text-report.json"),
        ],
    );
    remove_image(slim);
    let report = report.expect("no report");
    assert_valid_report(&report);
    assert_eq!(code, Some(9), "verification should have failed:\n{stderr}");
    let verified = verified_runs(&report);
    assert_eq!(verified.len(), 2, "{:#}", report["verification"]);
    let by_origin = |origin: &str| {
        verified
            .iter()
            .find(|s| s["origin"].as_str().unwrap().contains(origin))
            .unwrap_or_else(|| panic!("no verified run from {origin}"))
    };
    // The one-liner was profiled: perl is kept and the JSON report matches.
    let json = by_origin("--run-args");
    assert_eq!(json["same"], true, "{json:#}");
    assert_eq!(json["slim"]["exit"], 0);
    assert_eq!(kept_reason(&report, "/usr/bin/perl"), Some("executed"));
    // The text report needs sort and awk, which nobody ran: a different
    // exit code and output, and the step's expectation missed on the slim image.
    let text = by_origin("text-report.json");
    assert_eq!(text["same"], false, "{text:#}");
    assert_eq!(text["original"]["exit"], 0);
    assert_ne!(text["slim"]["exit"], 0);
    assert!(text["unmet"].is_string(), "{text:#}");
    assert!(stderr.contains("report --format=text"), "{stderr}");
}

#[test]
fn a_run_that_misses_its_expectation_fails_the_build() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("wrong.json");
    std::fs::write(
        &probe,
        r#"{"steps": [{"run": {"args": ["check", "/nonexistent"], "expect": {"exit": 0}}}]}"#,
    )
    .unwrap();
    let (code, stderr, report) = run_build(
        FAT,
        "rslim-test/cli:wrong",
        &["--probe", probe.to_str().unwrap()],
    );
    remove_image("rslim-test/cli:wrong");
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("check /nonexistent"), "{stderr}");
    assert_valid_report(&report.expect("no report"));
}

#[test]
fn run_args_that_need_a_shell_are_refused_before_anything_runs() {
    let _daemon = exclusive();
    let out = rslim_leaving_nothing(&["build", FAT, "--run-args", "report | head -1"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("would need a shell"), "{text}");
}
