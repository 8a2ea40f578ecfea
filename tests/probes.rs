//! End-to-end tests of probe files, one-liner probes and the crawl: the real
//! binary, the real daemon, the example images. What the probes touch must
//! end up in the slim image; bad probe files must stop rslim before any
//! container starts.

mod common;

use common::*;
use serde_json::Value;

fn build(image: &str, tag: &str, extra: &[&str]) -> (Option<i32>, String, Option<Value>) {
    run_build(image, tag, extra)
}

/// The paths of the report's recorded HTTP steps from `origin`.
fn step_paths(report: &Value, origin: &str) -> Vec<String> {
    report["probe_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["origin"].as_str().unwrap().contains(origin))
        .filter_map(|s| {
            let step = s["step"].as_str().unwrap();
            step.starts_with("GET ")
                .then(|| step[4..].split(' ').next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn crawl_keeps_every_linked_page_of_a_static_site() {
    let _daemon = exclusive();
    let fat = "rslim-examples/nginx:fat";
    let linked = [
        "/",
        "/css/site.css",
        "/img/logo.png",
        "/pages/about.html",
        "/pages/faq.html",
    ];

    // Without the crawl only `/` is asked for, so the stylesheet is dropped
    // (app files would keep it: they are off here, to see the crawl alone).
    let plain = "rslim-test/probes:nocrawl";
    let (code, text, _) = build(fat, plain, &["--keep-app-files", "none"]);
    assert_eq!(code, Some(0), "{text}");
    let without = answers(plain, 80, &["/css/site.css"]);
    assert_eq!(
        without[0].status, "404",
        "the control build kept the stylesheet anyway"
    );
    remove_image(plain);

    let slim = "rslim-test/probes:crawl";
    let (code, text, report) = build(
        fat,
        slim,
        &["--http-probe-crawl", "--keep-app-files", "none"],
    );
    assert_eq!(code, Some(0), "{text}");
    let mut crawled = step_paths(&report.unwrap(), "crawl");
    crawled.sort();
    assert_eq!(crawled, linked);
    let fat_answers = answers(fat, 80, &linked);
    assert!(
        fat_answers.iter().all(|a| a.status == "200"),
        "{fat_answers:?}"
    );
    assert_eq!(fat_answers, answers(slim, 80, &linked));
    remove_image(slim);
}

#[test]
fn crawl_depth_limits_how_far_links_are_followed() {
    let _daemon = exclusive();
    let slim = "rslim-test/probes:shallow";
    let (code, text, report) = build(
        "rslim-examples/nginx:fat",
        slim,
        &["--http-probe-crawl", "--crawl-depth", "0"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(step_paths(&report.unwrap(), "crawl"), ["/"]);
    remove_image(slim);
}

#[test]
fn one_liners_exercise_the_app_while_profiling() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-examples/python-app:fat",
        "rslim-test/probes:oneliners",
    );
    let (code, text, report) = build(
        fat,
        slim,
        &[
            "--http-probe-cmd",
            "GET /db",
            "--http-probe-cmd",
            "/json",
            "--exec",
            "id -un",
            "--host-exec",
            "echo \"$RSLIM_HOST:$RSLIM_PORT_8000\"",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let report = report.unwrap();
    let steps = report["probe_steps"].as_array().unwrap();
    let exec = steps.iter().find(|s| s["origin"] == "--exec").unwrap();
    assert_eq!(exec["answer"]["exit"], 0);
    assert_eq!(
        exec["answer"]["output"], "app\n",
        "exec runs as the image's user"
    );
    let host = steps.iter().find(|s| s["origin"] == "--host-exec").unwrap();
    assert!(
        host["answer"]["output"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{host}"
    );
    // The lazily imported modules of /db and /json were seen, so they work.
    let paths = ["/db", "/json"];
    assert_eq!(answers(fat, 8000, &paths), answers(slim, 8000, &paths));
    remove_image(slim);
}

#[test]
fn a_missed_expectation_fails_the_build_unless_told_to_warn() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("teapot.json");
    std::fs::write(
        &file,
        r#"{"steps": [{"http": {"path": "/json", "expect": {"status": 200, "json": {"/ok": false}}}}]}"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let fat = "rslim-examples/python-app:fat";
    let (code, text, _) = build(fat, "rslim-test/probes:unmet", &["--probe", file]);
    assert_eq!(code, Some(7), "{text}");
    assert!(
        text.contains(&format!("probe step {file} step 1: GET /json (port 8000) failed: expected /ok to be false, got true")),
        "{text}"
    );

    let slim = "rslim-test/probes:warned";
    let (code, text, report) = build(fat, slim, &["--probe", file, "--probe-failure", "warn"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("rslim: warning: probe step"), "{text}");
    let report = report.unwrap();
    assert!(report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("expected /ok to be false")));
    assert_eq!(
        report["probe_steps"][0]["unmet"],
        "expected /ok to be false, got true"
    );
    remove_image(slim);
}

// ---- bad probe files: exit 2, file/line/field named, no container started

fn assert_bad_probe_file(text: &str, message: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();
    let (code, stderr, _) = build(
        "rslim-examples/python-app:fat",
        "rslim-test/probes:bad",
        &["--probe", file],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("probe file {file}")), "{stderr}");
    for part in message {
        assert!(stderr.contains(part), "no {part:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains("[start]"),
        "a container was started before the probe file was checked:\n{stderr}"
    );
}

#[test]
fn a_probe_file_with_a_syntax_error_is_refused() {
    let _daemon = exclusive();
    assert_bad_probe_file(
        "{\"steps\": [\n  {\"http\": {\"path\": \"/\"}}\n  {\"http\": {\"path\": \"/json\"}}\n]}",
        &["line 3, column 3: expected `,` or `]`"],
    );
}

#[test]
fn a_probe_file_with_an_unknown_field_is_refused() {
    let _daemon = exclusive();
    assert_bad_probe_file(
        "{\"steps\": [\n  {\"http\": {\"path\": \"/\",\n     \"expect\": {\"staus\": 200}}}\n]}",
        &[
            "line 3",
            "unknown field `staus`",
            "expected one of `status`",
        ],
    );
}

#[test]
fn a_probe_file_with_a_port_the_image_does_not_expose_is_refused() {
    let _daemon = exclusive();
    assert_bad_probe_file(
        "{\"steps\": [\n  {\"http\": {\"path\": \"/\"}},\n  {\"http\": {\"path\": \"/db\", \"port\": 80}}\n]}",
        &["step 2 (GET /db (port 80))", "line 3, field `port`", "port 80 is not exposed by the image (it exposes 8000)"],
    );
}
