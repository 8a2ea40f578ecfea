//! The core end-to-end cases against Podman's Docker-compatible service
//! (rootful `podman system service` on /run/podman/podman.sock, started by
//! `scripts/setup` with the images these tests use): the examples slim and
//! answer like the originals, `--verify` passes, `xray` reads the image, a
//! failing app leaves nothing behind, and the slim image is the very one
//! Docker gives for the same input. Rootless Podman, which cannot host the
//! sensor, is refused with a message that says what would work.
//!
//! These tests fail, never skip, when Podman is missing: CI installs it with
//! `scripts/setup`.

mod common;

use std::process::Output;

use common::*;
use serde_json::Value;

const PODMAN: Engine = Engine::Podman;
const SENSOR_FAILED: i32 = 8;
const APP_FAILED: i32 = 6;
/// The rootless service `scripts/setup` runs as the user rslim-rootless.
const ROOTLESS_SOCKET: &str = "/run/rslim-rootless/podman/podman.sock";

/// Podman's service must answer, and as Podman: a missing Podman is a
/// broken test machine, not a reason to skip.
fn podman_ready() {
    let out = PODMAN.docker(&["version", "--format", "{{json .Server.Components}}"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Podman"),
        "Podman's service does not answer on {PODMAN_SOCKET}: run scripts/setup (it installs \
         podman and starts the service); docker version said: {text}{}",
        stderr(&out)
    );
}

fn build_on(engine: Engine, image: &str, tag: &str, extra: &[&str]) -> Value {
    let (code, text, report) = engine.run_build(image, tag, extra);
    assert_eq!(
        code,
        Some(0),
        "rslim build {image} on {engine:?} failed:\n{text}"
    );
    report.expect("no report written")
}

fn kept_reason<'a>(report: &'a Value, path: &str) -> Option<&'a str> {
    report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"] == path)
        .map(|k| k["reason"].as_str().unwrap())
}

/// The slim image's config must equal the original's but for rslim's label,
/// as Podman reports both.
fn assert_same_config_on_podman(fat: &str, slim: &str) {
    let mut fat_config = PODMAN.image_config(fat);
    let mut slim_config = PODMAN.image_config(slim);
    let labels = slim_config["Labels"].as_object_mut().expect("no labels");
    labels
        .remove("io.rslim.source-image")
        .expect("slim image lacks the source label");
    for config in [&mut fat_config, &mut slim_config] {
        if config["Labels"].as_object().is_none_or(|l| l.is_empty()) {
            config.as_object_mut().unwrap().remove("Labels");
        }
    }
    assert_eq!(
        fat_config, slim_config,
        "configs of {fat} and {slim} differ"
    );
}

#[test]
fn nginx_slims_on_podman_into_the_image_docker_gives() {
    let _daemon = exclusive();
    podman_ready();
    let fat = "rslim-examples/nginx:fat";
    let (on_podman, on_docker) = (
        "rslim-test/podman-nginx:slim",
        "rslim-test/podman-nginx:docker",
    );
    let report = build_on(PODMAN, fat, on_podman, &[]);
    let paths = ["/", "/no-such-page"];
    assert_eq!(
        PODMAN.answers(fat, 80, &paths),
        PODMAN.answers(on_podman, 80, &paths)
    );
    assert_same_config_on_podman(fat, on_podman);
    assert_eq!(kept_reason(&report, "/usr/sbin/nginx"), Some("entrypoint"));
    assert_eq!(
        kept_reason(&report, "/var/www/html/index.html"),
        Some("accessed")
    );
    assert_eq!(report["sensor"]["mark"], "filesystem");
    assert_eq!(
        report["slim_bytes"].as_u64(),
        Some(PODMAN.image_size(on_podman))
    );
    // Same image, same probes: the same layer and image ID as Docker's,
    // whatever each engine adds to a container (docs/design.md, "Podman").
    let docker_report = build_on(Engine::Docker, fat, on_docker, &[]);
    assert_eq!(report["layer_digest"], docker_report["layer_digest"]);
    assert_eq!(report["slim_id"], docker_report["slim_id"]);
    PODMAN.remove_image(on_podman);
    Engine::Docker.remove_image(on_docker);
}

#[test]
fn python_app_slims_on_podman_and_answers_like_the_original() {
    let _daemon = exclusive();
    podman_ready();
    let (fat, slim) = (
        "rslim-examples/python-app:fat",
        "rslim-test/podman-python-app:slim",
    );
    // run_build checks that the anonymous volume of VOLUME /app/data went too.
    let report = build_on(PODMAN, fat, slim, &[]);
    let paths = ["/", "/json", "/hash?s=abc", "/db"];
    assert_eq!(
        PODMAN.answers(fat, 8000, &paths),
        PODMAN.answers(slim, 8000, &paths)
    );
    assert_same_config_on_podman(fat, slim);
    assert_eq!(kept_reason(&report, "/app/data"), Some("always"));
    assert!(PODMAN.image_size(slim) * 3 < PODMAN.image_size(fat));
    PODMAN.remove_image(slim);
}

/// The walker container (the default) and the export read the same
/// filesystem on Podman too, VOLUME and non-root USER included: Podman
/// mounts its own files at run time and creates `/run/.containerenv`, which
/// an export never shows (docs/design.md, "Reading the original filesystem").
#[test]
fn walk_and_export_give_the_same_slim_images_on_podman() {
    let _daemon = exclusive();
    podman_ready();
    for image in ["rslim-examples/nginx:fat", "rslim-examples/python-app:fat"] {
        let walked = build_on(
            PODMAN,
            image,
            "rslim-test/podman-walk:slim",
            &["--fs-source", "walk"],
        );
        let exported = build_on(
            PODMAN,
            image,
            "rslim-test/podman-export:slim",
            &["--fs-source", "export"],
        );
        // Podman's archive API changes owners, so an image with a VOLUME
        // is read with the export there (docs/design.md).
        let notes = walked["notes"].to_string();
        let has_volume = PODMAN.image_config(image)["Volumes"].is_object();
        assert_eq!(
            notes.contains("walker container could not read"),
            has_volume,
            "{image}: {notes}"
        );
        assert!(walked["layer_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")));
        assert_eq!(
            walked["kept"], exported["kept"],
            "{image}: kept sets differ"
        );
        assert_eq!(
            walked["layer_digest"], exported["layer_digest"],
            "{image}: layers differ"
        );
    }
    PODMAN.remove_image("rslim-test/podman-walk:slim");
    PODMAN.remove_image("rslim-test/podman-export:slim");
}

#[test]
fn verify_passes_on_podman() {
    let _daemon = exclusive();
    podman_ready();
    let (fat, slim) = ("rslim-examples/nginx:fat", "rslim-test/podman-verify:nginx");
    let probes = format!("{}/probes/nginx.json", env!("CARGO_MANIFEST_DIR"));
    let report = build_on(PODMAN, fat, slim, &["--verify", "--probe", &probes]);
    let verification = &report["verification"];
    assert_eq!(verification["passed"], true, "{verification}");
    let steps = verification["steps"].as_array().unwrap();
    assert!(steps.len() >= 4, "{verification}");
    assert!(steps.iter().all(|s| s["same"] == true), "{verification}");
    let paths = ["/pages/about.html", "/css/site.css", "/img/logo.png"];
    assert_eq!(
        PODMAN.answers(fat, 80, &paths),
        PODMAN.answers(slim, 80, &paths)
    );
    PODMAN.remove_image(slim);
}

#[test]
fn xray_reads_an_image_from_podman_as_from_docker() {
    let _daemon = exclusive();
    podman_ready();
    let xray = |engine: Engine| -> Value {
        let out = engine.rslim(&["xray", "rslim-examples/nginx:fat", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{engine:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("xray --json is not JSON")
    };
    let on_podman = xray(PODMAN);
    assert!(on_podman["layers"].as_array().is_some_and(|l| l.len() >= 2));
    assert_eq!(on_podman, xray(Engine::Docker));
}

#[test]
fn a_failing_app_is_reported_and_leaves_nothing_on_podman() {
    let _daemon = exclusive();
    podman_ready();
    PODMAN.require_image("rslim-fixtures/fails:latest");
    let out = PODMAN.rslim_leaving_nothing(&["build", "rslim-fixtures/fails:latest"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(APP_FAILED), "{text}");
    assert!(text.contains("exited with code 3"), "{text}");
    assert!(text.contains("fails: second line"), "{text}");
}

/// Podman's compatible API drops the label rslim puts on its volumes, so
/// the leftover check counts the volumes of rslim's containers: churn of
/// unrelated containers with volumes beside a build is never counted.
#[test]
fn churn_beside_a_build_does_not_disturb_the_leftover_check_on_podman() {
    let _daemon = exclusive();
    podman_ready();
    let (fat, slim) = (
        "rslim-examples/python-app:fat",
        "rslim-test/podman-churn:slim",
    );
    let churn = common::crash::Churn::start(PODMAN, "debian:bookworm-slim");
    let samples = std::thread::spawn(|| {
        let mut seen = Vec::new();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
        while std::time::Instant::now() < until {
            seen.push(PODMAN.daemon_state());
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
        seen
    });
    let (code, text, _) = PODMAN.run_build(fat, slim, &[]);
    let samples = samples.join().unwrap();
    let churned = churn.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(
        churned.rounds >= 2,
        "the churn ran {} rounds",
        churned.rounds
    );
    for state in &samples {
        assert!(
            !state.counts_any_of(&churned),
            "counted the churn: {state:?}"
        );
    }
    PODMAN.remove_image(slim);
}

/// `kill -9` while profiling on Podman: the sensor stops the app once the
/// heartbeat is missed, and `rslim prune` removes the container with its
/// (unlabelled) volume.
#[test]
fn kill_9_while_profiling_on_podman_then_prune_leaves_nothing() {
    let _daemon = exclusive();
    podman_ready();
    let tmp = tempfile::tempdir().unwrap();
    let killed = PODMAN.rslim_killed_at(
        tmp.path(),
        &[
            "build",
            "rslim-examples/python-app:fat",
            "--continue-after",
            "60",
            "--heartbeat-timeout",
            "3",
        ],
        "probe",
        common::crash::When::After(std::time::Duration::from_millis(500)),
    );
    let left = PODMAN.leftovers_of(killed.pid);
    assert!(
        !left.containers.is_empty() && !left.volumes.is_empty(),
        "{left:?}"
    );
    let running = || {
        PODMAN.leftovers_of(killed.pid).containers.iter().any(|id| {
            PODMAN.docker_ok(&["inspect", "--format", "{{.State.Running}}", id]) == "true"
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sensor did not stop the app after the heartbeat stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let prune = PODMAN.rslim_in_leaving_nothing(tmp.path(), &["prune"]);
    assert_eq!(prune.status.code(), Some(0), "{}", stderr(&prune));
    let left = PODMAN.leftovers_of(killed.pid);
    assert!(left.is_empty(), "prune left {left:?}");
    assert!(common::crash::entries(tmp.path()).is_empty());
}

/// An image with a SHELL and a HEALTHCHECK: Podman's compat inspect leaves
/// both out, so rslim reads them elsewhere; the slim image must carry them,
/// and be Docker's image to the byte.
#[test]
fn shell_and_healthcheck_survive_podman() {
    let _daemon = exclusive();
    podman_ready();
    let fat = "rslim-test/podman-shellcfg:fat";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM debian:bookworm-slim\n\
         SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n\
         HEALTHCHECK --interval=7s CMD test -x /bin/bash\n\
         CMD [\"sh\", \"-c\", \"exec sleep 30\"]\n",
    )
    .unwrap();
    Engine::Docker.docker_ok(&["build", "-q", "-t", fat, dir.path().to_str().unwrap()]);
    copy_to_podman(fat);
    let args = ["--continue-after", "1"];
    let on_podman = build_on(PODMAN, fat, "rslim-test/podman-shellcfg:slim", &args);
    let on_docker = build_on(
        Engine::Docker,
        fat,
        "rslim-test/podman-shellcfg:docker",
        &args,
    );
    assert_eq!(on_podman["slim_id"], on_docker["slim_id"]);
    let config = saved_config(PODMAN, "rslim-test/podman-shellcfg:slim");
    assert_eq!(config["config"]["Shell"][0], "/bin/bash", "{config}");
    assert_eq!(
        config["config"]["Healthcheck"]["Interval"], 7_000_000_000u64,
        "{config}"
    );
    for image in [fat, "rslim-test/podman-shellcfg:slim"] {
        PODMAN.remove_image(image);
    }
    for image in [fat, "rslim-test/podman-shellcfg:docker"] {
        Engine::Docker.remove_image(image);
    }
}

/// `docker save IMAGE | podman load`, as scripts/setup copies the fixtures.
fn copy_to_podman(image: &str) {
    let mut save = Engine::Docker
        .command("docker")
        .args(["save", image])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run docker save");
    let load = PODMAN
        .command("docker")
        .args(["load", "-q"])
        .stdin(save.stdout.take().unwrap())
        .output()
        .expect("cannot run docker load");
    assert!(save.wait().unwrap().success(), "docker save {image} failed");
    assert!(load.status.success(), "load into Podman: {}", stderr(&load));
}

/// The config document inside `docker save` of `image` (what the engine stores).
fn saved_config(engine: Engine, image: &str) -> Value {
    let out = engine.docker(&["save", image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut manifest = None;
    let mut files = std::collections::HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path == "manifest.json" {
            manifest = Some(serde_json::from_slice::<Value>(&bytes).unwrap());
        } else if path.ends_with(".json") {
            files.insert(path, bytes);
        }
    }
    let name = manifest.expect("no manifest.json")[0]["Config"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_slice(&files[&name]).unwrap()
}

/// rslim run with only `env` naming the engine (no DOCKER_HOST).
fn rslim_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rslim"));
    command
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env_remove("RSLIM_ENGINE")
        .envs(env.iter().copied())
        .args(args);
    command.output().expect("cannot run rslim")
}

#[test]
fn engine_podman_and_container_host_find_the_service() {
    let _daemon = exclusive();
    podman_ready();
    let args = [
        "--engine",
        "podman",
        "xray",
        "debian:bookworm-slim",
        "--top",
        "1",
    ];
    let found = rslim_with(&[], &args);
    assert_eq!(found.status.code(), Some(0), "{}", stderr(&found));
    let socket = format!("unix://{PODMAN_SOCKET}");
    let by_variable = rslim_with(
        &[("CONTAINER_HOST", &socket)],
        &["xray", "debian:bookworm-slim", "--top", "1"],
    );
    assert_eq!(
        by_variable.status.code(),
        Some(0),
        "{}",
        stderr(&by_variable)
    );
    // --engine names what must answer.
    let wrong = rslim_with(
        &[("DOCKER_HOST", &socket)],
        &["--engine", "docker", "xray", "debian:bookworm-slim"],
    );
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("served by Podman"),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn rootless_podman_is_refused_with_what_would_work() {
    let _daemon = exclusive();
    let socket = format!("unix://{ROOTLESS_SOCKET}");
    let rootless = |args: &[&str]| -> Output {
        std::process::Command::new("docker")
            .env("DOCKER_HOST", &socket)
            .args(args)
            .output()
            .expect("cannot run docker")
    };
    let state = || {
        let out = rootless(&["ps", "-aq", "--filter", &format!("label={OWNER_LABEL}")]);
        assert!(
            out.status.success(),
            "the rootless Podman service does not answer on {ROOTLESS_SOCKET}: run scripts/setup; {}",
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = state();
    let out = rslim_with(
        &[("CONTAINER_HOST", &socket)],
        &["build", "debian:bookworm-slim"],
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(SENSOR_FAILED), "{text}");
    for needed in [
        "rootless Podman",
        "CAP_SYS_ADMIN",
        "rootful Podman",
        "--engine docker",
    ] {
        assert!(text.contains(needed), "{needed:?} missing from:\n{text}");
    }
    assert_eq!(before, state(), "the refused build left containers behind");
    // Reading an image needs no sensor: xray works rootless.
    let xray = rslim_with(
        &[("CONTAINER_HOST", &socket)],
        &["xray", "debian:bookworm-slim", "--top", "1"],
    );
    assert_eq!(xray.status.code(), Some(0), "{}", stderr(&xray));
}
