//! Nothing is left behind after `kill -9` (docs/design.md, "Cleanup"):
//! rslim is killed with SIGKILL at four stages, each time with its own
//! TMPDIR; the next `rslim build` (or `rslim prune`) removes what it left,
//! so that no container, volume, temporary tag or temp file of the killed
//! run remains. The profiling container of a run killed while profiling
//! stops by itself once the heartbeat is missed. What belongs to a live
//! rslim, or to one on another host or boot, is never removed; and churn of
//! unrelated containers with volumes does not disturb the leftover check.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::crash::{entries, Churn, When};
use common::*;

const DOCKER: Engine = Engine::Docker;
const NGINX: &str = "rslim-examples/nginx:fat";
const BATCH: &str = "rslim-fixtures/batch:latest";
const PYTHON: &str = "rslim-examples/python-app:fat";

/// What the killed run `pid` left, for the failure messages and the record.
fn describe(pid: u32, tmp: &Path) -> String {
    let left = DOCKER.leftovers_of(pid);
    let temp: Vec<String> = entries(tmp)
        .iter()
        .map(|path| format!("{} ({} bytes)", path.display(), bytes_under(path)))
        .collect();
    format!(
        "{} containers, {} volumes, {} temporary tags, temp: {temp:?}",
        left.containers.len(),
        left.volumes.len(),
        left.tags.len()
    )
}

fn bytes_under(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
            .unwrap()
            .map(|entry| bytes_under(&entry.unwrap().path()))
            .sum(),
        Ok(meta) => meta.len(),
        Err(_) => 0,
    }
}

/// After the cleanup: nothing of `pid` on the engine, nothing in its TMPDIR.
fn assert_all_gone(pid: u32, tmp: &Path, stage: &str) {
    let left = DOCKER.leftovers_of(pid);
    assert!(
        left.is_empty(),
        "kill -9 at {stage}: {left:?} is still there"
    );
    let files = entries(tmp);
    assert!(
        files.is_empty(),
        "kill -9 at {stage}: temp files left: {files:?}"
    );
}

/// The name of the run's profiling container, and whether it runs.
fn profiling_container(pid: u32) -> Option<(String, bool)> {
    DOCKER
        .leftovers_of(pid)
        .containers
        .into_iter()
        .find_map(|id| {
            // The run removes its containers as it goes: one listed may be gone.
            let out = DOCKER.docker(&["inspect", "--format", "{{.Name}} {{.State.Running}}", &id]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let (name, running) = state.split_once(' ')?;
            name.contains("rslim-profile-")
                .then(|| (name.trim_start_matches('/').to_string(), running == "true"))
        })
}

/// A tiny image the engine does not have, as a docker-save archive: the
/// batch fixture with a label of its own (a new config, so a new image ID).
fn fresh_archive(dir: &Path) -> (std::path::PathBuf, String) {
    let nonce = format!("{}x{}", std::process::id(), dead_pid());
    let tag = format!("rslim-test/leftovers-fresh:{nonce}");
    let dockerfile = format!("FROM {BATCH}\nLABEL io.rslim.test.nonce={nonce}\n");
    let mut build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut build.stdin.take().unwrap(), dockerfile.as_bytes()).unwrap();
    let built = build.wait_with_output().unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    let id = docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    let archive = dir.join("fresh.tar");
    docker_ok(&["save", "-o", archive.to_str().unwrap(), &tag]);
    docker_ok(&["image", "rm", &tag]);
    (archive, id)
}

#[test]
fn kill_9_at_four_stages_then_the_next_run_leaves_nothing() {
    let _daemon = exclusive();
    for image in [NGINX, BATCH, PYTHON] {
        DOCKER.require_image(image);
    }
    let work = tempfile::tempdir().unwrap();
    let mut record = Vec::new();

    // 1. create/start, from an archive the engine lacks: the image is loaded
    // under a temporary tag first. The next build removes both.
    let tmp = tempfile::tempdir().unwrap();
    let (archive, fresh_id) = fresh_archive(work.path());
    let input = format!("docker-archive:{}", archive.display());
    let killed = DOCKER.rslim_killed_at(
        tmp.path(),
        &["build", &input, "--tag", "rslim-test/leftovers:archive"],
        "start",
        When::Now,
    );
    let left = DOCKER.leftovers_of(killed.pid);
    assert!(
        !left.containers.is_empty() && !left.tags.is_empty(),
        "nothing to clean up after kill -9 at start: {left:?}\n{}",
        killed.stderr
    );
    record.push(format!("start: {}", describe(killed.pid, tmp.path())));
    let next = DOCKER.rslim_in_leaving_nothing(
        tmp.path(),
        &["build", BATCH, "--tag", "rslim-test/leftovers:batch"],
    );
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    assert!(
        stderr(&next).contains("left by rslim runs that are gone"),
        "{}",
        stderr(&next)
    );
    assert_all_gone(killed.pid, tmp.path(), "start");
    assert!(
        !docker(&["image", "inspect", &fresh_id]).status.success(),
        "the image loaded for the killed run is still there"
    );

    // 2. probe: the app runs with its port published. With rslim gone, the
    // sensor misses the heartbeat, stops the app and exits by itself, and
    // leaves sealed findings that say so; `rslim prune` removes the rest.
    let tmp = tempfile::tempdir().unwrap();
    let killed = DOCKER.rslim_killed_at(
        tmp.path(),
        &[
            "build",
            PYTHON,
            "--continue-after",
            "60",
            "--heartbeat-timeout",
            "3",
        ],
        "probe",
        When::After(Duration::from_millis(500)),
    );
    let (name, running) = profiling_container(killed.pid).expect("no profiling container");
    assert!(
        running,
        "the profiling container should still run right after kill -9"
    );
    // The image's VOLUME: an anonymous volume that carries rslim's label.
    assert!(!DOCKER.leftovers_of(killed.pid).volumes.is_empty());
    record.push(format!("probe: {}", describe(killed.pid, tmp.path())));
    let killed_at = Instant::now();
    while profiling_container(killed.pid).is_some_and(|(_, running)| running) {
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "the sensor did not stop the app after the heartbeat stopped"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    record.push(format!(
        "probe: the profiling container stopped {:.1} s after kill -9 (heartbeat timeout 3 s)",
        killed_at.elapsed().as_secs_f64()
    ));
    let copied = DOCKER.docker(&["cp", &format!("{name}:/.rslim/findings.json"), "-"]);
    let findings = tar_member(&copied.stdout);
    let (mac, json) = findings.split_at(65);
    assert!(
        mac[..64].iter().all(u8::is_ascii_hexdigit) && mac[64] == b'\n',
        "the findings are not sealed"
    );
    let json: serde_json::Value = serde_json::from_slice(json).unwrap();
    assert_eq!(json["abandoned"], true, "{json}");
    let prune = DOCKER.rslim_in_leaving_nothing(tmp.path(), &["prune"]);
    assert_eq!(prune.status.code(), Some(0), "{}", stderr(&prune));
    assert!(
        String::from_utf8_lossy(&prune.stdout).contains(&format!("removed container {name}")),
        "{}",
        String::from_utf8_lossy(&prune.stdout)
    );
    assert_all_gone(killed.pid, tmp.path(), "probe");

    // 3. export/resolve.
    let tmp = tempfile::tempdir().unwrap();
    let killed = DOCKER.rslim_killed_at(
        tmp.path(),
        &["build", PYTHON, "--tag", "rslim-test/leftovers:export"],
        "export",
        When::Now,
    );
    record.push(format!("export: {}", describe(killed.pid, tmp.path())));
    let next = DOCKER.rslim_in_leaving_nothing(
        tmp.path(),
        &["build", BATCH, "--tag", "rslim-test/leftovers:batch"],
    );
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    assert_all_gone(killed.pid, tmp.path(), "export");

    // 4. write: killed while the layer (most of the image, kept on purpose)
    // is being written into the private temp dir.
    let tmp = tempfile::tempdir().unwrap();
    let layer_started = || {
        entries(tmp.path())
            .iter()
            .any(|dir| std::fs::metadata(dir.join("layer.tar")).is_ok_and(|m| m.len() > 1 << 20))
    };
    let killed = DOCKER.rslim_killed_at(
        tmp.path(),
        &[
            "build",
            NGINX,
            "--tag",
            "rslim-test/leftovers:write",
            "--include-path",
            "/usr",
            "--include-path",
            "/var",
        ],
        "write",
        When::Once(&layer_started),
    );
    let written: Vec<_> = entries(tmp.path());
    assert!(
        written.iter().any(|dir| dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("rslim-")),
        "no temp dir to clean up after kill -9 at write: {written:?}"
    );
    record.push(format!("write: {}", describe(killed.pid, tmp.path())));
    let prune = DOCKER.rslim_in_leaving_nothing(tmp.path(), &["prune"]);
    assert_eq!(prune.status.code(), Some(0), "{}", stderr(&prune));
    assert_all_gone(killed.pid, tmp.path(), "write");

    eprintln!(
        "left by kill -9, before the next run:\n  {}",
        record.join("\n  ")
    );
    for tag in ["batch", "archive", "export", "write"] {
        remove_image(&format!("rslim-test/leftovers:{tag}"));
    }
}

/// The content of the one file in a tar archive.
fn tar_member(tar: &[u8]) -> Vec<u8> {
    let mut archive = tar::Archive::new(tar);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
    bytes
}

/// A pid that no process has any more.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_sweep_removes_only_what_dead_owners_of_this_machine_left() {
    let _daemon = exclusive();
    DOCKER.require_image(BATCH);
    let here = Machine::current();
    let (me, dead) = (std::process::id(), dead_pid());
    let another_host = format!(
        "host=build-host-2,boot={},pidns={},pid={dead},start=1",
        here.boot, here.pidns
    );
    let before_reboot = format!(
        "host={},boot=00000000-1111-2222-3333-444444444444,pidns={},pid={dead},start=1",
        here.host, here.pidns
    );
    let live = here.label(me, process_start(me));
    let gone = here.label(dead, 1);
    let nonce = format!("{me}-{dead}");
    let mut containers = Vec::new();
    let mut volumes = Vec::new();
    for (what, owner) in [
        ("host", &another_host),
        ("boot", &before_reboot),
        ("live", &live),
        ("gone", &gone),
    ] {
        let label = format!("{OWNER_LABEL}={owner}");
        let volume = format!("rslim-test-owner-{what}-{nonce}");
        docker_ok(&["volume", "create", "--label", &label, &volume]);
        let name = format!("rslim-test-owner-{what}-{nonce}");
        docker_ok(&[
            "create",
            "--name",
            &name,
            "--label",
            &label,
            "-v",
            "/anonymous",
            BATCH,
        ]);
        containers.push((what, name));
        volumes.push((what, volume));
    }
    let theirs = format!("rslim-tmp/input-000000000000-{dead}-1-x:latest");
    let ours_dead = format!("rslim-tmp/input-{}-{dead}-1-x:latest", here.token_machine());
    for tag in [&theirs, &ours_dead] {
        docker_ok(&["tag", BATCH, tag]);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = |token: String| {
        let path = tmp.path().join(format!("rslim-{token}-Ab12Cd"));
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("layer.tar"), b"partial").unwrap();
        path
    };
    let dead_dir = dir(format!("{}-{dead}-1", here.token_machine()));
    let foreign_dir = dir(format!("000000000000-{dead}-1"));
    let live_dir = dir(format!(
        "{}-{me}-{}",
        here.token_machine(),
        process_start(me)
    ));

    // `prune --all --dry-run` names every one of them and removes nothing.
    let listed = DOCKER.rslim_in(tmp.path(), &["prune", "--all", "--dry-run"]);
    let listed = listed.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    for (_, name) in &containers {
        assert!(
            text.contains(&format!("would remove container {name}")),
            "{text}"
        );
    }
    assert!(
        text.contains(&theirs) && text.contains(&ours_dead),
        "{text}"
    );

    let out = DOCKER.rslim_in_leaving_nothing(
        tmp.path(),
        &["build", BATCH, "--tag", "rslim-test/leftovers:owners"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let exists = |kind: &str, name: &str| docker(&[kind, "inspect", name]).status.success();
    for (what, name) in &containers {
        assert_eq!(
            exists("container", name),
            *what != "gone",
            "container of {what}"
        );
    }
    for (what, volume) in &volumes {
        assert_eq!(
            exists("volume", volume),
            *what != "gone",
            "volume of {what}"
        );
    }
    assert!(
        exists("image", &theirs),
        "another machine's temporary tag was removed"
    );
    assert!(
        !exists("image", &ours_dead),
        "a dead owner's temporary tag is still there"
    );
    assert!(!dead_dir.exists(), "a dead owner's temp dir is still there");
    assert!(foreign_dir.exists() && live_dir.exists());

    for (_, name) in &containers {
        let _ = docker(&["rm", "-fv", name]);
    }
    for (_, volume) in &volumes {
        let _ = docker(&["volume", "rm", volume]);
    }
    let _ = docker(&["rmi", &theirs]);
    remove_image("rslim-test/leftovers:owners");
}

#[test]
fn churn_beside_a_build_does_not_disturb_the_leftover_check() {
    let _daemon = exclusive();
    DOCKER.require_image(PYTHON);
    let churn = Churn::start(DOCKER, "debian:bookworm-slim");
    let samples = std::thread::spawn(|| {
        let mut seen = Vec::new();
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            seen.push(DOCKER.daemon_state());
            std::thread::sleep(Duration::from_millis(150));
        }
        seen
    });
    // The image has a VOLUME: its (labelled) volume must go with the build.
    let (code, text, _) = DOCKER.run_build(PYTHON, "rslim-test/leftovers:churn", &[]);
    let samples = samples.join().unwrap();
    let churned = churn.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(
        churned.rounds >= 2,
        "the churn ran {} rounds only",
        churned.rounds
    );
    for state in &samples {
        assert!(
            !state.counts_any_of(&churned),
            "the leftover check counted unrelated containers or volumes: {state:?}"
        );
    }
    remove_image("rslim-test/leftovers:churn");
}
