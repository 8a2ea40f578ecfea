//! rslim as a pipeline step, end to end against the real engine: the one
//! `--json` document of every run (success, a failed verification, a failed
//! push, an app that fails, a bad flag, no engine) checked against
//! docs/report.schema.json; examples/ci/slim-and-push.sh pushing to a real
//! registry on 127.0.0.1; the fleet table recipe of docs/fleet.md over real
//! documents; progress on a pipe, on a terminal and with `--quiet`.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

mod common;

use common::registry::{free_port, require, Registry, RegistrySetup};
use common::schema::assert_valid_report;
use common::{exclusive, leftovers_of, remove_image, require_image, stderr};

const RSLIM: &str = env!("CARGO_BIN_EXE_rslim");
const NGINX: &str = "rslim-examples/nginx:fat";
const BATCH: &str = "rslim-fixtures/batch:latest";
const FAILS: &str = "rslim-fixtures/fails:latest";
const STATONLY: &str = "rslim-fixtures/statonly:latest";

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// The one document a `--json` run printed on stdout.
fn document(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

/// `rslim build IMAGE ARGS... --json`, leaving no container or volume.
fn build_json(image: &str, args: &[&str]) -> Output {
    require_image(image);
    let mut all = vec!["build", image, "--json"];
    all.extend_from_slice(args);
    common::rslim_leaving_nothing(&all)
}

// ---------------------------------------------------------------- shared runs

/// examples/ci/slim-and-push.sh of the nginx example to a fresh registry:
/// the report it kept, and what skopeo says the registry holds.
struct Pushed {
    report: Value,
    stderr: String,
    registry_digest: String,
    target: String,
}

fn pushed() -> &'static Pushed {
    static PUSHED: OnceLock<Pushed> = OnceLock::new();
    PUSHED.get_or_init(|| {
        let _daemon = exclusive();
        require("jq");
        require("skopeo");
        require_image(NGINX);
        let registry = Registry::start(RegistrySetup::default());
        let host = registry.host();
        let target = format!("{host}/ci/nginx:slim");
        let dir = tempfile::tempdir().unwrap();
        let report_path = dir.path().join("rslim-report.json");
        // The script runs rslim through a wrapper that notes each pid, so
        // only those runs' leftovers count (other runs share the engine).
        let pids = dir.path().join("pids");
        let wrapper = dir.path().join("rslim");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho $$ >> '{}'\nexec '{RSLIM}' \"$@\"\n",
                pids.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let out = Command::new("bash")
            .arg(repo("examples/ci/slim-and-push.sh"))
            .args([NGINX, &target])
            .arg(&report_path)
            .env("RSLIM", &wrapper)
            .env("RSLIM_INSECURE_REGISTRY", &host)
            .output()
            .unwrap();
        let pids = std::fs::read_to_string(&pids).unwrap_or_default();
        assert!(!pids.is_empty(), "the script never ran rslim");
        for pid in pids.lines() {
            let left = leftovers_of(pid.parse().unwrap());
            assert!(left.is_empty(), "the script left {left:?} behind");
        }
        assert!(
            out.status.success(),
            "slim-and-push.sh failed ({}):\n{}",
            out.status,
            stderr(&out)
        );
        let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
        let inspected = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{target}"))
            .output()
            .unwrap();
        assert!(inspected.status.success(), "{}", stderr(&inspected));
        let inspected: Value = serde_json::from_slice(&inspected.stdout).unwrap();
        remove_image(&target);
        Pushed {
            report,
            stderr: stderr(&out),
            registry_digest: inspected["Digest"].as_str().unwrap().to_string(),
            target,
        }
    })
}

/// `rslim build rslim-fixtures/fails --json`: the app exits 3 while profiled.
fn app_failure() -> &'static (Option<i32>, Value, String) {
    static FAILED: OnceLock<(Option<i32>, Value, String)> = OnceLock::new();
    FAILED.get_or_init(|| {
        let _daemon = exclusive();
        let out = build_json(FAILS, &[]);
        (out.status.code(), document(&out), stderr(&out))
    })
}

// ---------------------------------------------------------------- the CI script

#[test]
fn the_ci_script_slims_verifies_and_pushes_to_a_local_registry() {
    let pushed = pushed();
    let report = &pushed.report;
    assert_valid_report(report);
    assert!(report.get("error").is_none(), "{report:#}");
    assert_eq!(report["verification"]["passed"], true);
    let registry = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|output| output["kind"] == "registry")
        .unwrap_or_else(|| panic!("no registry output: {}", report["outputs"]));
    assert_eq!(registry["location"], pushed.target.as_str());
    assert_eq!(registry["digest"], pushed.registry_digest.as_str());
    // The script's own line, after rslim's summary, on stderr.
    let line = format!(
        "slim-and-push: {NGINX}: {} -> {} bytes, verified",
        report["original_bytes"], report["slim_bytes"]
    );
    assert!(pushed.stderr.contains(&line), "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains(&format!(
            "pushed {}@{}",
            pushed.target, pushed.registry_digest
        )),
        "{}",
        pushed.stderr
    );
}

// ---------------------------------------------------------------- documents of failures

#[test]
fn a_failed_verification_is_the_report_with_an_error() {
    let _daemon = exclusive();
    let slim = "rslim-test/pipelines:statonly";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let out = build_json(
        STATONLY,
        &[
            "--verify",
            "--trace-lookups=false",
            "--tag",
            slim,
            "--report",
            file.to_str().unwrap(),
        ],
    );
    remove_image(slim);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let document = document(&out);
    assert_valid_report(&document);
    assert_eq!(document["verification"]["passed"], false);
    assert_eq!(document["error"]["exit_code"], 9);
    assert_eq!(document["error"]["kind"], "verify-failed");
    assert_eq!(document["error"]["stage"], "verify");
    let message = document["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("verification failed"), "{message}");
    assert!(stderr(&out).contains(&format!("rslim: error: {message}")));
    // --report FILE holds the same document.
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written, document);
}

#[test]
fn an_app_that_fails_gives_an_error_document() {
    let (code, document, stderr) = app_failure();
    assert_eq!(*code, Some(6), "{stderr}");
    assert_valid_report(document);
    assert_eq!(document["source_image"], FAILS);
    assert_eq!(document["error"]["exit_code"], 6);
    assert_eq!(document["error"]["kind"], "app-failed");
    assert_eq!(document["error"]["stage"], "stop");
    let message = document["error"]["message"].as_str().unwrap();
    assert!(message.contains("exited with code 3"), "{message}");
    assert!(
        message.contains("fails: second line"),
        "the logs: {message}"
    );
    assert!(
        stderr.contains("rslim: error: the app exited with code 3"),
        "{stderr}"
    );
    assert!(stderr.contains("rslim: [stop]"), "{stderr}");
}

#[test]
fn a_failed_push_still_reports_the_image_it_made() {
    let _daemon = exclusive();
    let slim = "rslim-test/pipelines:batch-push";
    // Nothing listens there: the connection is refused.
    let host = format!("127.0.0.1:{}", free_port());
    let out = build_json(
        BATCH,
        &[
            "--tag",
            slim,
            "--push",
            &format!("{host}/nobody/batch:slim"),
            "--insecure-registry",
            &host,
        ],
    );
    remove_image(slim);
    assert_eq!(out.status.code(), Some(13), "{}", stderr(&out));
    let document = document(&out);
    assert_valid_report(&document);
    assert_eq!(document["error"]["kind"], "push-failed");
    assert_eq!(document["error"]["stage"], "push");
    assert!(document["slim_bytes"].as_u64().unwrap() > 0);
    assert!(document["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|output| output["kind"] != "registry"));
}

#[test]
fn failures_before_the_build_give_error_documents_too() {
    // A bad flag value, found before the engine is asked.
    let out = common::rslim(&["build", BATCH, "--json", "--no-runtime-rule", "cobol"]);
    assert_eq!(out.status.code(), Some(2));
    let usage = document(&out);
    assert_valid_report(&usage);
    assert_eq!(usage["source_image"], BATCH);
    assert_eq!(usage["error"]["kind"], "usage");
    assert!(usage.get("error").unwrap().get("stage").is_none());

    // No engine.
    let out = Command::new(RSLIM)
        .args(["build", BATCH, "--json"])
        .env("DOCKER_HOST", "unix:///nonexistent/rslim-test.sock")
        .env_remove("RSLIM_ENGINE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let unreachable = document(&out);
    assert_valid_report(&unreachable);
    assert_eq!(unreachable["error"]["kind"], "engine-unreachable");

    // xray and lint keep the same shape.
    let out = common::rslim(&["xray", "docker-archive:/nonexistent.tar", "--json"]);
    assert_ne!(out.status.code(), Some(0));
    let xray = document(&out);
    assert_eq!(xray["schema_version"], 1);
    assert_eq!(xray["source"], "docker-archive:/nonexistent.tar");
    assert_eq!(
        xray["error"]["exit_code"].as_i64(),
        out.status.code().map(i64::from)
    );
}

// ---------------------------------------------------------------- progress

#[test]
fn plain_lines_on_a_pipe_and_nothing_but_the_document_with_quiet() {
    let _daemon = exclusive();
    require_image(BATCH);
    let slim = "rslim-test/pipelines:batch";
    let plain = common::rslim_leaving_nothing(&["build", BATCH, "--tag", slim]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let text = stderr(&plain);
    for stage in [
        "inspect", "create", "start", "probe", "stop", "export", "resolve", "write",
    ] {
        assert!(text.contains(&format!("rslim: [{stage}] ")), "{text}");
    }
    assert!(
        text.contains(&format!("rslim: {BATCH} ")),
        "the summary: {text}"
    );
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text:?}");
    assert!(plain.stdout.is_empty(), "without --json stdout stays empty");

    let quiet =
        common::rslim_leaving_nothing(&["--quiet", "build", BATCH, "--tag", slim, "--json"]);
    remove_image(slim);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "", "--quiet prints nothing but errors");
    let document = document(&quiet);
    assert_valid_report(&document);
    assert_eq!(document["slim_tags"], serde_json::json!([slim]));
    assert!(document.get("verification").is_none());
}

/// Under a pseudo-terminal (util-linux `script`), each stage gets a live
/// line that ends with a ✓ and its time.
#[test]
fn live_stage_lines_on_a_terminal() {
    let _daemon = exclusive();
    require("script");
    require_image(BATCH);
    let slim = "rslim-test/pipelines:batch-tty";
    // rslim runs under `script`: the pid file says which process it was, so
    // only its own leftovers count (other runs share the engine).
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let command = format!(
        "sh -c 'echo $$ > {}; exec {RSLIM} build {BATCH} --tag {slim}'",
        pid_file.display()
    );
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .output()
        .unwrap();
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the command did not start")
        .trim()
        .parse()
        .unwrap();
    let left = leftovers_of(pid);
    assert!(left.is_empty(), "{left:?} was left");
    remove_image(slim);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    for stage in [
        "inspect", "create", "start", "probe", "stop", "resolve", "write",
    ] {
        assert!(
            screen.contains(&format!("✓ [{stage}]")),
            "{stage}: {screen:?}"
        );
    }
    assert!(
        !screen.contains("rslim: [inspect]"),
        "no plain lines: {screen:?}"
    );
    // The time ends each line: `… 0.3s`. indicatif pads a line to the
    // terminal's width and lets the terminal wrap, so no newline follows.
    let write_line = screen
        .split("✓ [write]")
        .nth(1)
        .and_then(|rest| rest.split("rslim:").next())
        .unwrap_or_default()
        .trim_end();
    let seconds = write_line
        .strip_suffix('s')
        .and_then(|rest| rest.rsplit(' ').next())
        .and_then(|number| number.parse::<f64>().ok());
    assert!(seconds.is_some(), "{write_line:?}");
    assert!(
        screen.contains(&format!("rslim: {BATCH} ")),
        "the summary: {screen:?}"
    );
}

// ---------------------------------------------------------------- the fleet table

/// docs/fleet.md's jq recipe over two real documents: a pushed, verified
/// build and a failed one.
#[test]
fn the_fleet_table_sums_real_documents() {
    require("jq");
    let pushed = &pushed().report;
    let (_, failed, _) = app_failure();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, document) in [("nginx.json", pushed), ("fails.json", failed)] {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
        files.push(path);
    }
    let out = Command::new("jq")
        .args(["-r", "-s", "-f", &repo("examples/ci/fleet-table.jq")])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    let mb = |bytes: &Value| format!("{} MB", (bytes.as_f64().unwrap() / 1e5).round() / 10.0);
    let (before, after) = (mb(&pushed["original_bytes"]), mb(&pushed["slim_bytes"]));
    let total = "total: 1 slimmed";
    assert_eq!(
        rows,
        vec![
            vec!["image", "before", "after", "verify", "result"],
            vec![NGINX, &before, &after, "passed", "ok"],
            vec![FAILS, "-", "-", "-", "app-failed (exit 6)"],
            vec![total, &before, &after, "", ""],
        ],
        "{table}"
    );
}
