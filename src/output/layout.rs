//! The slim image as an OCI image layout: a directory (`oci:DIR`) or a tar of
//! one (`oci-archive:PATH`), with the same files either way:
//!
//! ```text
//! blobs/sha256/<hex>   config, gzip layer, manifest
//! index.json           one manifest, named by ref.name and containerd's image name
//! manifest.json        the docker-save index over the same blobs, so `docker load`
//!                      (also before Docker 25, which reads no index.json) takes it
//! oci-layout           {"imageLayoutVersion": "1.0.0"}
//! ```
//!
//! The tar form is deterministic: fixed order, owner 0:0, fixed modes, one
//! mtime ([`super::epoch::chosen_mtime`]).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use tar::{Builder, EntryType};

use super::oci::{descriptor, Blob, OciImage, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use super::tar_header::{append_entry, EntrySpec, ExactReader};
use crate::image::node::NodeMeta;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// How the layout names its image.
#[derive(Debug, Clone, Default)]
pub struct LayoutNames {
    /// The slim tags; the first names the image in `index.json`, all go
    /// into `manifest.json` for `docker load`.
    pub tags: Vec<String>,
    /// `org.opencontainers.image.ref.name`; default: the first tag's tag.
    pub reference: Option<String>,
}

/// One file of the layout.
enum Content<'a> {
    Bytes(Vec<u8>),
    Blob(&'a Blob),
}

fn files<'a>(image: &'a OciImage, names: &LayoutNames) -> Vec<(String, Content<'a>)> {
    let mut blobs: Vec<&Blob> = image.layers.iter().collect();
    blobs.push(&image.config);
    let manifest = image.manifest_blob();
    let mut files: Vec<(String, Content)> = Vec::new();
    let mut by_name: Vec<(String, Content)> = blobs
        .into_iter()
        .map(|blob| (format!("blobs/sha256/{}", blob.hex()), Content::Blob(blob)))
        .collect();
    by_name.push((
        format!("blobs/sha256/{}", manifest.hex()),
        Content::Bytes(image.manifest.clone()),
    ));
    by_name.sort_by(|a, b| a.0.cmp(&b.0));
    by_name.dedup_by(|a, b| a.0 == b.0);
    files.extend(by_name);
    files.push((
        "index.json".into(),
        Content::Bytes(json_bytes(&index(image, names))),
    ));
    files.push((
        "manifest.json".into(),
        Content::Bytes(json_bytes(&docker_manifest(image, names))),
    ));
    files.push((
        "oci-layout".into(),
        Content::Bytes(json_bytes(&json!({"imageLayoutVersion": "1.0.0"}))),
    ));
    files
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serializes")
}

fn index(image: &OciImage, names: &LayoutNames) -> Value {
    let mut entry = descriptor(&image.manifest_blob());
    entry["mediaType"] = json!(MANIFEST_MEDIA_TYPE);
    let mut annotations = serde_json::Map::new();
    if let Some(tag) = names.tags.first() {
        annotations.insert(CONTAINERD_NAME.into(), json!(qualified(tag)));
    }
    let reference = names
        .reference
        .clone()
        .or_else(|| names.tags.first().map(|t| tag_part(t).to_string()));
    if let Some(reference) = reference {
        annotations.insert(REF_NAME.into(), json!(reference));
    }
    if !annotations.is_empty() {
        entry["annotations"] = Value::Object(annotations);
    }
    if let Some(platform) = platform(image) {
        entry["platform"] = platform;
    }
    json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [entry],
    })
}

/// The config's platform, for the index entry.
fn platform(image: &OciImage) -> Option<Value> {
    let super::oci::BlobSource::Memory(bytes) = &image.config.source else {
        return None;
    };
    let config: Value = serde_json::from_slice(bytes).ok()?;
    let mut platform = serde_json::Map::new();
    for field in ["architecture", "os", "variant"] {
        if let Some(value) = config
            .get(field)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            platform.insert(field.into(), value.clone());
        }
    }
    (platform.contains_key("architecture") && platform.contains_key("os"))
        .then_some(Value::Object(platform))
}

fn docker_manifest(image: &OciImage, names: &LayoutNames) -> Value {
    json!([{
        "Config": format!("blobs/sha256/{}", image.config.hex()),
        "RepoTags": names.tags.iter().map(|t| with_tag(t)).collect::<Vec<_>>(),
        "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
    }])
}

fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (name, None),
    }
}

fn tag_part(name: &str) -> &str {
    split_tag(name).1.unwrap_or("latest")
}

fn with_tag(name: &str) -> String {
    let (repo, tag) = split_tag(name);
    format!("{repo}:{}", tag.unwrap_or("latest"))
}

/// `nginx:1` → `docker.io/library/nginx:1`, as containerd names images.
fn qualified(name: &str) -> String {
    let name = with_tag(name);
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_registry, name.contains('/')) {
        (true, _) => name,
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    }
}

/// Writes the layout as a tar to `out`.
pub fn write_oci_archive<W: Write>(
    image: &OciImage,
    names: &LayoutNames,
    mtime: u64,
    out: W,
) -> io::Result<W> {
    let mut builder = Builder::new(out);
    let meta = |mode| NodeMeta {
        mode,
        mtime,
        ..NodeMeta::default()
    };
    for dir in ["blobs/", "blobs/sha256/"] {
        let spec = EntrySpec {
            name: dir.as_bytes(),
            entry_type: EntryType::Directory,
            link_name: None,
            size: 0,
            device: None,
            meta: &meta(0o755),
        };
        append_entry(&mut builder, &spec, io::empty())?;
    }
    for (name, content) in files(image, names) {
        let (size, reader): (u64, Box<dyn io::Read>) = match &content {
            Content::Bytes(bytes) => (bytes.len() as u64, Box::new(&bytes[..])),
            Content::Blob(blob) => (blob.size, blob.open()?),
        };
        let spec = EntrySpec {
            name: name.as_bytes(),
            entry_type: EntryType::Regular,
            link_name: None,
            size,
            device: None,
            meta: &meta(0o644),
        };
        append_entry(&mut builder, &spec, ExactReader::new(reader, size))?;
    }
    builder.into_inner()
}

/// Writes the layout's files into `dir`, which must exist and be empty.
/// `mtime` (from `SOURCE_DATE_EPOCH`) is given to every file when set.
pub fn write_oci_dir(
    image: &OciImage,
    names: &LayoutNames,
    mtime: Option<u64>,
    dir: &Path,
    wrap: &dyn Fn(fs::File) -> Box<dyn Write>,
) -> io::Result<()> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    for (name, content) in files(image, names) {
        let path = dir.join(&name);
        let file = fs::File::create(&path)?;
        let mut out = io::BufWriter::with_capacity(256 << 10, wrap(file.try_clone()?));
        match &content {
            Content::Bytes(bytes) => out.write_all(bytes)?,
            Content::Blob(blob) => {
                io::copy(&mut ExactReader::new(blob.open()?, blob.size), &mut out)?;
            }
        }
        out.flush()?;
        drop(out);
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        if let Some(mtime) = mtime {
            file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))?;
        }
        file.sync_all()?;
    }
    for sub in [dir.join("blobs"), blobs, dir.to_path_buf()] {
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
