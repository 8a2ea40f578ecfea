//! Opens an image archive: the docker-save layout (`manifest.json`, as docker
//! 20.10 writes it), the OCI image layout (`index.json`, as newer engines,
//! podman and skopeo write it) in a tar, or an OCI layout directory. All end
//! as the same [`ImageArchive`]: the config bytes and the layer blobs, in
//! order, each located inside an open file ([`super::store`]).
//!
//! Nothing is extracted: every later read is a positioned read into a file.
//! An archive the user gave is checked against itself: the index's names,
//! sizes and media types when it is opened, the blobs' digests and the
//! config's `diff_ids` the first time each layer is read through
//! [`super::layer::visit_layer`] or [`ImageArchive::checked_blob`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

use super::config::ImageConfig;
use super::manifest::{self, Want, MAX_METADATA_BYTES};
use super::platform::Platform;
use super::store::Store;
use super::verify::{invalid, sha256_hex, CheckedReader};
use crate::output::digest::sha256_hex as hex_of;

/// How a layer blob is stored inside the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn describe(self) -> &'static str {
        match self {
            Compression::None => "an uncompressed tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// One layer blob: where it sits, and what it must hash to.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Name inside the archive (`<id>/layer.tar` or `blobs/sha256/<hex>`).
    pub name: String,
    file: Arc<File>,
    pub offset: u64,
    /// Stored (possibly compressed) size.
    pub stored_size: u64,
    pub compression: Compression,
    /// Hex sha256 of the stored bytes, when the index names it.
    pub digest: Option<String>,
    /// Hex sha256 of the uncompressed tar: the config's `diff_ids` entry.
    pub diff_id: Option<String>,
}

/// Which index to read when an archive has both (docker 25's `docker save`
/// writes `manifest.json` and `index.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `manifest.json` when present, else `index.json`.
    Any,
    DockerSave,
    Oci,
}

/// How to open an archive, and which of its images to take.
#[derive(Debug, Clone)]
pub struct Selection {
    pub format: Format,
    pub reference: Option<String>,
    pub platform: Platform,
    /// Check digests and `diff_ids`: on for every archive a user gives,
    /// off for what the engine itself hands over.
    pub verify: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            format: Format::Any,
            reference: None,
            platform: Platform::host(),
            verify: true,
        }
    }
}

/// An image archive opened for reading.
pub struct ImageArchive {
    /// True for a `docker export` of a never-started container: one flat
    /// layer that also holds Docker's init layer (see [`super::export`]).
    pub container_export: bool,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    pub layers: Vec<LayerBlob>,
    pub repo_tags: Vec<String>,
    /// `sha256:<hex>` of the image manifest, for OCI layouts.
    pub manifest_digest: Option<String>,
    verify: bool,
    /// Layers whose digests have been checked by a full read.
    checked: Vec<AtomicBool>,
}

impl ImageArchive {
    /// A docker-save or OCI archive file, any format, for this host's platform.
    pub fn open(path: &Path) -> anyhow::Result<ImageArchive> {
        Self::open_file(path, &Selection::default())
    }

    pub fn open_file(path: &Path, selection: &Selection) -> anyhow::Result<ImageArchive> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Self::from_tar(file, selection)
            .with_context(|| format!("{} is not a usable image archive", path.display()))
    }

    /// A docker-save or OCI archive in an open file.
    pub fn from_tar(file: File, selection: &Selection) -> anyhow::Result<ImageArchive> {
        Self::from_store(&Store::tar(file)?, selection)
    }

    /// An OCI image layout directory.
    pub fn open_layout(dir: &Path, selection: &Selection) -> anyhow::Result<ImageArchive> {
        let store = Store::dir(dir)?;
        let selection = Selection {
            format: Format::Oci,
            ..selection.clone()
        };
        check_layout_marker(&store)
            .and_then(|()| Self::from_store(&store, &selection))
            .with_context(|| format!("{} is not a usable OCI image layout", dir.display()))
    }

    /// A container's filesystem as `docker export` writes it, for a
    /// container that never ran: the image's layers already merged, read as
    /// one flat layer. `config_bytes` is the image config document.
    pub fn from_flat_export(file: File, config_bytes: Vec<u8>) -> anyhow::Result<ImageArchive> {
        let stored_size = file.metadata()?.len();
        let config = ImageConfig::parse(&config_bytes).context("bad image config")?;
        Ok(ImageArchive {
            container_export: true,
            config_bytes,
            config,
            layers: vec![LayerBlob {
                name: "container export".into(),
                file: Arc::new(file),
                offset: 0,
                stored_size,
                compression: Compression::None,
                digest: None,
                diff_id: None,
            }],
            repo_tags: Vec::new(),
            manifest_digest: None,
            verify: false,
            checked: vec![AtomicBool::new(false)],
        })
    }

    /// Indexes an archive the engine wrote (a spooled `docker save`): its
    /// digests are the engine's own, so they are not checked again.
    pub fn from_file(file: File) -> anyhow::Result<ImageArchive> {
        let selection = Selection {
            verify: false,
            ..Selection::default()
        };
        Self::from_store(&Store::tar(file)?, &selection)
    }

    fn from_store(store: &Store, selection: &Selection) -> anyhow::Result<ImageArchive> {
        let want = Want {
            reference: selection.reference.as_deref(),
            platform: &selection.platform,
        };
        let docker_save = match selection.format {
            Format::DockerSave => true,
            Format::Oci => false,
            Format::Any => store.contains("manifest.json") || !store.contains("index.json"),
        };
        let chosen = match docker_save {
            true if !store.contains("manifest.json") => {
                return Err(invalid(match store.contains("index.json") {
                    true => "no manifest.json: this is an OCI archive; read it as oci-archive:PATH",
                    false => {
                        "neither manifest.json (docker save) nor index.json (OCI layout) found"
                    }
                }))
            }
            true => manifest::docker_save(store, want)?,
            false => manifest::oci_layout(store, want)?,
        };
        let config_bytes = store.read(&chosen.config_name, MAX_METADATA_BYTES)?;
        let config_hex = hex_of(&config_bytes);
        if selection.verify {
            if let Some(expected) = &chosen.config_digest {
                if *expected != config_hex {
                    return Err(invalid(format!(
                        "the config {} does not match its digest: expected sha256:{expected}, read sha256:{config_hex}",
                        chosen.config_name
                    )));
                }
            }
            if let Some(size) = chosen
                .config_size
                .filter(|&s| s != config_bytes.len() as u64)
            {
                return Err(invalid(format!(
                    "the config {} is {} bytes, its descriptor says {size}",
                    chosen.config_name,
                    config_bytes.len()
                )));
            }
        }
        let config = ImageConfig::parse(&config_bytes)
            .map_err(|e| invalid(format!("bad image config {}: {e}", chosen.config_name)))?;
        if selection.verify && config.diff_ids.len() != chosen.layers.len() {
            return Err(invalid(format!(
                "the config lists {} layers (rootfs.diff_ids), the manifest {}",
                config.diff_ids.len(),
                chosen.layers.len()
            )));
        }
        let mut layers = Vec::with_capacity(chosen.layers.len());
        for (index, layer) in chosen.layers.iter().enumerate() {
            let what = format!("layer {} ({})", index + 1, crate::escape::text(&layer.name));
            let located = store.locate(&layer.name).with_context(|| what.clone())?;
            if let Some(size) = layer.size.filter(|&s| s != located.size) {
                return Err(invalid(format!(
                    "{what} is {} bytes, the manifest says {size}: the blob is truncated or replaced",
                    located.size
                )));
            }
            let sniffed = sniff_compression(&located.file, located.offset, located.size)?;
            if layer.declared.is_some_and(|declared| declared != sniffed) {
                return Err(invalid(format!(
                    "{what} has media type {} but is stored as {}",
                    layer.media_type.as_deref().unwrap_or("?"),
                    sniffed.describe()
                )));
            }
            let diff_id = match config.diff_ids.get(index) {
                Some(id) if selection.verify => {
                    Some(sha256_hex(id).with_context(|| what.clone())?.to_string())
                }
                Some(id) => sha256_hex(id).ok().map(str::to_string),
                None => None,
            };
            if selection.verify && sniffed == Compression::None {
                if let (Some(digest), Some(diff_id)) = (&layer.digest, &diff_id) {
                    if digest != diff_id {
                        return Err(invalid(format!(
                            "{what} is an uncompressed tar, so its digest sha256:{digest} must equal \
                             its diff_id sha256:{diff_id}"
                        )));
                    }
                }
            }
            layers.push(LayerBlob {
                name: layer.name.clone(),
                file: located.file,
                offset: located.offset,
                stored_size: located.size,
                compression: sniffed,
                digest: layer.digest.clone(),
                diff_id,
            });
        }
        Ok(ImageArchive {
            container_export: false,
            checked: layers.iter().map(|_| AtomicBool::new(false)).collect(),
            config_bytes,
            config,
            layers,
            repo_tags: chosen.repo_tags,
            manifest_digest: chosen.manifest_digest,
            verify: selection.verify,
        })
    }

    /// `sha256:<hex>` of the config: the image ID an engine gives it.
    pub fn image_id(&self) -> String {
        format!("sha256:{}", hex_of(&self.config_bytes))
    }

    /// Whether the archive's digests are checked as it is read.
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// Whether layer `index` still has digests to check on its first full read.
    pub fn needs_check(&self, index: usize) -> bool {
        let blob = &self.layers[index];
        self.verify
            && (blob.digest.is_some() || blob.diff_id.is_some())
            && !self.checked[index].load(Ordering::Relaxed)
    }

    pub(super) fn mark_checked(&self, index: usize) {
        self.checked[index].store(true, Ordering::Relaxed);
    }

    /// The file that holds layer `index` (at its `offset`).
    pub(super) fn layer_blob_file(&self, index: usize) -> Arc<File> {
        self.layers[index].file.clone()
    }

    /// The raw (possibly compressed) bytes of layer `index`, unchecked.
    pub fn layer_blob(&self, index: usize) -> BlobReader {
        let blob = &self.layers[index];
        BlobReader::new(blob.file.clone(), blob.offset, blob.stored_size)
    }

    /// The stored bytes of layer `index`, failing at their end unless they
    /// match the blob digest (or, uncompressed, the diff_id).
    pub fn checked_blob(&self, index: usize) -> Box<dyn Read + Send> {
        let blob = &self.layers[index];
        let raw = self.layer_blob(index);
        let expected = blob.digest.as_ref().or(match blob.compression {
            Compression::None => blob.diff_id.as_ref(),
            _ => None,
        });
        match expected.filter(|_| self.verify) {
            Some(hex) => Box::new(CheckedReader::new(
                raw,
                hex,
                Some(blob.stored_size),
                "the stored blob".into(),
            )),
            None => Box::new(raw),
        }
    }

    /// The uncompressed tar stream of layer `index`. When the archive is
    /// checked, the stream fails at its end unless the stored bytes match
    /// their digest and the tar matches its diff_id.
    pub fn layer_stream(&self, index: usize) -> anyhow::Result<Box<dyn Read + Send>> {
        let blob = &self.layers[index];
        let stored: Box<dyn Read + Send> = match (&blob.digest, self.verify) {
            (Some(hex), true) => Box::new(CheckedReader::new(
                self.layer_blob(index),
                hex,
                Some(blob.stored_size),
                "the stored blob".into(),
            )),
            _ => Box::new(self.layer_blob(index)),
        };
        let tar: Box<dyn Read + Send> = match blob.compression {
            Compression::None => stored,
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::with_capacity(256 << 10, stored),
            )),
            Compression::Zstd => {
                return Err(invalid(format!(
                    "layer {} is zstd-compressed, which rslim cannot read yet; re-save it with gzip or uncompressed layers",
                    blob.name
                )))
            }
        };
        // An uncompressed blob with a digest was checked just above.
        let tar_checked_already = blob.compression == Compression::None && blob.digest.is_some();
        Ok(match (&blob.diff_id, self.verify && !tar_checked_already) {
            (Some(hex), true) => Box::new(CheckedReader::new(
                tar,
                hex,
                None,
                "the uncompressed tar (its diff_id)".into(),
            )),
            _ => tar,
        })
    }
}

/// An OCI layout announces itself with `oci-layout`.
fn check_layout_marker(store: &Store) -> anyhow::Result<()> {
    let bytes = store
        .read("oci-layout", 4096)
        .map_err(|_| invalid("there is no oci-layout file"))?;
    let version = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_string));
    match version.as_deref() {
        Some(v) if v.starts_with("1.") => Ok(()),
        other => Err(invalid(format!(
            "oci-layout names layout version {other:?}; rslim reads version 1"
        ))),
    }
}

fn sniff_compression(file: &File, offset: u64, size: u64) -> io::Result<Compression> {
    let mut magic = [0u8; 4];
    let n = size.min(4) as usize;
    file.read_exact_at(&mut magic[..n], offset)?;
    Ok(match magic {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// A window `[offset, offset + len)` of a shared file, read with positioned
/// reads so many readers can share one descriptor.
pub struct BlobReader {
    file: Arc<File>,
    start: u64,
    len: u64,
    pos: u64,
}

impl BlobReader {
    pub fn new(file: Arc<File>, start: u64, len: u64) -> Self {
        BlobReader {
            file,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.len - self.pos;
        if remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(remaining as usize);
        let n = self.file.read_at(&mut buf[..want], self.start + self.pos)?;
        if n == 0 {
            return Err(super::verify::invalid_io("the image archive is truncated"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        match target {
            Some(n) if n <= self.len => {
                self.pos = n;
                Ok(n)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the layer",
            )),
        }
    }
}

#[cfg(test)]
mod tests;
