//! `rslim xray` against real images built by the local Docker daemon.
//!
//! Each test builds its image from tests/xray-images/<name> when missing and
//! leaves it tagged `rslim-xray-test/<name>:latest` for the next run. No
//! container is left behind (`docker build --force-rm`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BASE: &str = "debian:bookworm-slim";
const MINBASE_ROOTFS: &str = "/var/cache/rslim/rootfs-minbase";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI must be installed")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn image_exists(name: &str) -> bool {
    docker(&["image", "inspect", name]).status.success()
}

fn ensure_base() {
    if image_exists(BASE) {
        return;
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C {MINBASE_ROOTFS} -c . | docker import -c 'CMD [\"bash\"]' - {BASE}"
        ))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cannot import {BASE} from {MINBASE_ROOTFS}"
    );
}

/// `rslim-xray-test/<name>:latest`, built with the classic builder if missing.
fn test_image(name: &str) -> String {
    let tag = format!("rslim-xray-test/{name}:latest");
    if !image_exists(&tag) {
        ensure_base();
        let context = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/xray-images")
            .join(name);
        let out = Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "--force-rm", "-t", &tag])
            .arg(&context)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "build of {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    tag
}

fn xray(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rslim"))
        .arg("xray")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rslim xray {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON document")
}

fn u64_at(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {pointer}"))
}

/// Layer sizes as Docker reports them, bottom first. History rows are
/// newest first and include metadata-only steps (`#(nop) CMD`, size 0), which
/// made no layer; the remaining rows pair with the layers.
fn docker_layer_sizes(image: &str) -> Vec<u64> {
    let history = docker_ok(&[
        "history",
        "--no-trunc",
        "--human=false",
        "--format",
        "{{.Size}}\t{{.CreatedBy}}",
        image,
    ]);
    let sizes: Vec<u64> = history
        .lines()
        .rev()
        .filter_map(|row| {
            let (size, created_by) = row.split_once('\t')?;
            let metadata_only = created_by.contains("#(nop) ")
                && !created_by.contains("#(nop) ADD")
                && !created_by.contains("#(nop) COPY");
            (!metadata_only).then(|| size.parse().unwrap())
        })
        .collect();
    let layers = docker_ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", image]);
    assert_eq!(
        sizes.len().to_string(),
        layers.trim(),
        "cannot pair docker history with layers"
    );
    sizes
}

#[test]
fn a_deleted_file_is_wasted_exactly_once() {
    let image = test_image("delete");
    let report = xray(&[&image]);
    assert_eq!(u64_at(&report, "/summary/wasted_bytes"), 20_971_520);
    assert_eq!(u64_at(&report, "/layers/1/wasted_bytes"), 20_971_520);
    assert_eq!(u64_at(&report, "/layers/2/deleted/bytes"), 20_971_520);
    assert_eq!(report["top_wasted_paths"][0]["path"], "/big.bin");

    // Efficiency by hand from Docker's own layer sizes: all bytes stored,
    // minus the deleted file, over all bytes stored.
    let stored: u64 = docker_layer_sizes(&image).iter().sum();
    let by_hand = (stored - 20_971_520) as f64 / stored as f64;
    let efficiency = report["summary"]["efficiency"].as_f64().unwrap();
    assert!(
        (efficiency - by_hand).abs() < 1e-12,
        "{efficiency} vs {by_hand}"
    );

    let advice: Vec<&str> = report["advice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap())
        .collect();
    assert!(
        advice
            .iter()
            .any(|m| m.starts_with("layer 3 (`RUN rm /big.bin`) deletes 21.0 MB added by layer 2")),
        "{advice:?}"
    );
}

#[test]
fn an_overwritten_file_wastes_each_lower_copy_once() {
    let image = test_image("overwrite");
    let report = xray(&[&image]);
    // 3000000 (first) + 2000000 (second); the visible third copy is not waste.
    assert_eq!(u64_at(&report, "/summary/wasted_bytes"), 5_000_000);
    assert_eq!(report["top_wasted_paths"][0]["path"], "/data.bin");
    assert_eq!(
        report["top_wasted_paths"][0]["layers"],
        serde_json::json!([2, 3])
    );
    assert_eq!(u64_at(&report, "/layers/2/modified/bytes"), 2_000_000);

    // cp made a duplicate, ln did not: one group of two stored copies.
    let group = report["duplicates"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["size"] == 1_000_000)
        .expect("the copied file is a duplicate");
    assert_eq!(group["paths"].as_array().unwrap().len(), 2);

    let apt = report["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["category"] == "apt-lists")
        .unwrap();
    assert_eq!(apt["bytes"], 2_000_000);
    assert_eq!(apt["by_layer"][0]["layer"], 4);
    assert_eq!(
        report["dockerfile"].as_array().unwrap().last().unwrap(),
        "CMD [\"bash\"]"
    );
}

#[test]
fn a_grown_file_wastes_the_small_hidden_copy_not_the_kept_one() {
    let image = test_image("grow");
    let report = xray(&[&image]);
    assert_eq!(u64_at(&report, "/summary/wasted_bytes"), 1_000_000);
    assert_eq!(
        report["top_wasted_paths"][0]["layers"],
        serde_json::json!([2])
    );
    let stored: u64 = docker_layer_sizes(&image).iter().sum();
    let efficiency = report["summary"]["efficiency"].as_f64().unwrap();
    assert!((efficiency - (stored - 1_000_000) as f64 / stored as f64).abs() < 1e-12);
    // dive keeps the smallest copy of a path, so it scores 4 MB of waste.
    let dive = report["summary"]["dive_efficiency"].as_f64().unwrap();
    assert!(dive < efficiency - 0.03, "dive {dive} vs ours {efficiency}");
}

/// Docker's layer size is the du of the layer's diff directory: file bytes
/// plus symlink target lengths, hard links once. xray's `content_bytes` is the
/// same measure; `tar_bytes` is larger by the 512-byte headers and padding.
#[test]
fn layer_sizes_match_what_docker_reports() {
    for name in ["delete", "overwrite"] {
        let image = test_image(name);
        let report = xray(&[&image]);
        let ours: Vec<u64> = report["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["content_bytes"].as_u64().unwrap())
            .collect();
        assert_eq!(ours, docker_layer_sizes(&image), "{image}");
        let inspect_size: u64 = docker_ok(&["image", "inspect", "-f", "{{.Size}}", &image])
            .trim()
            .parse()
            .unwrap();
        assert_eq!(u64_at(&report, "/summary/stored_bytes"), inspect_size);
        for layer in report["layers"].as_array().unwrap() {
            assert!(layer["tar_bytes"].as_u64() > layer["content_bytes"].as_u64());
        }
    }
}

#[test]
fn an_archive_reads_like_the_daemon() {
    let image = test_image("overwrite");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    docker_ok(&["save", "-o", archive.to_str().unwrap(), &image]);
    let mut from_daemon = xray(&[&image]);
    let mut from_file = xray(&["--archive", archive.to_str().unwrap()]);
    assert_eq!(from_file["source"], archive.to_str().unwrap());
    from_daemon["source"] = Value::Null;
    from_file["source"] = Value::Null;
    assert_eq!(from_daemon, from_file);
}

#[test]
fn compare_shows_what_slimming_removed() {
    ensure_base();
    let slim = test_image("slim");
    let report = xray(&[BASE, "--compare", &slim]);
    let comparison = &report["comparison"];
    let dash_bytes = report_file_size(&report, "/usr/bin/dash");
    let dirs = comparison["directories"].as_array().unwrap();
    let usr_bin = dirs.iter().find(|d| d["path"] == "/usr/bin").unwrap();
    assert_eq!(usr_bin["after_bytes"].as_u64().unwrap(), dash_bytes);
    assert_eq!(
        usr_bin["removed_bytes"].as_u64().unwrap(),
        usr_bin["before_bytes"].as_u64().unwrap() - dash_bytes
    );
    let usr_lib = dirs.iter().find(|d| d["path"] == "/usr/lib").unwrap();
    assert_eq!(usr_lib["after_bytes"], 0);
    assert!(usr_lib["before_bytes"].as_u64().unwrap() > 10_000_000);

    let packages = comparison["packages"].as_array().unwrap();
    let status = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("perl-base").as_deref(), Some("removed"));
    // dash keeps /usr/bin/dash (listed as /bin/dash: usrmerge), loses the rest.
    let dash = packages.iter().find(|p| p["name"] == "dash").unwrap();
    assert_eq!(dash["status"], "partly-removed");
    assert_eq!(dash["files_after"], 1);
    assert_eq!(dash["after_bytes"].as_u64().unwrap(), dash_bytes);
}

/// Size of a visible file of the fat image, from a second run on the slim one.
fn report_file_size(report: &Value, path: &str) -> u64 {
    let slim = report["comparison"]["slim"].as_str().unwrap();
    let slim_report = xray(&[slim, "--top", "100"]);
    slim_report["largest_files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .and_then(|f| f["bytes"].as_u64())
        .unwrap_or_else(|| panic!("{path} is not in {slim}"))
}

#[test]
fn a_missing_image_and_a_dead_daemon_have_their_own_exit_codes() {
    let missing = Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args(["xray", "rslim-xray-test/never-built:none"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not present locally"));

    let dead = Command::new(env!("CARGO_BIN_EXE_rslim"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["xray", BASE])
        .output()
        .unwrap();
    assert_eq!(dead.status.code(), Some(3));
}
