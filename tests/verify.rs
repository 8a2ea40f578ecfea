//! End-to-end tests of `--verify`: the example images with their probe
//! files from `probes/` must verify; a slim image that misses what only an
//! unprobed endpoint uses, or that cannot start, must fail with exit 9, name
//! what differed, and stay tagged for inspection.

mod common;

use common::*;
use serde_json::Value;

const VERIFY_FAILED: i32 = 9;

fn probe_file(name: &str) -> String {
    format!("{}/probes/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn steps_in(file: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["steps"].as_array().unwrap().len()
}

/// Builds with `--verify`, leaving no container or volume; returns
/// (exit code, stderr, report).
fn build_verified(image: &str, tag: &str, extra: &[&str]) -> (Option<i32>, String, Value) {
    let mut args = vec!["--verify"];
    args.extend_from_slice(extra);
    let (code, stderr, report) = run_build(image, tag, &args);
    (code, stderr, report.expect("no report written"))
}

/// An example with its probe file verifies: every step (the file's and the
/// default `GET /`) answered the same by both images, and an independent
/// curl agrees on the HTTP paths.
fn example_verifies(example: &str, port: u16, paths: &[&str]) {
    let fat = format!("rslim-examples/{example}:fat");
    let slim = format!("rslim-test/verify:{example}");
    let file = probe_file(&format!("{example}.json"));
    assert!(
        steps_in(&file) >= 3,
        "{file} should exercise several endpoints"
    );
    let (code, text, report) = build_verified(&fat, &slim, &["--probe", &file]);
    assert_eq!(code, Some(0), "{text}");
    let verification = &report["verification"];
    assert_eq!(verification["passed"], true, "{verification}");
    let steps = verification["steps"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        steps_in(&file) + 1,
        "file steps plus the default probe"
    );
    assert!(steps.iter().all(|s| s["same"] == true));
    assert!(verification["ms"].as_u64().unwrap() >= verification["start_ms"].as_u64().unwrap());
    assert!(text.contains(&format!("rslim: verified {slim}")), "{text}");
    assert_eq!(answers(&fat, port, paths), answers(&slim, port, paths));
    remove_image(&slim);
}

#[test]
fn nginx_example_verifies_with_its_probe_file() {
    let _daemon = exclusive();
    example_verifies(
        "nginx",
        80,
        &["/pages/about.html", "/css/site.css", "/img/logo.png"],
    );
}

#[test]
fn python_example_verifies_with_its_probe_file() {
    let _daemon = exclusive();
    example_verifies("python-app", 8000, &["/json", "/hash?s=abc", "/db"]);
}

#[test]
fn shell_entry_example_verifies_with_its_probe_file() {
    let _daemon = exclusive();
    example_verifies("shell-entry", 8080, &["/", "/index.html", "/missing.html"]);
}

#[test]
fn an_endpoint_never_probed_while_profiling_fails_verification() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-examples/python-app:fat",
        "rslim-test/verify:unprobed",
    );
    // Profiled with the default GET / only; /db (sqlite3) is asked for only
    // when verifying. The Python rule would keep sqlite3 from the handler's
    // import; without it, this is the gap verification must catch.
    let file = probe_file("python-app.json");
    let (code, text, report) = build_verified(
        fat,
        slim,
        &["--verify-probe", &file, "--no-runtime-rule", "python"],
    );
    assert_eq!(code, Some(VERIFY_FAILED), "{text}");
    assert!(
        text.contains(&format!("{file} step 4: GET /db (port 8000) differs")),
        "{text}"
    );
    assert!(
        text.contains("fruit=apple,pear,plum total=15"),
        "the original's answer is shown:\n{text}"
    );
    assert!(
        text.contains(&format!("the slim image is kept as {slim}")),
        "{text}"
    );
    let steps = report["verification"]["steps"].as_array().unwrap();
    let same = |step: &str| {
        steps
            .iter()
            .find(|s| s["step"] == step)
            .map(|s| s["same"].clone())
    };
    assert_eq!(same("GET / (port 8000)"), Some(Value::Bool(true)));
    assert_eq!(same("GET /db (port 8000)"), Some(Value::Bool(false)));
    assert_eq!(report["verification"]["passed"], false);
    // Kept under its tag, and really broken where verification said.
    let broken = answers(slim, 8000, &["/db"]);
    assert_ne!(broken, answers(fat, 8000, &["/db"]));
    remove_image(slim);
}

/// statonly only stat()s its config file. Without lookup tracing the sensor
/// cannot see that, the slim image lacks the file and cannot start, and
/// verification must say so.
#[test]
fn a_slim_image_that_cannot_start_fails_verification() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-fixtures/statonly:latest",
        "rslim-test/verify:statonly",
    );
    let (code, text, report) = build_verified(fat, slim, &["--trace-lookups=false"]);
    assert_eq!(code, Some(VERIFY_FAILED), "{text}");
    assert!(
        text.contains("the slim container exited with code 1 before answering"),
        "{text}"
    );
    assert!(
        text.contains("statonly: /etc/statonly.conf is missing"),
        "logs are shown:\n{text}"
    );
    assert_eq!(report["verification"]["passed"], false);
    docker_ok(&["image", "inspect", slim]);
    remove_image(slim);
}

/// The same image with lookups traced (the default): the stat() is seen, the
/// file is kept, and the slim image starts and answers like the original.
#[test]
fn an_existence_check_is_seen_and_its_file_kept() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-fixtures/statonly:latest",
        "rslim-test/verify:statonly-traced",
    );
    let (code, text, report) = build_verified(fat, slim, &[]);
    assert_eq!(code, Some(0), "{text}");
    let kept = report["kept"].as_array().unwrap();
    assert!(
        kept.iter()
            .any(|k| k["path"] == "/etc/statonly.conf" && k["reason"] == "looked-up"),
        "{text}"
    );
    assert!(report["sensor"]["lookups"].as_u64().unwrap() > 0);
    assert_eq!(answers(fat, 8081, &["/"]), answers(slim, 8081, &["/"]));
    remove_image(slim);
}

#[test]
fn a_batch_job_verifies_by_its_exit_code() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/batch:latest", "rslim-test/verify:batch");
    let (code, text, report) = build_verified(fat, slim, &[]);
    assert_eq!(code, Some(0), "{text}");
    let step = &report["verification"]["steps"][0];
    assert_eq!(step["step"], "exit code of the image's command");
    assert_eq!(step["slim"]["exit"], 0);
    remove_image(slim);
}

#[test]
fn sigint_while_verifying_removes_the_slim_and_reference_containers() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-examples/python-app:fat",
        "rslim-test/verify:interrupted",
    );
    require_image(fat);
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.json");
    std::fs::write(&slow, r#"{"steps": [{"wait": {"seconds": 60}}]}"#).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args([
            "build",
            fat,
            "--tag",
            slim,
            "--verify-probe",
            slow.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both verification containers exist while the 60 s wait runs.
    let names = || {
        docker_ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label={OWNER_LABEL}"),
        ])
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(names().contains("rslim-verify-") && names().contains("rslim-reference-")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no verification containers appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = child.id();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let left = leftovers_of(pid);
    assert!(
        left.is_empty(),
        "the interrupted verification left {left:?} behind"
    );
    remove_image(slim);
}
