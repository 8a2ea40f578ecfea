//! The docker-save archive (the layout `docker save` writes and `docker load`
//! reads): config, one layer directory, `manifest.json`, `repositories`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};
use tar::{Builder, EntryType};

use super::config::config_digest;
use super::digest::HashingReader;
use super::tar_header::{append_entry, EntrySpec, ExactReader};
use crate::image::node::NodeMeta;

/// Writes a docker-save archive of one image to `out`.
///
/// `config_bytes` is the serialized image config (its sha256 is the image
/// ID); its `rootfs.diff_ids` must name exactly the layer in `layer_tar`,
/// which is streamed from disk and checked against that digest. Tags without
/// a `:tag` part get `:latest`. All entries have mtime 0 and fixed modes, so
/// the archive depends only on its inputs.
pub fn write_docker_archive<W: Write>(
    config_bytes: &[u8],
    layer_tar: &Path,
    repo_tags: &[String],
    out: W,
) -> io::Result<()> {
    let config: Value = serde_json::from_slice(config_bytes)
        .map_err(|e| invalid_data(format!("image config is not JSON: {e}")))?;
    let layer_hex = single_layer_hex(&config)?;
    let config_name = format!("{}.json", config_digest(config_bytes));
    let layer_dir = format!("{layer_hex}/");
    let layer_path = format!("{layer_hex}/layer.tar");
    let repo_tags: Vec<String> = repo_tags.iter().map(|t| with_tag(t)).collect();

    let mut builder = Builder::new(out);
    append_bytes(&mut builder, config_name.as_bytes(), config_bytes)?;
    append_dir(&mut builder, layer_dir.as_bytes())?;
    append_bytes(
        &mut builder,
        format!("{layer_dir}VERSION").as_bytes(),
        b"1.0",
    )?;
    let legacy_json = serde_json::to_vec(&legacy_layer_json(&config, &layer_hex))?;
    append_bytes(
        &mut builder,
        format!("{layer_dir}json").as_bytes(),
        &legacy_json,
    )?;
    append_layer(&mut builder, layer_path.as_bytes(), layer_tar, &layer_hex)?;

    let manifest = json!([{
        "Config": config_name,
        "RepoTags": repo_tags,
        "Layers": [layer_path],
    }]);
    append_bytes(
        &mut builder,
        b"manifest.json",
        &serde_json::to_vec(&manifest)?,
    )?;
    let repositories = serde_json::to_vec(&repositories(&repo_tags, &layer_hex))?;
    append_bytes(&mut builder, b"repositories", &repositories)?;
    builder.into_inner()?.flush()
}

/// The hex digest of the config's only layer.
fn single_layer_hex(config: &Value) -> io::Result<String> {
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| invalid_data("image config has no rootfs.diff_ids".to_owned()))?;
    let [diff_id] = diff_ids.as_slice() else {
        return Err(invalid_data(format!(
            "image config lists {} layers, the slim image has exactly one",
            diff_ids.len()
        )));
    };
    diff_id
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .ok_or_else(|| invalid_data(format!("diff_id {diff_id} is not a sha256 digest")))
}

/// `name` with `:latest` added when it has no tag (a `:` after the last `/`).
fn with_tag(name: &str) -> String {
    let last_part = name.rsplit('/').next().unwrap_or(name);
    if last_part.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

/// `{"repo": {"tag": "<layer id>"}}`, the pre-manifest way of naming tags.
fn repositories(
    repo_tags: &[String],
    layer_hex: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for repo_tag in repo_tags {
        if let Some((repo, tag)) = repo_tag.rsplit_once(':') {
            repositories
                .entry(repo.to_owned())
                .or_default()
                .insert(tag.to_owned(), layer_hex.to_owned());
        }
    }
    repositories
}

/// The legacy per-layer `json` that `docker save` still writes next to each
/// layer; `docker load` reads `manifest.json` instead, older tools read this.
fn legacy_layer_json(config: &Value, layer_hex: &str) -> Value {
    let mut legacy = json!({ "id": layer_hex });
    for field in ["created", "os", "architecture", "config"] {
        if let Some(value) = config.get(field) {
            legacy[field] = value.clone();
        }
    }
    legacy
}

fn append_layer<W: Write>(
    builder: &mut Builder<W>,
    name: &[u8],
    layer_tar: &Path,
    layer_hex: &str,
) -> io::Result<()> {
    let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", layer_tar.display()));
    let file = File::open(layer_tar).map_err(context)?;
    let size = file.metadata().map_err(context)?.len();
    let mut hashing = HashingReader::new(ExactReader::new(file, size));
    let meta = fixed_meta(0o644);
    let spec = EntrySpec {
        name,
        entry_type: EntryType::Regular,
        link_name: None,
        size,
        device: None,
        meta: &meta,
    };
    append_entry(builder, &spec, &mut hashing).map_err(context)?;
    let actual = hashing.hex_digest();
    if actual != layer_hex {
        return Err(invalid_data(format!(
            "{} has sha256 {actual} but the config names {layer_hex}; write the config from this layer's summary",
            layer_tar.display()
        )));
    }
    Ok(())
}

fn append_bytes<W: Write>(builder: &mut Builder<W>, name: &[u8], data: &[u8]) -> io::Result<()> {
    let meta = fixed_meta(0o644);
    let spec = EntrySpec {
        name,
        entry_type: EntryType::Regular,
        link_name: None,
        size: data.len() as u64,
        device: None,
        meta: &meta,
    };
    append_entry(builder, &spec, data)
}

fn append_dir<W: Write>(builder: &mut Builder<W>, name: &[u8]) -> io::Result<()> {
    let meta = fixed_meta(0o755);
    let spec = EntrySpec {
        name,
        entry_type: EntryType::Directory,
        link_name: None,
        size: 0,
        device: None,
        meta: &meta,
    };
    append_entry(builder, &spec, io::empty())
}

/// Root-owned, mtime 0 (or `SOURCE_DATE_EPOCH`): nothing about the host or
/// the clock leaks in.
fn fixed_meta(mode: u32) -> NodeMeta {
    NodeMeta {
        mode,
        mtime: super::epoch::chosen_mtime(),
        ..NodeMeta::default()
    }
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests;
