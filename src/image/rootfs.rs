//! The merged filesystem of an image: every layer applied in order, with
//! whiteouts honoured, as the container would see it before it runs.
//!
//! Only metadata is held in memory (a few hundred bytes a path); file bytes
//! stay in the archive and are read on demand through [`ContentSource`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::archive::{BlobReader, Compression, ImageArchive};
use super::layer::{visit_layer, EntryKind, LayerEntry};
use super::node::{ContentRef, ContentSource, Node, NodeKind};
use crate::resolve::tree::FsTree;

/// Where a layer's uncompressed bytes can be read at random.
#[derive(Clone)]
struct LayerBytes {
    file: Arc<File>,
    offset: u64,
    len: u64,
}

pub struct RootFs {
    nodes: BTreeMap<PathBuf, Node>,
    layers: Vec<LayerBytes>,
}

impl RootFs {
    /// Applies every layer of `archive`. Compressed layers are first
    /// decompressed into anonymous temp files (gone when the process ends).
    pub fn build(archive: &ImageArchive) -> anyhow::Result<RootFs> {
        let mut rootfs = RootFs {
            nodes: BTreeMap::new(),
            layers: Vec::with_capacity(archive.layers.len()),
        };
        for index in 0..archive.layers.len() {
            rootfs.layers.push(random_access_bytes(archive, index)?);
            let mut entries = Vec::new();
            visit_layer(archive, index, &mut |entry, _| {
                entries.push(entry.clone());
                Ok(())
            })?;
            rootfs.apply_layer(index, entries);
        }
        Ok(rootfs)
    }

    fn apply_layer(&mut self, layer: usize, entries: Vec<LayerEntry>) {
        // Deletions refer to the layers below, so they go first.
        for entry in &entries {
            match entry.kind {
                EntryKind::Opaque => self.remove_descendants(&entry.path),
                EntryKind::Whiteout => {
                    self.remove_descendants(&entry.path);
                    self.nodes.remove(&entry.path);
                }
                _ => {}
            }
        }
        for entry in entries {
            let (kind, meta, content) = match entry.kind {
                EntryKind::Node(kind) => {
                    let content = match kind {
                        NodeKind::File { size } => Some(ContentRef {
                            layer,
                            offset: entry.data_offset,
                            size,
                        }),
                        _ => None,
                    };
                    (kind, entry.meta, content)
                }
                EntryKind::Hardlink { target } => match self.nodes.get(&target) {
                    // A hard link shares the inode: same bytes, same metadata.
                    Some(node) => (node.kind.clone(), node.meta.clone(), node.content),
                    None => continue, // a link to nothing: tar tools skip it too
                },
                EntryKind::Whiteout | EntryKind::Opaque => continue,
            };
            if kind != NodeKind::Dir {
                // A file replacing a directory hides all that was under it.
                self.remove_descendants(&entry.path);
            }
            self.nodes.insert(
                entry.path.clone(),
                Node {
                    path: entry.path,
                    kind,
                    meta,
                    content,
                },
            );
        }
    }

    fn remove_descendants(&mut self, dir: &Path) {
        let doomed: Vec<PathBuf> = self.descendants(dir).map(|n| n.path.clone()).collect();
        for path in doomed {
            self.nodes.remove(&path);
        }
    }

    /// Every node strictly below `dir`, in path order.
    pub fn descendants<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a Node> + 'a {
        // PathBuf orders component by component, so a subtree is one contiguous range.
        self.nodes
            .range::<Path, _>((std::ops::Bound::Excluded(dir), std::ops::Bound::Unbounded))
            .take_while(move |(path, _)| path.starts_with(dir))
            .map(|(_, node)| node)
    }

    pub fn get(&self, path: &Path) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// All nodes in path order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Bytes of all regular files, counting hard-linked data once.
    pub fn file_bytes(&self) -> u64 {
        let mut seen = std::collections::HashSet::new();
        self.nodes
            .values()
            .filter_map(|n| n.content)
            .filter(|c| seen.insert(*c))
            .map(|c| c.size)
            .sum()
    }
}

fn random_access_bytes(archive: &ImageArchive, index: usize) -> anyhow::Result<LayerBytes> {
    let blob = &archive.layers[index];
    if blob.compression == Compression::None {
        return Ok(LayerBytes {
            file: archive_file(archive),
            offset: blob.offset,
            len: blob.stored_size,
        });
    }
    let mut spool =
        tempfile::tempfile().context("cannot create a temp file to decompress a layer")?;
    let len = io::copy(&mut archive.layer_stream(index)?, &mut spool)
        .with_context(|| format!("cannot decompress layer {}", blob.name))?;
    Ok(LayerBytes {
        file: Arc::new(spool),
        offset: 0,
        len,
    })
}

fn archive_file(archive: &ImageArchive) -> Arc<File> {
    archive.shared_file()
}

impl ContentSource for RootFs {
    fn open(&self, content: &ContentRef) -> io::Result<Box<dyn Read + '_>> {
        let layer = self
            .layers
            .get(content.layer)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such layer"))?;
        if content.offset + content.size > layer.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file data lies outside its layer",
            ));
        }
        Ok(Box::new(BlobReader::new(
            layer.file.clone(),
            layer.offset + content.offset,
            content.size,
        )))
    }
}

impl FsTree for RootFs {
    fn kind(&self, path: &Path) -> Option<NodeKind> {
        if path == Path::new("/") {
            return Some(NodeKind::Dir);
        }
        self.nodes.get(path).map(|n| n.kind.clone())
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let content = self
            .nodes
            .get(path)
            .and_then(|n| n.content)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} is not a file", path.display()),
                )
            })?;
        let mut bytes = Vec::with_capacity(content.size.min(limit) as usize);
        self.open(&content)?.take(limit).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        self.descendants(dir)
            .filter(|n| n.path.parent() == Some(dir))
            .map(|n| n.path.clone())
            .collect()
    }
}
