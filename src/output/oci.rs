//! The slim image in OCI form: the blobs and the image manifest that OCI
//! layouts, OCI archives and registries store. Built by the writer, read by
//! the archive writers and the registry push.

use std::path::PathBuf;

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
