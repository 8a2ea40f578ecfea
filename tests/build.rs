//! End-to-end tests of `rslim build`: the real binary, the real daemon, the
//! fixture images from `scripts/setup`. Each slim image must answer exactly
//! as its original did, carry the same config but for rslim's label, and the
//! daemon must hold no container or volume of ours afterwards.

mod common;

use common::*;
use serde_json::Value;

const SOURCE_LABEL: &str = "io.rslim.source-image";

/// Builds `image` into `tag`, checking exit 0 and that nothing is left; returns the report.
fn build(image: &str, tag: &str, extra: &[&str]) -> Value {
    let (code, stderr, report) = run_build(image, tag, extra);
    assert_eq!(code, Some(0), "rslim build {image} failed:\n{stderr}");
    report.expect("no report written")
}

/// The slim image's config must equal the original's, but for our label.
fn assert_same_config(fat: &str, slim: &str) {
    let fat_config = image_config(fat);
    let mut slim_config = image_config(slim);
    let labels = slim_config["Labels"]
        .as_object_mut()
        .expect("slim image has no labels");
    let source = labels
        .remove(SOURCE_LABEL)
        .expect("slim image lacks the source label");
    assert!(
        source.as_str().unwrap().starts_with(fat),
        "label {source} does not name {fat}"
    );
    if labels.is_empty() {
        slim_config.as_object_mut().unwrap().remove("Labels");
    }
    let mut fat_config = fat_config;
    if fat_config["Labels"]
        .as_object()
        .is_some_and(|l| l.is_empty())
        || fat_config["Labels"].is_null()
    {
        fat_config.as_object_mut().unwrap().remove("Labels");
    }
    assert_eq!(
        fat_config, slim_config,
        "configs of {fat} and {slim} differ"
    );
}

fn kept_reason<'a>(report: &'a Value, path: &str) -> Option<&'a str> {
    report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"] == path)
        .map(|k| k["reason"].as_str().unwrap())
}

#[test]
fn nginx_slim_image_serves_the_same_page_and_is_small() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-examples/nginx:fat", "rslim-test/nginx:slim");
    let report = build(fat, slim, &[]);
    let paths = ["/", "/no-such-page"];
    assert_eq!(answers(fat, 80, &paths), answers(slim, 80, &paths));
    assert_same_config(fat, slim);
    let size = image_size(slim);
    assert!(size <= 10_000_000, "slim nginx is {size} bytes, over 10 MB");
    assert!(image_size(fat) > 5 * size, "slimming removed too little");
    assert_eq!(report["slim_bytes"].as_u64(), Some(size));
    assert_eq!(report["probes"][0]["protocol"], "http");
    assert_eq!(report["probes"][0]["status"], 200);
    assert_eq!(kept_reason(&report, "/usr/sbin/nginx"), Some("entrypoint"));
    assert_eq!(
        kept_reason(&report, "/var/www/html/index.html"),
        Some("accessed")
    );
    assert!(kept_reason(&report, "/etc/passwd").is_some());
    // Reached through merged-/usr symlinks, so those are kept.
    assert_eq!(kept_reason(&report, "/lib64"), Some("symlink"));
    // Not touched while profiling: gone.
    assert_eq!(kept_reason(&report, "/usr/bin/perl"), None);
    assert_eq!(kept_reason(&report, "/usr/bin/apt"), None);
    remove_image(slim);
}

#[test]
fn python_app_slim_image_answers_like_the_original() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-examples/python-app:fat",
        "rslim-test/python-app:slim",
    );
    let report = build(fat, slim, &[]);
    assert_eq!(answers(fat, 8000, &["/"]), answers(slim, 8000, &["/"]));
    assert_same_config(fat, slim);
    // The VOLUME and the non-root user's data dir are kept with their owner.
    assert_eq!(kept_reason(&report, "/app/data"), Some("always"));
    assert!(kept_reason(&report, "/tmp").is_some());
    assert!(image_size(slim) * 3 < image_size(fat));
    remove_image(slim);
}

#[test]
fn shell_entrypoint_image_keeps_its_script_tools_and_healthcheck() {
    let _daemon = exclusive();
    let (fat, slim) = (
        "rslim-examples/shell-entry:fat",
        "rslim-test/shell-entry:slim",
    );
    let report = build(fat, slim, &[]);
    let paths = ["/", "/index.html"];
    assert_eq!(answers(fat, 8080, &paths), answers(slim, 8080, &paths));
    assert_same_config(fat, slim);
    // The entrypoint script, its interpreter and the coreutils it ran.
    assert_eq!(
        kept_reason(&report, "/usr/local/bin/entrypoint.sh"),
        Some("entrypoint")
    );
    assert!(kept_reason(&report, "/usr/bin/dash").is_some());
    assert!(kept_reason(&report, "/usr/bin/sed").is_some());
    // The HEALTHCHECK (curl) ran while profiling, so it works in the slim image.
    assert!(kept_reason(&report, "/usr/bin/curl").is_some());
    let health = docker_ok(&["run", "--rm", "--entrypoint", "curl", slim, "--version"]);
    assert!(health.starts_with("curl "), "{health}");
    remove_image(slim);
}

#[test]
fn batch_job_is_profiled_until_it_exits_and_prints_the_same() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/batch:latest", "rslim-test/batch:slim");
    let report = build(fat, slim, &[]);
    assert_eq!(report["sensor"]["app_exit"], "exited with code 0");
    let fat_out = docker_ok(&["run", "--rm", fat]);
    let slim_out = docker_ok(&["run", "--rm", slim]);
    assert!(!fat_out.is_empty());
    assert_eq!(fat_out, slim_out);
    remove_image(slim);
}

#[test]
fn a_port_that_does_not_speak_http_does_not_fail_the_build() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/tcp:latest", "rslim-test/tcp:slim");
    let report = build(fat, slim, &["--non-http-wait", "1"]);
    assert_eq!(report["probes"][0]["protocol"], "tcp");
    remove_image(slim);
}

#[test]
fn two_builds_of_the_same_image_give_the_same_digests() {
    let _daemon = exclusive();
    let fat = "rslim-examples/nginx:fat";
    let first = build(fat, "rslim-test/determinism:one", &[]);
    let second = build(fat, "rslim-test/determinism:two", &[]);
    assert!(first["layer_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(first["layer_digest"], second["layer_digest"]);
    assert_eq!(first["slim_id"], second["slim_id"]);
    remove_image("rslim-test/determinism:one");
    remove_image("rslim-test/determinism:two");
}

#[test]
fn include_shell_keeps_a_working_shell() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/batch:latest", "rslim-test/batch:shell");
    build(fat, slim, &["--include-shell"]);
    let listing = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        slim,
        "-c",
        "ls /etc/passwd && id -u",
    ]);
    assert_eq!(listing, "/etc/passwd\n0");
    remove_image(slim);
}

// ---- bad input: a one-line error, a distinct exit code, nothing left behind

fn assert_fails(args: &[&str], code: i32, message: &str) {
    let out = rslim_leaving_nothing(args);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "rslim {args:?}:\n{text}");
    assert!(
        text.contains(message),
        "rslim {args:?} did not say {message:?}:\n{text}"
    );
}

#[test]
fn a_missing_image_is_reported() {
    let _daemon = exclusive();
    assert_fails(
        &["build", "rslim-test/does-not-exist:nope"],
        4,
        "is not present locally",
    );
}

#[test]
fn an_image_with_nothing_to_run_is_reported() {
    let _daemon = exclusive();
    require_image("rslim-fixtures/noentry:latest");
    assert_fails(
        &["build", "rslim-fixtures/noentry:latest"],
        5,
        "neither ENTRYPOINT nor CMD",
    );
}

#[test]
fn an_app_that_fails_is_reported_with_its_code_and_logs() {
    let _daemon = exclusive();
    require_image("rslim-fixtures/fails:latest");
    let out = rslim_leaving_nothing(&["build", "rslim-fixtures/fails:latest"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(text.contains("exited with code 3"), "{text}");
    assert!(text.contains("last log lines"), "{text}");
}

#[test]
fn a_port_that_never_answers_is_reported() {
    let _daemon = exclusive();
    require_image("rslim-fixtures/noport:latest");
    assert_fails(
        &[
            "build",
            "rslim-fixtures/noport:latest",
            "--ready-timeout",
            "3",
        ],
        7,
        "port 9999 never answered",
    );
}

#[test]
fn a_daemon_that_is_down_is_reported() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args(["build", "rslim-examples/nginx:fat"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the Docker daemon"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigint_while_profiling_removes_the_container() {
    let _daemon = exclusive();
    require_image("rslim-fixtures/noport:latest");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args([
            "build",
            "rslim-fixtures/noport:latest",
            "--ready-timeout",
            "60",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the profiling container exists, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while leftovers_of(child.id()).containers.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no profiling container appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = child.id();
    nix_kill(pid, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted by SIGINT"),
        "{}",
        stderr(&out)
    );
    let left = leftovers_of(pid);
    assert!(
        left.is_empty(),
        "the interrupted build left {left:?} behind"
    );
}

fn nix_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigint_at_any_stage_leaves_nothing_behind() {
    let _daemon = exclusive();
    require_image("rslim-examples/nginx:fat");
    // Interrupt after growing delays so that different stages are hit:
    // create, start, probe, stop, export, write.
    for delay_ms in [150, 400, 700, 1000] {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_rslim"))
            .args([
                "build",
                "rslim-examples/nginx:fat",
                "--tag",
                "rslim-test/interrupted:slim",
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let pid = child.id();
        nix_kill(pid, "INT");
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        // A build that finished before the signal arrived is fine too.
        assert!(
            code == Some(130) || code == Some(0),
            "delay {delay_ms}: {code:?}\n{}",
            stderr(&out)
        );
        let left = leftovers_of(pid);
        assert!(
            left.is_empty(),
            "interrupt after {delay_ms} ms left {left:?} behind"
        );
    }
    remove_image("rslim-test/interrupted:slim");
}

#[test]
fn continue_after_seconds_keeps_profiling_that_long() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-examples/nginx:fat", "rslim-test/nginx:timed");
    let report = build(fat, slim, &["--continue-after", "2"]);
    let probe_ms = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "probe")
        .and_then(|s| s["ms"].as_u64())
        .unwrap();
    assert!(probe_ms >= 2000, "profiling ended after {probe_ms} ms");
    assert_eq!(answers(fat, 80, &["/"]), answers(slim, 80, &["/"]));
    remove_image(slim);
}

#[test]
fn the_original_filesystem_can_come_from_a_docker_save_archive() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-examples/nginx:fat", "rslim-test/nginx:from-archive");
    require_image(fat);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("nginx.tar");
    docker_ok(&["save", "-o", archive.to_str().unwrap(), fat]);
    let report = build(fat, slim, &["--archive", archive.to_str().unwrap()]);
    assert_eq!(kept_reason(&report, "/usr/sbin/nginx"), Some("entrypoint"));
    assert_eq!(answers(fat, 80, &["/"]), answers(slim, 80, &["/"]));
    assert_same_config(fat, slim);
    remove_image(slim);
}
