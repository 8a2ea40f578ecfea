//! Opens an image archive: the docker-save layout (`manifest.json`, as docker
//! 20.10 writes it) or the OCI image layout (`index.json`, as newer engines,
//! podman and skopeo write it). Both end as the same [`ImageArchive`]: the
//! config bytes and the layer blobs, in order, located inside one seekable file.
//!
//! Nothing is extracted: every later read is a positioned read into the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use oci_spec::image::{ImageIndex, ImageManifest};
use serde::Deserialize;

use super::config::ImageConfig;

/// Largest metadata file (manifest, index, config) we read into memory.
const MAX_METADATA_BYTES: u64 = 16 << 20;

/// How a layer blob is stored inside the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One layer blob: where it sits in the archive file.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Name inside the archive (`<id>/layer.tar` or `blobs/sha256/<hex>`).
    pub name: String,
    pub offset: u64,
    /// Stored (possibly compressed) size.
    pub stored_size: u64,
    pub compression: Compression,
}

/// An image archive opened for reading.
pub struct ImageArchive {
    file: Arc<File>,
    /// True for a `docker export` of a never-started container: one flat
    /// layer that also holds Docker's init layer (see [`super::export`]).
    pub container_export: bool,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    pub layers: Vec<LayerBlob>,
    pub repo_tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Location of one member of the outer tar.
#[derive(Debug, Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

impl ImageArchive {
    pub fn open(path: &Path) -> anyhow::Result<ImageArchive> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Self::from_file(file)
            .with_context(|| format!("{} is not a readable image archive", path.display()))
    }

    /// A container's filesystem as `docker export` writes it, for a
    /// container that never ran: the image's layers already merged, read as
    /// one flat layer. `config_bytes` is the image config document.
    pub fn from_flat_export(file: File, config_bytes: Vec<u8>) -> anyhow::Result<ImageArchive> {
        let stored_size = file.metadata()?.len();
        let config = ImageConfig::parse(&config_bytes).context("bad image config")?;
        Ok(ImageArchive {
            file: Arc::new(file),
            container_export: true,
            config_bytes,
            config,
            layers: vec![LayerBlob {
                name: "container export".into(),
                offset: 0,
                stored_size,
                compression: Compression::None,
            }],
            repo_tags: Vec::new(),
        })
    }

    /// Index an archive already open (e.g. a spooled `docker save`).
    pub fn from_file(mut file: File) -> anyhow::Result<ImageArchive> {
        file.seek(SeekFrom::Start(0))?;
        let members = index_members(&mut file)?;
        let file = Arc::new(file);
        let read_member = |name: &str| -> anyhow::Result<Vec<u8>> {
            let member = members
                .get(name)
                .ok_or_else(|| anyhow!("the archive has no {name}"))?;
            if member.size > MAX_METADATA_BYTES {
                bail!("{name} is implausibly large ({} bytes)", member.size);
            }
            let mut bytes = vec![0; member.size as usize];
            file.read_exact_at(&mut bytes, member.offset)?;
            Ok(bytes)
        };

        let (config_name, layer_names, repo_tags) = if members.contains_key("manifest.json") {
            let manifest: Vec<DockerManifestEntry> =
                serde_json::from_slice(&read_member("manifest.json")?)
                    .context("manifest.json is not a docker-save manifest")?;
            let entry = match manifest.as_slice() {
                [one] => one,
                [] => bail!("manifest.json lists no image"),
                _ => bail!(
                    "the archive holds {} images; rslim reads archives of one image",
                    manifest.len()
                ),
            };
            (
                entry.config.clone(),
                entry.layers.clone(),
                entry.repo_tags.clone().unwrap_or_default(),
            )
        } else if members.contains_key("index.json") {
            oci_layout_names(&read_member)?
        } else {
            bail!("neither manifest.json (docker save) nor index.json (OCI layout) found");
        };

        let config_bytes = read_member(&config_name)?;
        let config = ImageConfig::parse(&config_bytes)
            .with_context(|| format!("bad image config {config_name}"))?;
        let mut layers = Vec::with_capacity(layer_names.len());
        for name in layer_names {
            let member = *members.get(&name).ok_or_else(|| {
                anyhow!("the manifest names layer {name}, which the archive lacks")
            })?;
            let compression = sniff_compression(&file, member)?;
            layers.push(LayerBlob {
                name,
                offset: member.offset,
                stored_size: member.size,
                compression,
            });
        }
        Ok(ImageArchive {
            file,
            container_export: false,
            config_bytes,
            config,
            layers,
            repo_tags,
        })
    }

    pub(super) fn shared_file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// The raw (possibly compressed) bytes of layer `index`.
    pub fn layer_blob(&self, index: usize) -> BlobReader {
        let blob = &self.layers[index];
        BlobReader::new(self.file.clone(), blob.offset, blob.stored_size)
    }

    /// The uncompressed tar stream of layer `index`.
    pub fn layer_stream(&self, index: usize) -> anyhow::Result<Box<dyn Read + Send>> {
        let blob = self.layer_blob(index);
        Ok(match self.layers[index].compression {
            Compression::None => Box::new(blob),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
                256 << 10,
                blob,
            ))),
            Compression::Zstd => bail!(
                "layer {} is zstd-compressed, which rslim cannot read yet; re-save it with gzip or uncompressed layers",
                self.layers[index].name
            ),
        })
    }
}

/// Walk the outer tar once, recording where each member's data starts. Data
/// is skipped with seeks, so a 1 GB archive costs only its headers.
fn index_members(file: &mut File) -> anyhow::Result<HashMap<String, Member>> {
    let mut archive = tar::Archive::new(&mut *file);
    let mut members = HashMap::new();
    for entry in archive.entries_with_seek()? {
        let entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .to_string();
        members.insert(
            name,
            Member {
                offset: entry.raw_file_position(),
                size: entry.size(),
            },
        );
    }
    Ok(members)
}

type NameReader<'a> = dyn Fn(&str) -> anyhow::Result<Vec<u8>> + 'a;

/// Follow index.json → (nested index) → manifest to the config and layers.
fn oci_layout_names(
    read_member: &NameReader,
) -> anyhow::Result<(String, Vec<String>, Vec<String>)> {
    let blob_name = |digest: &oci_spec::image::Digest| {
        format!("blobs/{}/{}", digest.algorithm(), digest.digest())
    };
    let mut index: ImageIndex =
        serde_json::from_slice(&read_member("index.json")?).context("bad index.json")?;
    let mut repo_tags = Vec::new();
    for _depth in 0..4 {
        let descriptor = index
            .manifests()
            .iter()
            .find(|d| {
                d.platform()
                    .as_ref()
                    .is_none_or(|p| p.os().to_string() == "linux")
            })
            .ok_or_else(|| anyhow!("index.json lists no linux image"))?
            .clone();
        if let Some(name) = descriptor.annotations().as_ref().and_then(|a| {
            a.get("io.containerd.image.name")
                .or(a.get("org.opencontainers.image.ref.name"))
        }) {
            repo_tags.push(name.clone());
        }
        let bytes = read_member(&blob_name(descriptor.digest()))?;
        let media = descriptor.media_type().to_string();
        if media.contains("index") || media.contains("manifest.list") {
            index = serde_json::from_slice(&bytes).context("bad nested image index")?;
            continue;
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).context("bad image manifest")?;
        let layers = manifest
            .layers()
            .iter()
            .map(|l| blob_name(l.digest()))
            .collect();
        return Ok((blob_name(manifest.config().digest()), layers, repo_tags));
    }
    bail!("index.json nests image indexes too deeply")
}

fn sniff_compression(file: &File, member: Member) -> io::Result<Compression> {
    let mut magic = [0u8; 4];
    let n = member.size.min(4) as usize;
    file.read_exact_at(&mut magic[..n], member.offset)?;
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
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "image archive is truncated",
            ));
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
