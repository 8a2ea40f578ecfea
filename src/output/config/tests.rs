use serde_json::{json, Value};

use super::*;

const DIFF_ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn fixture(name: &str) -> Value {
    let path = format!("{}/src/output/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn built_image_keeps_runtime_settings_and_drops_build_leftovers() {
    let original = fixture("built-config.json");
    let slim = slim_config(&original, DIFF_ID, &[], "rslim-output-test:cfg");

    let config = slim["config"].as_object().unwrap();
    let mut keys: Vec<&str> = config.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Cmd",
            "Entrypoint",
            "Env",
            "ExposedPorts",
            "Healthcheck",
            "Labels",
            "Shell",
            "StopSignal",
            "User",
            "Volumes",
            "WorkingDir"
        ]
    );
    for key in &keys {
        assert_eq!(config[*key], original["config"][*key], "{key} changed");
    }
    assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(config["Healthcheck"]["Interval"], json!(5_000_000_000u64));

    let mut top: Vec<&str> = slim
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    top.sort_unstable();
    assert_eq!(
        top,
        [
            "architecture",
            "config",
            "created",
            "history",
            "os",
            "rootfs"
        ]
    );
    assert_eq!(slim["architecture"], "amd64");
    assert_eq!(slim["os"], "linux");
}

#[test]
fn created_comes_from_the_original_and_history_is_one_entry() {
    let original = fixture("built-config.json");
    let slim = slim_config(&original, DIFF_ID, &[], "app:1.0");
    assert_eq!(slim["created"], original["created"]);
    assert_eq!(
        slim["history"],
        json!([{
            "created": original["created"],
            "created_by": "rslim build",
            "comment": "slimmed from app:1.0"
        }])
    );
    assert_eq!(
        slim["rootfs"],
        json!({"type": "layers", "diff_ids": [DIFF_ID]})
    );
}

#[test]
fn imported_image_null_and_empty_fields_are_left_out() {
    // `docker import` writes Cmd/Entrypoint/Labels as null and User as "".
    let original = fixture("imported-config.json");
    assert!(original["config"]["Cmd"].is_null());
    assert_eq!(original["config"]["User"], "");
    let slim = slim_config(&original, DIFF_ID, &[], "base");
    assert_eq!(
        slim["config"],
        json!({"Env": ["A=1"], "ExposedPorts": {"80/tcp": {}}})
    );
}

#[test]
fn extra_labels_are_added_and_override_originals() {
    let original = fixture("built-config.json");
    let extra = [
        ("maintainer".to_owned(), "someone-else".to_owned()),
        ("org.rslim.slimmed".to_owned(), "true".to_owned()),
    ];
    let slim = slim_config(&original, DIFF_ID, &extra, "x");
    assert_eq!(
        slim["config"]["Labels"],
        json!({
            "maintainer": "someone-else",
            "org.opencontainers.image.title": "fixture",
            "org.rslim.slimmed": "true"
        })
    );

    // Labels null in the original: the extra labels make a new map.
    let imported = fixture("imported-config.json");
    let slim = slim_config(&imported, DIFF_ID, &extra[1..], "x");
    assert_eq!(
        slim["config"]["Labels"],
        json!({"org.rslim.slimmed": "true"})
    );
}

#[test]
fn platform_variant_and_os_version_are_carried_when_present() {
    let original = json!({
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "os.version": "5.10",
        "container": "abc",
        "docker_version": "20.10",
        "config": {"Hostname": "abc", "Image": "sha256:00", "AttachStdin": false,
                   "OnBuild": ["RUN make"], "ArgsEscaped": true}
    });
    let slim = slim_config(&original, DIFF_ID, &[], "x");
    assert_eq!(slim["variant"], "v8");
    assert_eq!(slim["os.version"], "5.10");
    assert!(slim.get("container").is_none());
    assert!(slim.get("docker_version").is_none());
    // No `created` in the original: none in the output either, never "now".
    assert!(slim.get("created").is_none());
    assert!(slim["history"][0].get("created").is_none());
    assert_eq!(slim["config"], json!({"ArgsEscaped": true}));
}

#[test]
fn same_input_serializes_to_the_same_bytes_and_digest() {
    let original = fixture("built-config.json");
    let first = serde_json::to_vec(&slim_config(&original, DIFF_ID, &[], "x")).unwrap();
    let second = serde_json::to_vec(&slim_config(&original, DIFF_ID, &[], "x")).unwrap();
    assert_eq!(first, second);
    assert_eq!(config_digest(&first), config_digest(&second));
    assert_eq!(config_digest(&first).len(), 64);
    let other = serde_json::to_vec(&slim_config(&original, DIFF_ID, &[], "y")).unwrap();
    assert_ne!(config_digest(&first), config_digest(&other));
}
