//! The slim image's config: the original's runtime settings over the one new
//! layer, with nothing left over from the build containers.

use serde_json::{json, Map, Value};

use super::digest::sha256_hex;

/// Fields of `config` that describe how the image runs, carried over as they
/// are. `OnBuild` is deliberately absent: its triggers run in a child build
/// against the original filesystem (package managers, build tools), which the
/// slim image no longer has. Everything else in `config` (Hostname, Image,
/// AttachStdin, ...) is a leftover of the container the image was committed from.
const CARRIED_CONFIG_FIELDS: &[&str] = &[
    "Entrypoint",
    "Cmd",
    "Env",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "ArgsEscaped",
];

/// Top-level fields naming the platform and author, carried when present.
const CARRIED_TOP_LEVEL_FIELDS: &[&str] =
    &["architecture", "os", "variant", "os.version", "author"];

/// What the single history entry says created the layer.
const CREATED_BY: &str = "rslim build";

/// Builds the slim image's config from the original image config JSON (as
/// found in a docker-save archive) and the new layer's `diff_id`.
///
/// `extra_labels` are added to the original labels, replacing any with the
/// same key. `source` names the original image in the history comment.
/// `created` is the original's, so the same input gives the same image ID.
pub fn slim_config(
    original: &Value,
    diff_id: &str,
    extra_labels: &[(String, String)],
    source: &str,
) -> Value {
    let mut slim = Map::new();
    for &field in CARRIED_TOP_LEVEL_FIELDS {
        if let Some(value) = present(original.get(field)) {
            slim.insert(field.to_owned(), value.clone());
        }
    }
    slim.insert(
        "config".to_owned(),
        Value::Object(runtime_config(original.get("config"), extra_labels)),
    );

    let created = present(original.get("created")).cloned();
    let mut history_entry = Map::new();
    if let Some(created) = &created {
        slim.insert("created".to_owned(), created.clone());
        history_entry.insert("created".to_owned(), created.clone());
    }
    history_entry.insert("created_by".to_owned(), json!(CREATED_BY));
    history_entry.insert(
        "comment".to_owned(),
        json!(format!("slimmed from {source}")),
    );
    slim.insert("history".to_owned(), json!([history_entry]));
    slim.insert(
        "rootfs".to_owned(),
        json!({ "type": "layers", "diff_ids": [diff_id] }),
    );
    Value::Object(slim)
}

/// Sets the config's `created` and its history entry's to `created` (an
/// RFC 3339 time): `SOURCE_DATE_EPOCH` replaces the original's time.
pub fn set_created(config: &mut Value, created: &str) {
    config["created"] = json!(created);
    if let Some(history) = config["history"].as_array_mut() {
        for entry in history {
            entry["created"] = json!(created);
        }
    }
}

/// sha256 hex of the serialized config: the image ID `docker load` reports.
pub fn config_digest(config_bytes: &[u8]) -> String {
    sha256_hex(config_bytes)
}

fn runtime_config(
    original: Option<&Value>,
    extra_labels: &[(String, String)],
) -> Map<String, Value> {
    let mut config = Map::new();
    for &field in CARRIED_CONFIG_FIELDS {
        if let Some(value) = present(original.and_then(|c| c.get(field))) {
            config.insert(field.to_owned(), value.clone());
        }
    }
    if !extra_labels.is_empty() {
        let labels = config
            .entry("Labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Value::Object(labels) = labels {
            for (key, value) in extra_labels {
                labels.insert(key.clone(), Value::String(value.clone()));
            }
        }
    }
    config
}

/// Docker writes unset fields as `null` or `""`; both mean "not set".
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null() && v.as_str() != Some(""))
}

#[cfg(test)]
mod tests;
