//! Reading the image: one streaming pass over each layer for metadata (and
//! the few small files the package comparison needs), then passes over only
//! the layers holding duplicate candidates: first their prefixes, then the
//! whole of those whose prefixes collide.

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

/// Bytes hashed first: most files that merely share a size differ here, so
/// their remaining bytes are never read.
pub const PREFIX_BYTES: u64 = 4096;

/// A stored copy: its layer and the path it was stored under.
type CopyKey = (usize, PathBuf);
/// Size, and SHA-256 of (a prefix of) the content.
type Fingerprint = (u64, [u8; 32]);

/// Full-content SHA-256 of every candidate that may have a twin, keyed like
/// [`Scan::captured`]. A first pass hashes only the first [`PREFIX_BYTES`]
/// of each candidate; only files whose size and prefix hash both collide are
/// read to the end in a second pass. Candidates left out have no twin.
pub fn hash_candidates(
    archive: &ImageArchive,
    candidates: &BTreeMap<usize, HashSet<PathBuf>>,
) -> anyhow::Result<HashMap<CopyKey, [u8; 32]>> {
    let prefixes = hash_each(archive, candidates, Some(PREFIX_BYTES))?;
    let mut by_prefix: HashMap<Fingerprint, Vec<CopyKey>> = HashMap::new();
    for (key, fingerprint) in prefixes {
        by_prefix.entry(fingerprint).or_default().push(key);
    }
    let mut hashes = HashMap::new();
    let mut unsettled: BTreeMap<usize, HashSet<PathBuf>> = BTreeMap::new();
    for ((size, prefix_hash), keys) in by_prefix.into_iter().filter(|(_, k)| k.len() > 1) {
        for (layer, path) in keys {
            if size <= PREFIX_BYTES {
                // The prefix was the whole file.
                hashes.insert((layer, path), prefix_hash);
            } else {
                unsettled.entry(layer).or_default().insert(path);
            }
        }
    }
    for (key, (_, full_hash)) in hash_each(archive, &unsettled, None)? {
        hashes.insert(key, full_hash);
    }
    Ok(hashes)
}

/// Size and SHA-256 of the first `limit` bytes (all with `None`) of each
/// listed file, one pass per layer that lists any.
fn hash_each(
    archive: &ImageArchive,
    files: &BTreeMap<usize, HashSet<PathBuf>>,
    limit: Option<u64>,
) -> anyhow::Result<HashMap<CopyKey, Fingerprint>> {
    let mut hashes = HashMap::new();
    let mut buf = vec![0u8; 64 << 10];
    for (&layer, paths) in files {
        visit_layer(archive, layer, &mut |entry, data| {
            if let EntryKind::Node(NodeKind::File { size }) = entry.kind {
                if paths.contains(&entry.path) {
                    let hash = match limit {
                        Some(limit) => sha256(&mut data.take(limit), &mut buf)?,
                        None => sha256(data, &mut buf)?,
                    };
                    hashes.insert((layer, entry.path.clone()), (size, hash));
                }
            }
            Ok(())
        })?;
    }
    Ok(hashes)
}

fn sha256(data: &mut dyn Read, buf: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    loop {
        let n = data.read(buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::test_archive::{image_archive, Entry};

    /// `len` bytes of `fill`, with `tail` as the last byte.
    fn body(len: usize, fill: u8, tail: u8) -> Vec<u8> {
        let mut bytes = vec![fill; len];
        bytes[len - 1] = tail;
        bytes
    }

    fn candidates(layer: usize, paths: &[&str]) -> BTreeMap<usize, HashSet<PathBuf>> {
        let set = paths.iter().map(PathBuf::from).collect();
        BTreeMap::from([(layer, set)])
    }

    #[test]
    fn only_whole_equal_files_share_a_hash() {
        let big = PREFIX_BYTES as usize * 3;
        let (same, twin) = (body(big, b'a', b'x'), body(big, b'a', b'x'));
        // Same size and prefix as `same`, different only past the prefix.
        let late_difference = body(big, b'a', b'y');
        let early_difference = body(big, b'b', b'x');
        let small = body(100, b's', b's');
        let archive = image_archive(&[
            vec![Entry::File("same", &same), Entry::File("small", &small)],
            vec![
                Entry::File("twin", &twin),
                Entry::File("late", &late_difference),
                Entry::File("early", &early_difference),
                Entry::File("small-twin", &small),
            ],
        ]);
        let mut wanted = candidates(0, &["/same", "/small"]);
        wanted.extend(candidates(1, &["/twin", "/late", "/early", "/small-twin"]));

        let hashes = hash_candidates(&archive, &wanted).unwrap();
        let hash = |layer: usize, path: &str| hashes.get(&(layer, PathBuf::from(path))).copied();
        let full = |bytes: &[u8]| -> [u8; 32] { Sha256::digest(bytes).into() };
        assert_eq!(hash(0, "/same"), Some(full(&same)));
        assert_eq!(hash(1, "/twin"), Some(full(&same)));
        // Read to the end because its prefix collides, then told apart.
        assert_eq!(hash(1, "/late"), Some(full(&late_difference)));
        // Unique by prefix: never read further, left out.
        assert_eq!(hash(1, "/early"), None);
        assert_eq!(hash(0, "/small"), Some(full(&small)));
        assert_eq!(hash(1, "/small-twin"), Some(full(&small)));
        assert_eq!(hashes.len(), 5);
    }
}
