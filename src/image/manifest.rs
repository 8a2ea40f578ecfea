//! From an archive's index to one image: `manifest.json` (docker save), or
//! `index.json` → (nested index) → image manifest (OCI layout), choosing by
//! reference and platform. Media types and digests in the index are checked
//! here; the blobs' own bytes are checked as they are read.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::archive::Compression;
use super::platform::Platform;
use super::store::Store;
use super::verify::{invalid, sha256_hex, CheckedReader};

/// Largest metadata file (manifest, index, config) read into memory.
pub const MAX_METADATA_BYTES: u64 = 16 << 20;
/// How deep image indexes may nest.
const MAX_INDEX_DEPTH: usize = 4;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// What to pick when an archive holds more than one image.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// A tag (docker save) or `org.opencontainers.image.ref.name` (OCI).
    pub reference: Option<&'a str>,
    pub platform: &'a Platform,
}

/// One layer as the index names it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub name: String,
    /// Hex sha256 of the stored bytes, when the index gives it.
    pub digest: Option<String>,
    pub size: Option<u64>,
    /// The compression the media type declares (OCI only).
    pub declared: Option<Compression>,
    pub media_type: Option<String>,
}

/// The image chosen: where its config and layers are.
#[derive(Debug, Clone)]
pub struct Selected {
    pub config_name: String,
    pub config_digest: Option<String>,
    pub config_size: Option<u64>,
    pub layers: Vec<LayerRef>,
    pub repo_tags: Vec<String>,
    /// `sha256:<hex>` of the image manifest (OCI layouts).
    pub manifest_digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// `manifest.json` of `docker save`.
pub fn docker_save(store: &Store, want: Want) -> anyhow::Result<Selected> {
    let bytes = store.read("manifest.json", MAX_METADATA_BYTES)?;
    let entries: Vec<DockerEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("manifest.json is not a docker-save manifest: {e}")))?;
    let tags = |e: &DockerEntry| e.repo_tags.clone().unwrap_or_default();
    let entry = match (entries.as_slice(), want.reference) {
        ([], _) => return Err(invalid("manifest.json lists no image")),
        (_, Some(reference)) => entries
            .iter()
            .find(|e| tags(e).iter().any(|t| same_reference(t, reference)))
            .ok_or_else(|| {
                invalid(format!(
                    "the archive holds no image tagged {reference}; it has {}",
                    entries.iter().flat_map(tags).collect::<Vec<_>>().join(", ")
                ))
            })?,
        ([one], None) => one,
        (many, None) => {
            return Err(invalid(format!(
                "the archive holds {} images ({}); name one as docker-archive:PATH:TAG",
                many.len(),
                many.iter().flat_map(tags).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let digest_in = |name: &str| -> Option<String> {
        let hex = name
            .strip_prefix("blobs/sha256/")
            .or_else(|| name.strip_suffix(".json"))?;
        sha256_hex(&format!("sha256:{hex}"))
            .ok()
            .map(str::to_string)
    };
    Ok(Selected {
        config_digest: digest_in(&entry.config),
        config_name: entry.config.clone(),
        config_size: None,
        layers: entry
            .layers
            .iter()
            .map(|name| LayerRef {
                name: name.clone(),
                digest: digest_in(name).filter(|_| name.starts_with("blobs/")),
                size: None,
                declared: None,
                media_type: None,
            })
            .collect(),
        repo_tags: tags(entry),
        manifest_digest: None,
    })
}

fn same_reference(tag: &str, reference: &str) -> bool {
    let latest = |s: &str| match s.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        true => s.to_string(),
        false => format!("{s}:latest"),
    };
    latest(tag) == latest(reference)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<PlatformJson>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct PlatformJson {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl Descriptor {
    fn blob_name(&self) -> anyhow::Result<String> {
        Ok(format!("blobs/sha256/{}", sha256_hex(&self.digest)?))
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    fn platform(&self) -> Option<Platform> {
        self.platform
            .as_ref()
            .map(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref()))
    }

    fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// Attestations and signatures sit in indexes beside the images.
    fn is_attestation(&self) -> bool {
        self.annotation("vnd.docker.reference.type").is_some()
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }

    /// The blob it names, checked against its size and digest.
    fn read(&self, store: &Store, what: &str) -> anyhow::Result<Vec<u8>> {
        let name = self.blob_name()?;
        let located = store.locate(&name)?;
        if self.size > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "{what} {name} is implausibly large ({} bytes)",
                self.size
            )));
        }
        let bytes = located.read_all(&name, MAX_METADATA_BYTES)?;
        let mut checked = CheckedReader::new(
            &bytes[..],
            sha256_hex(&self.digest)?,
            Some(self.size),
            format!("{what} {name}"),
        );
        super::verify::drain(&mut checked)?;
        Ok(bytes)
    }
}

/// `index.json` of an OCI image layout.
pub fn oci_layout(store: &Store, want: Want) -> anyhow::Result<Selected> {
    let bytes = store.read("index.json", MAX_METADATA_BYTES)?;
    let mut index: Index = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("index.json is not an OCI image index: {e}")))?;
    let mut repo_tags = Vec::new();
    let mut reference = want.reference;
    for depth in 0..MAX_INDEX_DEPTH {
        let descriptor = choose(index.manifests, reference, want.platform, depth == 0)?;
        if let Some(name) = descriptor
            .annotation(CONTAINERD_NAME)
            .or(descriptor.annotation(REF_NAME))
        {
            repo_tags.push(name.to_string());
        }
        reference = None;
        let what = if descriptor.is_index() {
            "image index"
        } else {
            "image manifest"
        };
        let bytes = descriptor.read(store, what)?;
        if descriptor.is_index() {
            index = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("bad nested image index: {e}")))?;
            continue;
        }
        if descriptor.media_type != OCI_MANIFEST && descriptor.media_type != DOCKER_MANIFEST {
            return Err(invalid(format!(
                "the index names a {}, which is not an image manifest",
                descriptor.media_type
            )));
        }
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("bad image manifest: {e}")))?;
        return selected(manifest, repo_tags, &descriptor.digest);
    }
    Err(invalid("index.json nests image indexes too deeply"))
}

fn selected(
    manifest: Manifest,
    repo_tags: Vec<String>,
    manifest_digest: &str,
) -> anyhow::Result<Selected> {
    let config = &manifest.config;
    if !CONFIG_TYPES.contains(&config.media_type.as_str()) {
        return Err(invalid(format!(
            "the manifest's config has media type {}, which is not an image config \
             (an artifact, not a container image?)",
            config.media_type
        )));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (index, layer) in manifest.layers.iter().enumerate() {
        let declared = layer_compression(&layer.media_type).ok_or_else(|| {
            invalid(format!(
                "layer {} has media type {:?}, which is not an image layer rslim knows \
                 (tar, tar+gzip or tar+zstd, OCI or Docker)",
                index + 1,
                layer.media_type
            ))
        })?;
        layers.push(LayerRef {
            name: layer.blob_name()?,
            digest: Some(sha256_hex(&layer.digest)?.to_string()),
            size: Some(layer.size),
            declared: Some(declared),
            media_type: Some(layer.media_type.clone()),
        });
    }
    Ok(Selected {
        config_name: config.blob_name()?,
        config_digest: Some(sha256_hex(&config.digest)?.to_string()),
        config_size: Some(config.size),
        layers,
        repo_tags,
        manifest_digest: Some(manifest_digest.to_string()),
    })
}

/// The compression a layer media type declares; `None` for anything that
/// is not a filesystem layer (a Helm chart, an encrypted layer, a signature).
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    let base = media_type
        .strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.")
        .or_else(|| media_type.strip_prefix("application/vnd.oci.image.layer.v1."));
    match base {
        Some("tar") => return Some(Compression::None),
        Some("tar+gzip") => return Some(Compression::Gzip),
        Some("tar+zstd") => return Some(Compression::Zstd),
        Some(_) => return None,
        None => {}
    }
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        _ => None,
    }
}

/// The one descriptor of `manifests` to follow: by reference at the top
/// level, then by platform.
fn choose(
    manifests: Vec<Descriptor>,
    reference: Option<&str>,
    platform: &Platform,
    top: bool,
) -> anyhow::Result<Descriptor> {
    let mut candidates: Vec<Descriptor> = manifests
        .into_iter()
        .filter(|d| !d.is_attestation())
        .collect();
    if let Some(reference) = reference {
        let names: Vec<String> = candidates
            .iter()
            .filter_map(|d| d.annotation(REF_NAME).map(str::to_string))
            .collect();
        candidates.retain(|d| {
            d.annotation(REF_NAME) == Some(reference)
                || d.annotation(CONTAINERD_NAME)
                    .is_some_and(|name| same_reference(name, reference))
        });
        if candidates.is_empty() {
            return Err(invalid(format!(
                "the layout has no image named {reference}; it has {}",
                if names.is_empty() {
                    "no named images".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    if candidates.len() > 1 && candidates.iter().any(|d| d.platform.is_some()) {
        let offered: Vec<String> = candidates
            .iter()
            .filter_map(|d| d.platform().map(|p| p.to_string()))
            .collect();
        candidates.retain(|d| d.platform().is_none_or(|p| platform.matches(&p)));
        if candidates.is_empty() {
            return Err(invalid(format!(
                "the index has no image for {platform}; it has {} (choose with --platform)",
                offered.join(", ")
            )));
        }
    }
    match candidates.len() {
        0 => Err(invalid("the index lists no image")),
        1 => Ok(candidates.remove(0)),
        _ if top => Err(invalid(format!(
            "the layout holds {} images ({}); name one as oci:DIR:REF or oci-archive:PATH:REF",
            candidates.len(),
            candidates
                .iter()
                .map(|d| d.annotation(REF_NAME).unwrap_or(&d.digest).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        _ => Ok(candidates.remove(0)),
    }
}
