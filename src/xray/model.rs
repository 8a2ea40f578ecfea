//! The result of an xray, as plain data. Field names are the `--json` output
//! and are documented in docs/xray.md; sizes are bytes.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// What was read: the image name or the archive path.
    pub source: String,
    pub summary: Summary,
    pub layers: Vec<LayerReport>,
    /// The Dockerfile reconstructed from the history, one instruction a line.
    pub dockerfile: Vec<String>,
    pub top_wasted_paths: Vec<WastedPath>,
    pub largest_files: Vec<FileSize>,
    pub largest_dirs: Vec<FileSize>,
    pub leftovers: Vec<Leftover>,
    pub security: Security,
    pub duplicates: Duplicates,
    pub advice: Vec<Advice>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub layer_count: usize,
    /// Bytes of all layer tars, uncompressed (headers and padding included).
    pub tar_bytes: u64,
    /// File bytes plus symlink target lengths stored in all layers, each
    /// hard-linked copy once: the figure Docker reports as the image size.
    pub stored_bytes: u64,
    /// The same measure over the final filesystem only.
    pub visible_bytes: u64,
    /// `stored_bytes - visible_bytes`: copies a later layer overwrote or deleted.
    pub wasted_bytes: u64,
    /// `visible_bytes / stored_bytes` (1.0 for an empty image).
    pub efficiency: f64,
    /// dive's score on the same layers, for comparison (see docs/xray.md).
    pub dive_efficiency: f64,
    pub visible_files: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LayerReport {
    /// 1-based, bottom first, as the advice names layers.
    pub number: usize,
    /// Uncompressed tar length.
    pub tar_bytes: u64,
    /// File bytes plus symlink target lengths, hard links once (Docker's layer size).
    pub content_bytes: u64,
    /// The instruction from the history, cleaned as in the reconstructed Dockerfile.
    pub instruction: Option<String>,
    pub added: ChangeCount,
    pub modified: ChangeCount,
    pub deleted: ChangeCount,
    /// Bytes stored in this layer that a later layer hides.
    pub wasted_bytes: u64,
    /// Bytes of lower layers this layer hides (by overwrite or delete).
    pub hides_bytes: u64,
}

/// Non-directory entries and their bytes. Directories are left out: every
/// layer repeats the parent directories of what it touches.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ChangeCount {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WastedPath {
    pub path: String,
    pub bytes: u64,
    /// Layers holding the hidden copies.
    pub layers: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileSize {
    pub path: String,
    pub bytes: u64,
    /// The layer the visible copy comes from (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Leftover {
    /// Stable identifier: `apt-lists`, `apt-archives`, `pip-cache`, ...
    pub category: String,
    pub files: u64,
    pub bytes: u64,
    /// Bytes per layer that added them, as `(layer, bytes)`.
    pub by_layer: Vec<LayerBytes>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct LayerBytes {
    pub layer: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Security {
    pub shells: Vec<String>,
    pub setuid: Vec<String>,
    pub setgid: Vec<String>,
    /// World-writable files and directories; symlinks and sticky directories excluded.
    pub world_writable: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Duplicates {
    /// Bytes that storing each content once would save.
    pub wasted_bytes: u64,
    pub groups: Vec<DuplicateGroup>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DuplicateGroup {
    pub sha256: String,
    pub size: u64,
    /// One path per stored copy (hard links of a copy are not listed).
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Advice {
    /// Stable identifier: `delete-in-same-run`, `overwrite`, `leftover`,
    /// `duplicates`, `squash`, `base-image`.
    pub kind: String,
    /// The layer the advice is about, when it is about one.
    pub layer: Option<usize>,
    pub bytes: u64,
    pub message: String,
}
