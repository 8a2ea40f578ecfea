//! Archives in and out, end to end: `rslim build docker-archive:PATH`,
//! `oci-archive:PATH` and `oci:DIR`, writing `--output docker-archive:`,
//! `oci-archive:` and `oci:`, each output checked with an independent
//! reader (skopeo), loaded into the engine and asked the same HTTP questions
//! as the fat image. Bad archives are refused with exit 11 and a message
//! naming the entry, and nothing is left: no container, no temporary tag, no
//! image or layer the load brought, no file at the output path.
//!
//! Needs `scripts/setup` (the nginx example, the fixtures, and skopeo).

mod common;
#[path = "archives/support.rs"]
mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::{json, Value};
use support::*;

const FAT: &str = "rslim-examples/nginx:fat";
const PATHS: &[&str] = &["/", "/no-such-page"];
/// Exit codes of src/error.rs.
const INVALID_ARCHIVE: i32 = 11;
const OUTPUT_FAILED: i32 = 12;

/// The temporary tags of the rslim run `pid` (others' runs on the same
/// engine come and go meanwhile).
fn temp_tags_of(pid: u32) -> Vec<String> {
    docker_ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "rslim-tmp/*",
    ])
    .lines()
    .filter(|tag| temp_tag_owner(tag).is_some_and(|(_, owner)| owner == pid))
    .map(str::to_string)
    .collect()
}

/// `rslim build ARGS --report R`, leaving no container, volume or temporary tag.
fn build(args: &[&str]) -> (Option<i32>, String, Option<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.extend(["--report", arg(&report)]);
    // Checks that no container, volume or temporary tag of its run is left.
    let out = rslim_leaving_nothing(&all);
    let report = std::fs::read(&report)
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap());
    (out.status.code(), stderr(&out), report)
}

fn build_ok(args: &[&str]) -> Value {
    let (code, stderr, report) = build(args);
    assert_eq!(code, Some(0), "rslim build {args:?} failed:\n{stderr}");
    report.unwrap()
}

fn output<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} output in {}", report["outputs"]))
}

/// Loads an archive into the engine, checks its image ID, and compares the
/// slim image's answers with the fat one's; the image is removed again.
fn load_and_compare(archive: &Path, image_id: &str) {
    let out = docker_ok(&["load", "-i", arg(archive)]);
    assert!(out.contains("Loaded image"), "{out}");
    let result = std::panic::catch_unwind(|| {
        assert_eq!(answers(FAT, 80, PATHS), answers(image_id, 80, PATHS));
    });
    let _ = docker(&["image", "rm", "-f", image_id]);
    result.unwrap();
}

#[test]
fn a_docker_archive_builds_into_every_output_each_readable_by_skopeo() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fresh = fresh_image(dir.path(), "every-output");
    fresh.remove_from_engine();
    let (docker_out, oci_out, layout) = (
        dir.path().join("slim-docker.tar"),
        dir.path().join("slim-oci.tar"),
        dir.path().join("slim-layout"),
    );
    let source = format!("docker-archive:{}", arg(&fresh.archive));
    let slim_tag = "rslim-test/archives:every-output";
    let report = build_ok(&[
        &source,
        "--tag",
        slim_tag,
        "--output",
        "docker",
        "--output",
        &format!("docker-archive:{}", arg(&docker_out)),
        "--output",
        &format!("oci-archive:{}", arg(&oci_out)),
        "--output",
        &format!("oci:{}", arg(&layout)),
    ]);
    // The input was loaded for profiling only: it is gone with its layer.
    fresh.assert_gone();
    let image_id = report["slim_id"].as_str().unwrap();
    let layer = report["layer_digest"].as_str().unwrap();
    let kinds: Vec<&str> = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["docker", "docker-archive", "oci-archive", "oci"]);
    assert_eq!(output(&report, "docker")["digest"], image_id);
    assert_eq!(output(&report, "docker-archive")["digest"], image_id);
    let manifest_digest = output(&report, "oci-archive")["digest"].as_str().unwrap();
    assert_eq!(output(&report, "oci")["digest"], manifest_digest);
    assert_ne!(manifest_digest, image_id);

    // The engine output.
    assert_eq!(
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", slim_tag]),
        image_id
    );
    remove_image(slim_tag);

    // docker-archive: skopeo sees one layer, the one rslim wrote.
    let inspected: Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        &format!("docker-archive:{}", arg(&docker_out)),
    ]))
    .unwrap();
    assert_eq!(inspected["Layers"], json!([layer]));
    let config: Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--config",
        &format!("docker-archive:{}", arg(&docker_out)),
    ]))
    .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], json!([layer]));

    // oci-archive: the raw manifest skopeo reads hashes to the reported digest.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", arg(&oci_out)),
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(format!("sha256:{}", sha256(&raw.stdout)), manifest_digest);

    // oci: skopeo inspects it and copies it out, checking every blob.
    let inspected: Value =
        serde_json::from_str(&skopeo_ok(&["inspect", &format!("oci:{}", arg(&layout))])).unwrap();
    assert_eq!(inspected["Digest"], manifest_digest);
    let copy = dir.path().join("copy");
    skopeo_ok(&[
        "copy",
        &format!("oci:{}", arg(&layout)),
        &format!("dir:{}", arg(&copy)),
    ]);
    let copied: Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(copied["config"]["digest"], image_id);

    // Both archives load into the engine and answer like the fat image.
    load_and_compare(&docker_out, image_id);
    load_and_compare(&oci_out, image_id);
    // No temp files beside the outputs.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "copy",
            "every-output.tar",
            "slim-docker.tar",
            "slim-layout",
            "slim-oci.tar"
        ]
    );
}

#[test]
fn oci_archives_and_layouts_made_by_skopeo_build_and_verify() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fresh = fresh_image(dir.path(), "from-oci");
    let (oci_archive, layout) = (dir.path().join("in-oci.tar"), dir.path().join("in-layout"));
    let daemon_ref = format!("docker-daemon:{}", fresh.tag);
    skopeo_ok(&[
        "copy",
        &daemon_ref,
        &format!("oci-archive:{}", arg(&oci_archive)),
    ]);
    skopeo_ok(&["copy", &daemon_ref, &format!("oci:{}:fat", arg(&layout))]);
    fresh.remove_from_engine();
    let out = dir.path().join("out.tar");
    let mut slim_id = String::new();
    for source in [
        format!("oci-archive:{}", arg(&oci_archive)),
        format!("oci:{}:fat", arg(&layout)),
        format!("oci:{}", arg(&layout)),
    ] {
        // --verify runs the slim image (loaded for a while, as no docker
        // output is asked for) and fails unless it answers like the original.
        let report = build_ok(&[
            &source,
            "--output",
            &format!("docker-archive:{}", arg(&out)),
            "--verify",
        ]);
        assert_eq!(report["verification"]["passed"], true, "{source}");
        assert_eq!(report["outputs"].as_array().unwrap().len(), 1);
        fresh.assert_gone();
        slim_id = report["slim_id"].as_str().unwrap().to_string();
        assert!(
            !docker(&["image", "inspect", &slim_id]).status.success(),
            "the slim image stayed"
        );
        skopeo_ok(&["inspect", &format!("docker-archive:{}", arg(&out))]);
    }
    load_and_compare(&out, &slim_id);
}

#[test]
fn an_image_the_engine_has_stays_after_a_build_from_its_archive() {
    let _daemon = exclusive();
    require_image(FAT);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("nginx.tar");
    docker_ok(&["save", "-o", arg(&archive), FAT]);
    let before = docker_ok(&["image", "inspect", "-f", "{{.Id}} {{.RepoTags}}", FAT]);
    let report = build_ok(&[
        &format!("docker-archive:{}", arg(&archive)),
        "--output",
        &format!("oci:{}", arg(&dir.path().join("layout"))),
    ]);
    assert_eq!(
        docker_ok(&["image", "inspect", "-f", "{{.Id}} {{.RepoTags}}", FAT]),
        before
    );
    assert!(report["source_image"]
        .as_str()
        .unwrap()
        .starts_with("docker-archive:"));
}

#[test]
fn the_same_input_twice_gives_the_same_bytes_and_source_date_epoch_sets_the_times() {
    let _daemon = exclusive();
    require_image(FAT);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("nginx.tar");
    docker_ok(&["save", "-o", arg(&archive), FAT]);
    let source = format!("docker-archive:{}", arg(&archive));
    let run = |name: &str, epoch: Option<&str>| {
        let (docker_out, oci_out) = (
            dir.path().join(format!("{name}-docker.tar")),
            dir.path().join(format!("{name}-oci.tar")),
        );
        let report_path = dir.path().join(format!("{name}.json"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_rslim"));
        command.args([
            "build",
            &source,
            "--output",
            &format!("docker-archive:{}", arg(&docker_out)),
            "--output",
            &format!("oci-archive:{}", arg(&oci_out)),
            "--report",
            arg(&report_path),
        ]);
        match epoch {
            Some(epoch) => command.env("SOURCE_DATE_EPOCH", epoch),
            None => command.env_remove("SOURCE_DATE_EPOCH"),
        };
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let report: Value = serde_json::from_slice(&std::fs::read(report_path).unwrap()).unwrap();
        (
            std::fs::read(docker_out).unwrap(),
            std::fs::read(oci_out).unwrap(),
            report,
        )
    };
    let digests = |report: &Value| -> Vec<Value> {
        report["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| json!([o["kind"], o["digest"], o["image_id"]]))
            .collect()
    };
    let (docker_1, oci_1, report_1) = run("first", None);
    let (docker_2, oci_2, report_2) = run("second", None);
    assert_eq!(digests(&report_1), digests(&report_2));
    assert_eq!(
        sha256(&docker_1),
        sha256(&docker_2),
        "docker-archive bytes differ"
    );
    assert_eq!(sha256(&oci_1), sha256(&oci_2), "oci-archive bytes differ");

    let (docker_e, oci_e, report_e) = run("epoch", Some("1700000000"));
    assert_ne!(report_e["slim_id"], report_1["slim_id"]);
    let config = member(&docker_e, |name| {
        name.ends_with(".json") && name != "manifest.json"
    });
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["history"][0]["created"], "2023-11-14T22:13:20Z");
    for archive in [&docker_e, &oci_e] {
        let mut tar = tar::Archive::new(&archive[..]);
        for entry in tar.entries().unwrap() {
            let entry = entry.unwrap();
            assert_eq!(entry.header().mtime().unwrap(), 1_700_000_000);
        }
    }
    let (_, _, report_e2) = run("epoch-again", Some("1700000000"));
    assert_eq!(digests(&report_e), digests(&report_e2));
}

#[test]
fn an_output_in_a_missing_directory_fails_before_anything_runs() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/slim.tar");
    let started = std::time::Instant::now();
    let (code, stderr, _) = build(&[
        FAT,
        "--output",
        &format!("docker-archive:{}", arg(&missing)),
    ]);
    assert_eq!(code, Some(OUTPUT_FAILED), "{stderr}");
    assert!(stderr.contains("no-such-dir"), "{stderr}");
    assert!(!stderr.contains("[create]"), "profiling started:\n{stderr}");
    assert!(started.elapsed().as_secs() < 5);
    let not_a_layout = dir.path().join("notes");
    std::fs::create_dir(&not_a_layout).unwrap();
    std::fs::write(not_a_layout.join("todo.txt"), b"mine").unwrap();
    let (code, stderr, _) = build(&[FAT, "--output", &format!("oci:{}", arg(&not_a_layout))]);
    assert_eq!(code, Some(OUTPUT_FAILED), "{stderr}");
    assert!(stderr.contains("not an OCI layout"), "{stderr}");
    assert_eq!(
        std::fs::read(not_a_layout.join("todo.txt")).unwrap(),
        b"mine"
    );
}

#[test]
fn archive_flag_refuses_an_archive_of_another_image() {
    let _daemon = exclusive();
    require_image(FAT);
    require_image("rslim-fixtures/batch:latest");
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("batch.tar");
    docker_ok(&["save", "-o", arg(&other), "rslim-fixtures/batch:latest"]);
    let (code, stderr, _) = build(&[FAT, "--archive", arg(&other)]);
    assert_eq!(code, Some(INVALID_ARCHIVE), "{stderr}");
    assert!(stderr.contains("holds another image"), "{stderr}");
}

/// Runs `rslim build` on a broken archive: it must exit 11 naming
/// `expected`, leave nothing in the engine, and write nothing.
fn assert_refused(dir: &Path, archive: &Path, transport: &str, expected: &str) {
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let before = docker_ok(&["images", "-a", "-q", "--no-trunc"]);
    let (code, stderr, _) = build(&[
        &format!("{transport}:{}", arg(archive)),
        "--output",
        &format!("docker-archive:{}", arg(&out_dir.join("slim.tar"))),
    ]);
    assert_eq!(code, Some(INVALID_ARCHIVE), "{expected}: {stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in:\n{stderr}"
    );
    assert!(
        !stderr.contains("[create]"),
        "{expected}: profiling started:\n{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "{expected}: something was written"
    );
    let after = docker_ok(&["images", "-a", "-q", "--no-trunc"]);
    let new: Vec<&str> = after.lines().filter(|id| !before.contains(id)).collect();
    for id in new {
        // Other suites may build meanwhile; only an image of ours counts.
        let tags = docker_ok(&[
            "image",
            "inspect",
            "-f",
            "{{.RepoTags}} {{.Config.Labels}}",
            id,
        ]);
        // A temporary tag of a run still going is another run's; this
        // one has ended.
        let left = tags
            .trim_start_matches('[')
            .split([' ', ']'])
            .filter(|tag| tag.contains("rslim-tmp/"))
            .any(|tag| {
                !temp_tag_owner(tag)
                    .is_some_and(|(_, pid)| Path::new(&format!("/proc/{pid}")).exists())
            });
        assert!(!left, "{expected}: left {id} {tags}");
    }
}

#[test]
fn broken_docker_archives_are_refused_naming_the_entry() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fresh = fresh_image(dir.path(), "broken");
    fresh.remove_from_engine();
    let good = Members::read(&fresh.archive);
    let bad = dir.path().join("bad.tar");
    let layer = good.last_layer();

    // Truncated: the archive ends inside its last member.
    let bytes = std::fs::read(&fresh.archive).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert_refused(dir.path(), &bad, "docker-archive", "truncated");

    // A layer the manifest names is missing.
    let mut missing = good.clone();
    missing.0.remove(&layer);
    missing.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "docker-archive",
        &format!("the archive has no {layer}"),
    );

    // A layer whose bytes do not match the config's diff_id.
    let mut changed = good.clone();
    if let Some(Member::File(data)) = changed.0.get_mut(&layer) {
        // A byte of /nonce's content: the tar stays well-formed.
        let nonce = fresh.nonce.as_bytes();
        let at = data.windows(nonce.len()).position(|w| w == nonce).unwrap();
        data[at] ^= 0x01;
    }
    changed.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "docker-archive",
        "does not match its digest",
    );

    // Index names that leave the archive.
    let mut climbing = good.clone();
    let mut manifest = climbing.json("manifest.json");
    manifest[0]["Layers"][0] = json!(format!("../{}", manifest[0]["Layers"][0].as_str().unwrap()));
    climbing.set_json("manifest.json", &manifest);
    climbing.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "docker-archive",
        "climbs out of it with '..'",
    );
    let mut absolute = good.clone();
    let mut manifest = absolute.json("manifest.json");
    manifest[0]["Config"] = json!("/etc/passwd");
    absolute.set_json("manifest.json", &manifest);
    absolute.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "docker-archive",
        "\"/etc/passwd\", an absolute path",
    );

    // A layer that is a symlink out of the archive (the legacy format links
    // layers, inside the archive only).
    let mut linked = good.clone();
    linked.0.insert(
        layer.clone(),
        Member::Symlink("../../../../etc/passwd".into()),
    );
    linked.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "docker-archive",
        "points outside the archive",
    );

    // A layer entry that climbs out of the image root.
    let marker = format!("rslim-escape-{}", std::process::id());
    let mut escaping = good.clone();
    add_layer(
        &mut escaping,
        layer_with_entry(&format!("../../../../../tmp/{marker}")),
    );
    escaping.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "docker-archive",
        "climbs out of the image root",
    );
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "a file was written outside"
    );
    fresh.assert_gone();
}

#[test]
fn broken_oci_archives_are_refused_naming_the_entry() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fresh = fresh_image(dir.path(), "broken-oci");
    let oci = dir.path().join("oci.tar");
    skopeo_ok(&[
        "copy",
        &format!("docker-daemon:{}", fresh.tag),
        &format!("oci-archive:{}", arg(&oci)),
    ]);
    fresh.remove_from_engine();
    let good = Members::read(&oci);
    let bad = dir.path().join("bad.tar");
    let top_layer = |members: &Members| -> (String, String) {
        let index = members.json("index.json");
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        let manifest = members.json(&format!(
            "blobs/sha256/{}",
            digest.trim_start_matches("sha256:")
        ));
        let layer = manifest["layers"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        let digest = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        (
            format!("blobs/sha256/{digest}"),
            layer["mediaType"].as_str().unwrap().to_string(),
        )
    };

    // Wrong media type.
    let mut wrong_type = good.clone();
    edit_manifest(&mut wrong_type, |manifest| {
        manifest["layers"][0]["mediaType"] = json!("application/vnd.example.not-a-layer");
    });
    wrong_type.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "oci-archive",
        "application/vnd.example.not-a-layer",
    );

    // Missing blob.
    let (layer, media_type) = top_layer(&good);
    assert!(media_type.ends_with("gzip"), "skopeo wrote {media_type}");
    let mut missing = good.clone();
    missing.0.remove(&layer);
    missing.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "oci-archive",
        &format!("the archive has no {layer}"),
    );

    // A layer blob that does not match its digest (same size).
    let mut changed = good.clone();
    if let Some(Member::File(data)) = changed.0.get_mut(&layer) {
        let middle = data.len() / 2;
        data[middle] ^= 0xff;
    }
    changed.write(&bad);
    assert_refused(dir.path(), &bad, "oci-archive", "does not match its digest");

    // A truncated gzip layer whose descriptor was fixed to match: only the
    // gzip stream itself is short.
    let mut truncated = good.clone();
    let Some(Member::File(data)) = truncated.0.get(&layer).cloned() else {
        panic!()
    };
    let short = data[..data.len() / 2].to_vec();
    let short_digest = sha256(&short);
    truncated.0.remove(&layer);
    truncated.set(&format!("blobs/sha256/{short_digest}"), short.clone());
    let old = layer.trim_start_matches("blobs/sha256/").to_string();
    edit_manifest(&mut truncated, |manifest| {
        for entry in manifest["layers"].as_array_mut().unwrap() {
            if entry["digest"] == format!("sha256:{old}") {
                entry["digest"] = json!(format!("sha256:{short_digest}"));
                entry["size"] = json!(short.len());
            }
        }
    });
    truncated.write(&bad);
    assert_refused(
        dir.path(),
        &bad,
        "oci-archive",
        &format!("blobs/sha256/{short_digest}"),
    );
    fresh.assert_gone();
}

#[test]
fn xray_checks_archives_like_build_and_reads_transports() {
    let _daemon = exclusive();
    require_image("rslim-fixtures/batch:latest");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("batch.tar");
    docker_ok(&["save", "-o", arg(&archive), "rslim-fixtures/batch:latest"]);
    let xray = |args: &[&str]| {
        let mut all = vec!["xray", "--json"];
        all.extend_from_slice(args);
        rslim(&all)
    };
    let by_flag = xray(&["--archive", arg(&archive)]);
    assert!(by_flag.status.success(), "{}", stderr(&by_flag));
    let by_transport = xray(&[&format!("docker-archive:{}", arg(&archive))]);
    assert!(by_transport.status.success(), "{}", stderr(&by_transport));
    let summary =
        |out: &Output| serde_json::from_slice::<Value>(&out.stdout).unwrap()["summary"].clone();
    assert_eq!(summary(&by_flag), summary(&by_transport));

    let mut members = Members::read(&archive);
    let layer = members.last_layer();
    if let Some(Member::File(data)) = members.0.get_mut(&layer) {
        let at = data.len() - 2048;
        data[at] ^= 0x01;
    }
    let bad = dir.path().join("bad.tar");
    members.write(&bad);
    let transport = format!("docker-archive:{}", arg(&bad));
    for args in [vec!["--archive", arg(&bad)], vec![transport.as_str()]] {
        let out = xray(&args);
        assert_eq!(out.status.code(), Some(INVALID_ARCHIVE), "{}", stderr(&out));
        assert!(stderr(&out).contains(&layer), "{}", stderr(&out));
    }
}

#[test]
fn sigint_after_the_load_removes_the_temporary_image() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fresh = fresh_image(dir.path(), "interrupted");
    fresh.remove_from_engine();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args([
            "build",
            &format!("docker-archive:{}", arg(&fresh.archive)),
            "--continue-after",
            "60",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the app runs: the image was loaded by then.
    let mut stderr_pipe = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("[probe]") {
        let n = stderr_pipe.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "rslim ended early:\n{}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(temp_tags_of(child.id())
        .iter()
        .any(|t| t.starts_with("rslim-tmp/input-")));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    stderr_pipe.read_to_end(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let left = leftovers_of(child.id());
    assert!(left.is_empty(), "{left:?} was left");
    assert_eq!(temp_tags_of(child.id()), Vec::<String>::new());
    fresh.assert_gone();
}
