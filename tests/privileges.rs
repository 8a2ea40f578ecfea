//! The profiled app, exec steps and the healthcheck hold exactly the
//! privileges a plain `docker run` gives: the same capability sets and the
//! same answers from `mount`, `unshare`, `setns` and a cgroup mount, as root
//! and as a non-root user with setuid-root helpers. The sensor's own
//! CAP_SYS_ADMIN must not reach them (docs/sensor.md, "Threat model").

mod common;

use common::*;

const PORT: u16 = 8082;
const CHECK: &str = "/usr/local/bin/privcheck.sh";

/// What privcheck.sh reports under a plain `docker run`: for the app (GET /),
/// for `docker exec`, and the healthcheck's exit code.
struct Plain {
    app: Vec<u8>,
    exec: String,
    healthcheck: i32,
}

fn plain_run(image: &str) -> Plain {
    let app = answers(image, PORT, &["/"]).remove(0).body;
    let id = docker_ok(&["run", "-d", image]);
    let exec = docker(&["exec", &id, CHECK]);
    let healthcheck = docker(&["exec", &id, CHECK, "--checksum-exit"]);
    docker_ok(&["rm", "-fv", &id]);
    assert!(exec.status.success(), "{}", stderr(&exec));
    Plain {
        app,
        exec: String::from_utf8_lossy(&exec.stdout).into_owned(),
        healthcheck: healthcheck.status.code().expect("healthcheck was killed"),
    }
}

fn assert_profiled_like_docker_run(image: &str, slim: &str) {
    let _daemon = exclusive();
    require_image(image);
    let plain = plain_run(image);
    assert!(
        String::from_utf8_lossy(&plain.app).contains("CapBnd:"),
        "privcheck printed no capabilities"
    );
    let dir = tempfile::tempdir().unwrap();
    let app_answer = dir.path().join("app.txt");
    let fetch = format!("curl -fsS \"$RSLIM_URL/\" -o {}", app_answer.display());
    let (code, stderr, report) = run_build(image, slim, &["--host-exec", &fetch, "--exec", CHECK]);
    assert_eq!(code, Some(0), "rslim build {image} failed:\n{stderr}");
    let report = report.expect("no report");

    let profiled_app = std::fs::read(&app_answer).expect("the host-exec step fetched nothing");
    assert_eq!(
        String::from_utf8_lossy(&profiled_app),
        String::from_utf8_lossy(&plain.app),
        "the profiled app's privileges differ from docker run's"
    );
    let exec_step = report["probe_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["origin"] == "--exec")
        .expect("no exec step in the report");
    assert_eq!(exec_step["answer"]["exit"], 0, "{exec_step}");
    assert_eq!(
        exec_step["answer"]["output"].as_str().unwrap(),
        plain.exec,
        "an exec step's privileges differ from docker exec's"
    );
    let healthcheck_note = format!(
        "the image's HEALTHCHECK ran once while profiling and exited {}",
        plain.healthcheck
    );
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == healthcheck_note.as_str()),
        "the healthcheck's privileges differ from docker exec's (want {healthcheck_note:?}): {}",
        report["notes"]
    );
    remove_image(slim);
}

#[test]
fn a_root_app_gets_docker_runs_privileges_and_no_more() {
    assert_profiled_like_docker_run(
        "rslim-fixtures/privcheck-root:latest",
        "rslim-test/privcheck-root:slim",
    );
}

#[test]
fn a_non_root_app_and_its_setuid_helpers_get_docker_runs_privileges() {
    assert_profiled_like_docker_run(
        "rslim-fixtures/privcheck-user:latest",
        "rslim-test/privcheck-user:slim",
    );
}
