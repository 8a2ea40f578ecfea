use std::io::Read;

use serde_json::json;
use tar::{Archive, EntryType};

use super::*;
use crate::output::digest::sha256_hex;

/// A layer file on disk and a config naming it.
fn layer_and_config(dir: &Path, layer: &[u8]) -> (std::path::PathBuf, Vec<u8>) {
    let layer_path = dir.join("layer.tar");
    std::fs::write(&layer_path, layer).unwrap();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(layer))]},
    });
    (layer_path, serde_json::to_vec(&config).unwrap())
}

struct ArchiveEntry {
    path: String,
    entry_type: EntryType,
    mode: u32,
    mtime: u64,
    data: Vec<u8>,
}

fn read_entries(archive_bytes: &[u8]) -> Vec<ArchiveEntry> {
    let mut archive = Archive::new(archive_bytes);
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        entries.push(ArchiveEntry {
            path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            entry_type: entry.header().entry_type(),
            mode: entry.header().mode().unwrap(),
            mtime: entry.header().mtime().unwrap(),
            data,
        });
    }
    entries
}

#[test]
fn archive_has_the_docker_save_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layer = vec![7u8; 3000];
    let (layer_path, config_bytes) = layer_and_config(dir.path(), &layer);
    let tags = [
        "example/app:slim".to_owned(),
        "localhost:5000/app".to_owned(),
    ];
    let mut out = Vec::new();
    write_docker_archive(&config_bytes, &layer_path, &tags, &mut out).unwrap();

    let entries = read_entries(&out);
    let config_hex = sha256_hex(&config_bytes);
    let layer_hex = sha256_hex(&layer);
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("{config_hex}.json"),
            format!("{layer_hex}/"),
            format!("{layer_hex}/VERSION"),
            format!("{layer_hex}/json"),
            format!("{layer_hex}/layer.tar"),
            "manifest.json".to_owned(),
            "repositories".to_owned(),
        ]
    );
    assert_eq!(entries[0].data, config_bytes);
    assert_eq!(entries[1].entry_type, EntryType::Directory);
    assert_eq!(entries[2].data, b"1.0");
    assert_eq!(entries[4].data, layer);

    let manifest: Value = serde_json::from_slice(&entries[5].data).unwrap();
    assert_eq!(
        manifest,
        json!([{
            "Config": format!("{config_hex}.json"),
            "RepoTags": ["example/app:slim", "localhost:5000/app:latest"],
            "Layers": [format!("{layer_hex}/layer.tar")],
        }])
    );
    let repositories: Value = serde_json::from_slice(&entries[6].data).unwrap();
    assert_eq!(
        repositories,
        json!({
            "example/app": {"slim": layer_hex},
            "localhost:5000/app": {"latest": layer_hex},
        })
    );
    let legacy: Value = serde_json::from_slice(&entries[3].data).unwrap();
    assert_eq!(legacy["id"], layer_hex.as_str());
    assert_eq!(legacy["created"], "2024-01-02T03:04:05Z");

    for entry in &entries {
        assert_eq!(entry.mtime, 0, "{}", entry.path);
        let expected_mode = if entry.entry_type == EntryType::Directory {
            0o755
        } else {
            0o644
        };
        assert_eq!(entry.mode, expected_mode, "{}", entry.path);
    }
}

#[test]
fn archive_is_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (layer_path, config_bytes) = layer_and_config(dir.path(), b"layer bytes");
    let tags = ["a:b".to_owned()];
    let mut first = Vec::new();
    write_docker_archive(&config_bytes, &layer_path, &tags, &mut first).unwrap();
    let mut second = Vec::new();
    write_docker_archive(&config_bytes, &layer_path, &tags, &mut second).unwrap();
    assert_eq!(first, second);
}

#[test]
fn a_layer_that_does_not_match_the_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (layer_path, config_bytes) = layer_and_config(dir.path(), b"original");
    std::fs::write(&layer_path, b"tampered").unwrap();
    let err = write_docker_archive(&config_bytes, &layer_path, &[], Vec::new()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("but the config names"), "{err}");
}

#[test]
fn configs_without_exactly_one_sha256_layer_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let layer_path = dir.path().join("layer.tar");
    std::fs::write(&layer_path, b"x").unwrap();
    let cases = [
        (json!({}), "no rootfs.diff_ids"),
        (json!({"rootfs": {"diff_ids": []}}), "lists 0 layers"),
        (
            json!({"rootfs": {"diff_ids": ["sha256:aa", "sha256:bb"]}}),
            "lists 2 layers",
        ),
        (
            json!({"rootfs": {"diff_ids": ["md5:abc"]}}),
            "not a sha256 digest",
        ),
    ];
    for (config, message) in cases {
        let bytes = serde_json::to_vec(&config).unwrap();
        let err = write_docker_archive(&bytes, &layer_path, &[], Vec::new()).unwrap_err();
        assert!(err.to_string().contains(message), "{config}: {err}");
    }
    let err = write_docker_archive(b"not json", &layer_path, &[], Vec::new()).unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[test]
fn tags_get_latest_only_when_they_have_none() {
    assert_eq!(with_tag("app"), "app:latest");
    assert_eq!(with_tag("app:1.2"), "app:1.2");
    assert_eq!(
        with_tag("registry:5000/team/app"),
        "registry:5000/team/app:latest"
    );
    assert_eq!(
        with_tag("registry:5000/team/app:v1"),
        "registry:5000/team/app:v1"
    );
}
