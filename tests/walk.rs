//! The walker container as the source of the original filesystem
//! (`--fs-source walk`, the default for engine images), checked against the
//! export it replaces: for each image, both sources must give the same kept
//! paths for the same reasons and byte-identical output (the same layer
//! digest and image ID). And the walker container, like every container of
//! rslim's, is gone after a success, a failure and an interrupt.

mod common;

use common::*;
use serde_json::Value;
use std::ffi::OsStr;

/// Images whose two builds must agree: the examples (a non-root USER and a
/// VOLUME among them), and fixtures with hostile file names, hard links,
/// file capabilities, setuid files and several runtimes.
const IMAGES: &[&str] = &[
    "rslim-examples/nginx:fat",
    "rslim-examples/python-app:fat",
    "rslim-examples/shell-entry:fat",
    "rslim-fixtures/oddnames:latest",
    "rslim-fixtures/goapp:latest",
    "rslim-fixtures/perlapp:latest",
    "rslim-fixtures/batch:latest",
];

fn build_with(image: &str, source: &str) -> Value {
    let tag = format!("rslim-test/walk-{source}:slim");
    build_as(image, &tag, &["--fs-source", source], &[])
}

/// A successful build of `image` as `tag` (removed after), its report.
fn build_as(image: &str, tag: &str, extra: &[&str], env: &[(&str, &OsStr)]) -> Value {
    let (code, stderr, report) = Engine::Docker.run_build_with(image, tag, extra, env);
    assert_eq!(
        code,
        Some(0),
        "rslim build {image} {extra:?} with {env:?} failed:\n{stderr}"
    );
    remove_image(tag);
    report.expect("no report written")
}

/// A walker build of `image` with its index cache in `cache`.
fn build_cached(image: &str, cache: &std::path::Path) -> Value {
    build_env(image, &[("RSLIM_CACHE_DIR", cache.as_os_str())])
}

/// A walker build of `image` with `env` set.
fn build_env(image: &str, env: &[(&str, &OsStr)]) -> Value {
    build_as(image, "rslim-test/walk-env:slim", &[], env)
}

fn from_cache(report: &Value) -> bool {
    report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .any(|note| note.contains("came from rslim's cache"))
}

fn kept(report: &Value) -> Vec<(String, String, String)> {
    report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            // Paths that are not UTF-8 are objects in the report: compare the JSON.
            (
                k["path"].to_string(),
                k["reason"].to_string(),
                k["kind"].to_string(),
            )
        })
        .collect()
}

fn fell_back(report: &Value) -> Option<String> {
    report["notes"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|note| note.contains("walker container could not read"))
        .map(str::to_string)
}

#[test]
fn walk_and_export_give_the_same_slim_images() {
    let _daemon = exclusive();
    for image in IMAGES {
        require_image(image);
        let walked = build_with(image, "walk");
        let exported = build_with(image, "export");
        // The other ways of walking must agree too: the walker that reads
        // the mounted-over places before it starts (AppArmor and SELinux
        // hosts, Podman), and the light walk, every regular file looked up
        // only when resolution or the writer first needs it (what a walk
        // hurried at once gives), the report's package sizes added while the
        // image loads.
        let no_cache = tempfile::tempdir().unwrap();
        for (way, knob, value) in [
            ("plain", "RSLIM_WALK_VIEW", "0"),
            ("light", "RSLIM_WALK_LIGHT", "1"),
        ] {
            let other = build_env(
                image,
                &[
                    (knob, value.as_ref()),
                    ("RSLIM_CACHE_DIR", no_cache.path().as_os_str()),
                ],
            );
            assert_eq!(fell_back(&other), None, "{image}: the {way} walk fell back");
            assert_eq!(kept(&other), kept(&exported), "{image}: {way} walk differs");
            assert_eq!(
                other["slim_id"], exported["slim_id"],
                "{image}: {way} walk differs"
            );
            if way == "light" {
                assert_eq!(
                    other["packages"], exported["packages"],
                    "{image}: package sizes differ"
                );
            }
        }
        assert_eq!(
            fell_back(&walked),
            None,
            "{image}: the walk fell back to the export"
        );
        assert!(!kept(&walked).is_empty(), "{image}: nothing kept");
        assert_eq!(kept(&walked), kept(&exported), "{image}: kept sets differ");
        assert!(
            walked["layer_digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{image}: no layer digest"
        );
        assert_eq!(
            walked["layer_digest"], exported["layer_digest"],
            "{image}: layers differ"
        );
        assert_eq!(
            walked["slim_id"], exported["slim_id"],
            "{image}: images differ"
        );
    }
}

/// The walk's index kept by a first build serves the second, which must
/// give the same image as the walk (and as the export, above). Images that
/// share their lower layers (all of these share the base) never share an
/// index: each one's first build walks.
#[test]
fn a_cached_index_gives_the_same_slim_image_and_only_to_its_own_image() {
    let _daemon = exclusive();
    let cache = tempfile::tempdir().unwrap();
    for image in IMAGES {
        require_image(image);
        let walked = build_cached(image, cache.path());
        assert!(
            !from_cache(&walked),
            "{image}: another image's index was used"
        );
        let cached = build_cached(image, cache.path());
        assert!(from_cache(&cached), "{image}: the kept index was not used");
        assert_eq!(kept(&walked), kept(&cached), "{image}: kept sets differ");
        assert_eq!(walked["layer_digest"], cached["layer_digest"], "{image}");
        assert_eq!(walked["slim_id"], cached["slim_id"], "{image}");
    }
    // A damaged index is walked again, and replaced.
    let image = IMAGES[0];
    let index_dir = cache.path().join("walk-index");
    let before: Vec<_> = std::fs::read_dir(&index_dir).unwrap().flatten().collect();
    assert_eq!(before.len(), IMAGES.len(), "one index per image");
    for entry in &before {
        let bytes = std::fs::read(entry.path()).unwrap();
        std::fs::write(entry.path(), &bytes[..bytes.len() / 2]).unwrap();
    }
    let rewalked = build_cached(image, cache.path());
    assert!(!from_cache(&rewalked), "a cut-short index was used");
    assert!(
        from_cache(&build_cached(image, cache.path())),
        "not replaced"
    );
}

#[test]
fn a_failing_app_leaves_no_walker_behind() {
    let _daemon = exclusive();
    require_image("rslim-fixtures/fails:latest");
    let out = rslim_leaving_nothing(&[
        "build",
        "rslim-fixtures/fails:latest",
        "--fs-source",
        "walk",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_interrupt_while_the_walker_serves_leaves_nothing() {
    let _daemon = exclusive();
    let image = "rslim-examples/nginx:fat";
    require_image(image);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args(["build", image, "--tag", "rslim-test/walk-interrupted:slim"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait for the walker container of this build, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let walker = format!("rslim-walk-{pid}-");
    loop {
        let names = docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
        if names.lines().any(|name| name.starts_with(&walker)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no walker container appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let code = out.status.code();
    assert!(
        code == Some(130) || code == Some(0),
        "{code:?}\n{}",
        stderr(&out)
    );
    let left = leftovers_of(pid);
    assert!(
        left.is_empty(),
        "the interrupted build left {left:?} behind"
    );
    let names = docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !names.lines().any(|name| name.starts_with(&walker)),
        "the walker container is still there"
    );
    remove_image("rslim-test/walk-interrupted:slim");
}
