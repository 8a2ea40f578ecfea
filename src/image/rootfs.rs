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
use super::export;
use super::layer::{visit_layer, visit_layer_into, LayerEntry};
use super::node::{self, ContentRef, ContentSource, Node, NodeKind};
use super::overlay::{self, LayerObserver, OverlayValue};
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
    /// Applies every layer of `archive` (and undoes Docker's init layer in a
    /// container export). Compressed layers are first
    /// decompressed into anonymous temp files (gone when the process ends).
    pub fn build(archive: &ImageArchive) -> anyhow::Result<RootFs> {
        let mut rootfs = RootFs {
            nodes: BTreeMap::new(),
            layers: Vec::with_capacity(archive.layers.len()),
        };
        for index in 0..archive.layers.len() {
            let mut entries = Vec::new();
            let mut collect = |entry: &LayerEntry, _: &mut dyn Read| {
                entries.push(entry.clone());
                Ok(())
            };
            let blob = &archive.layers[index];
            let bytes = if blob.compression == Compression::None {
                visit_layer(archive, index, &mut collect)?;
                LayerBytes {
                    file: archive.layer_blob_file(index),
                    offset: blob.offset,
                    len: blob.stored_size,
                }
            } else {
                // One pass: the entries, and a decompressed copy to read
                // files from at random later.
                let spool = tempfile::tempfile()
                    .context("cannot create a temp file to decompress a layer")?;
                let mut spool = io::BufWriter::with_capacity(256 << 10, spool);
                visit_layer_into(archive, index, Some(&mut spool), &mut collect)?;
                let spool = spool
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .context("cannot write a decompressed layer to a temp file")?;
                let len = spool.metadata()?.len();
                LayerBytes {
                    file: Arc::new(spool),
                    offset: 0,
                    len,
                }
            };
            rootfs.layers.push(bytes);
            overlay::apply_layer(&mut rootfs.nodes, &entries, &mut NodeMaker { layer: index });
        }
        if archive.container_export {
            let created = archive
                .config
                .created
                .as_deref()
                .and_then(export::parse_rfc3339);
            export::undo_init_layer(&mut rootfs.nodes, created.unwrap_or(0));
        }
        Ok(rootfs)
    }

    /// Every node strictly below `dir`, in path order.
    pub fn descendants<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a Node> + 'a {
        overlay::descendants(&self.nodes, dir).map(|(_, node)| node)
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

impl OverlayValue for Node {
    fn is_dir(&self) -> bool {
        Node::is_dir(self)
    }
}

/// Turns the entries of layer `layer` into nodes of the merged filesystem.
struct NodeMaker {
    layer: usize,
}

impl LayerObserver<Node> for NodeMaker {
    fn node(&mut self, entry: &LayerEntry, kind: &NodeKind) -> Option<Node> {
        let content = match kind {
            NodeKind::File { size } => Some(ContentRef {
                layer: self.layer,
                offset: entry.data_offset,
                size: *size,
            }),
            _ => None,
        };
        Some(Node {
            path: entry.path.clone(),
            kind: kind.clone(),
            meta: entry.meta.clone(),
            content,
        })
    }

    fn hardlink(&mut self, entry: &LayerEntry, target: &Node) -> Option<Node> {
        // A hard link shares the inode: same bytes, same metadata.
        Some(Node {
            path: entry.path.clone(),
            ..target.clone()
        })
    }

    fn implicit_dir(&mut self, entry: &LayerEntry, path: &Path) -> Option<Node> {
        // As `MkdirAll(path, 0755)` makes it, as root; the time is the
        // entry's, not the unpacking's, so that two reads agree.
        Some(Node {
            path: path.to_path_buf(),
            kind: NodeKind::Dir,
            meta: crate::image::node::NodeMeta {
                mode: 0o755,
                mtime: entry.meta.mtime,
                ..Default::default()
            },
            content: None,
        })
    }
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
        node::kind_in(&self.nodes, path)
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let content = node::file_content_in(&self.nodes, path)?;
        let mut bytes = Vec::with_capacity(content.size.min(limit) as usize);
        self.open(&content)?.take(limit).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        overlay::children(&self.nodes, dir)
    }

    fn walk(&self, dir: &Path, visit: &mut dyn FnMut(&Path, &NodeKind)) {
        overlay::walk(&self.nodes, dir, |node| &node.kind, visit)
    }
}
