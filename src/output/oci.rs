//! The slim image in OCI form: the blobs and the image manifest that OCI
//! layouts, OCI archives and registries store. Built by the writer, read by
//! the archive writers and the registry push.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use serde_json::{json, Value};

use super::digest::{sha256_hex, HashingWriter};

/// OCI media types (image-spec `media-types.md`).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Where a blob's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    Memory(Vec<u8>),
    /// A file that holds exactly the blob's bytes.
    File(PathBuf),
}

/// One content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    pub size: u64,
    pub source: BlobSource,
}

/// A single-platform image: config, layers, and the manifest that names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImage {
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// The image manifest, serialized exactly as stored and pushed.
    pub manifest: Vec<u8>,
    /// `sha256:<hex>` of [`OciImage::manifest`].
    pub manifest_digest: String,
}

/// gzip level of OCI layers. Level 2 makes the nginx example's slim layer
/// 44% of its size in 0.14 s; level 6 (gzip's default) makes it 41% in
/// 0.59 s (docs/output.md, "OCI outputs"). Fixed, so the same layer always
/// gives the same bytes.
pub const GZIP_LEVEL: u32 = 2;

impl OciImage {
    /// The slim image in OCI form: `layer_tar` (the uncompressed layer the
    /// config's `diff_ids` names) gzip-compressed into `work_dir`, the config
    /// as it is, and the manifest naming both. The same inputs give the same
    /// bytes, so the same manifest digest.
    pub fn build(config_bytes: &[u8], layer_tar: &Path, work_dir: &Path) -> io::Result<OciImage> {
        let layer = gzip_layer(layer_tar, &work_dir.join("layer.tar.gz"))?;
        Ok(OciImage::from_parts(config_bytes.to_vec(), vec![layer]))
    }

    /// Assembles the manifest over a config and layer blobs.
    pub fn from_parts(config_bytes: Vec<u8>, layers: Vec<Blob>) -> OciImage {
        let config = Blob {
            media_type: CONFIG_MEDIA_TYPE.to_string(),
            digest: format!("sha256:{}", sha256_hex(&config_bytes)),
            size: config_bytes.len() as u64,
            source: BlobSource::Memory(config_bytes),
        };
        // serde_json's maps are sorted, so this is the same text every time.
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": descriptor(&config),
            "layers": layers.iter().map(descriptor).collect::<Vec<_>>(),
        }))
        .expect("a JSON value serializes");
        let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
        OciImage {
            config,
            layers,
            manifest,
            manifest_digest,
        }
    }

    /// The manifest as a blob, as layouts store it.
    pub fn manifest_blob(&self) -> Blob {
        Blob {
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            digest: self.manifest_digest.clone(),
            size: self.manifest.len() as u64,
            source: BlobSource::Memory(self.manifest.clone()),
        }
    }
}

impl Blob {
    /// The blob's bytes, streamed.
    pub fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match &self.source {
            BlobSource::Memory(bytes) => Box::new(&bytes[..]),
            BlobSource::File(path) => Box::new(File::open(path)?),
        })
    }

    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// The `{mediaType, digest, size}` that names a blob.
pub fn descriptor(blob: &Blob) -> Value {
    json!({ "mediaType": blob.media_type, "digest": blob.digest, "size": blob.size })
}

/// Compresses `layer_tar` into `out` deterministically: fixed level, mtime
/// 0, no file name, OS "unknown" in the header (as Go's writer, which
/// Docker uses, sets it).
pub fn gzip_layer(layer_tar: &Path, out: &Path) -> io::Result<Blob> {
    let mut input = io::BufReader::with_capacity(256 << 10, File::open(layer_tar)?);
    let file = io::BufWriter::with_capacity(256 << 10, File::create(out)?);
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(HashingWriter::new(file), Compression::new(GZIP_LEVEL));
    io::copy(&mut input, &mut encoder)?;
    let (file, hex, size) = encoder.finish()?.finish();
    file.into_inner().map_err(|e| e.into_error())?;
    Ok(Blob {
        media_type: LAYER_GZIP_MEDIA_TYPE.to_string(),
        digest: format!("sha256:{hex}"),
        size,
        source: BlobSource::File(out.to_path_buf()),
    })
}

#[cfg(test)]
mod tests;
