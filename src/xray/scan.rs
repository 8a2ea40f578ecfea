//! Reading the image: one streaming pass over each layer for metadata (and
//! the few small files the package comparison needs), then a second pass
//! over only the layers holding duplicate candidates, hashing only those.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::image::layer::{visit_layer, EntryKind};
use crate::image::node::NodeKind;
use crate::image::ImageArchive;

use super::merge::{Merged, ScannedLayer};

/// Files whose bytes are kept while scanning: dpkg's package database.
/// Bounded so a hostile image cannot make us hold much.
const CAPTURE_LIMIT: u64 = 8 << 20;

/// Layers as entry lists, plus the captured small files of the final image.
pub struct Scan {
    pub layers: Vec<ScannedLayer>,
    /// Contents of captured files, by (layer, path) of the stored copy.
    pub captured: HashMap<(usize, PathBuf), Vec<u8>>,
}

pub fn is_captured(path: &Path) -> bool {
    path == Path::new("/var/lib/dpkg/status")
        || (path.starts_with("/var/lib/dpkg/info") && path.extension().is_some_and(|e| e == "list"))
}

pub fn scan_layers(archive: &ImageArchive) -> anyhow::Result<Scan> {
    let mut layers = Vec::with_capacity(archive.layers.len());
    let mut captured = HashMap::new();
    for index in 0..archive.layers.len() {
        let mut entries = Vec::new();
        let mut end = 0u64;
        visit_layer(archive, index, &mut |entry, data| {
            end = end.max(entry.data_offset + padded(entry.size()));
            if matches!(entry.kind, EntryKind::Node(NodeKind::File { size }) if size <= CAPTURE_LIMIT)
                && is_captured(&entry.path)
            {
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                data.read_to_end(&mut bytes)?;
                captured.insert((index, entry.path.clone()), bytes);
            }
            entries.push(entry.clone());
            Ok(())
        })?;
        layers.push(ScannedLayer {
            // The two zero blocks that end every tar.
            tar_bytes: uncompressed_len(archive, index).unwrap_or(end + 1024),
            entries,
        });
    }
    Ok(Scan { layers, captured })
}

fn padded(size: u64) -> u64 {
    size.div_ceil(512) * 512
}

/// The exact tar length when the blob is stored uncompressed; otherwise the
/// caller estimates it from the last entry.
fn uncompressed_len(archive: &ImageArchive, index: usize) -> Option<u64> {
    let blob = &archive.layers[index];
    (blob.compression == crate::image::archive::Compression::None).then_some(blob.stored_size)
}

/// Visible regular-file copies whose size another visible copy shares: the
/// only ones worth hashing. Keyed by layer, then the stored path.
pub fn duplicate_candidates(merged: &Merged) -> BTreeMap<usize, HashSet<PathBuf>> {
    let mut by_size: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, copy) in merged.copies.iter().enumerate() {
        if copy.is_file && copy.is_visible() && copy.bytes > 0 {
            by_size.entry(copy.bytes).or_default().push(index);
        }
    }
    let mut candidates: BTreeMap<usize, HashSet<PathBuf>> = BTreeMap::new();
    for copies in by_size.into_values().filter(|c| c.len() > 1) {
        for index in copies {
            let copy = &merged.copies[index];
            candidates
                .entry(copy.layer)
                .or_default()
                .insert(copy.path.clone());
        }
    }
    candidates
}

/// SHA-256 of each candidate, keyed like [`Scan::captured`].
pub fn hash_candidates(
    archive: &ImageArchive,
    candidates: &BTreeMap<usize, HashSet<PathBuf>>,
) -> anyhow::Result<HashMap<(usize, PathBuf), [u8; 32]>> {
    let mut hashes = HashMap::new();
    for (&layer, paths) in candidates {
        visit_layer(archive, layer, &mut |entry, data| {
            if matches!(entry.kind, EntryKind::Node(NodeKind::File { .. }))
                && paths.contains(&entry.path)
            {
                hashes.insert((layer, entry.path.clone()), sha256(data)?);
            }
            Ok(())
        })?;
    }
    Ok(hashes)
}

fn sha256(data: &mut dyn Read) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = data.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}
