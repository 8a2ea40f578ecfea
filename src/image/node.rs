//! The entries of an image's filesystem, as read from layer tars.
//!
//! Paths are absolute and normalised (`/usr/bin/env`, never `./usr/bin/env/`)
//! and kept as `PathBuf` so non-UTF-8 names survive.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// What a path is in the merged filesystem.
///
/// Hard links do not appear here: in the merged view a hard link is a `File`
/// whose [`ContentRef`] equals another file's. The writer groups files by
/// `ContentRef` to write them back as hard links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File { size: u64 },
    Dir,
    Symlink { target: PathBuf },
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Fifo,
}

/// Ownership, permissions, time and extended attributes, as stored in the tar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeMeta {
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask), no file type bits.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
    /// Extended attributes such as `security.capability`, sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Where a regular file's bytes live: which layer, and where in that layer's
/// stream. Two files with the same `ContentRef` are hard links of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentRef {
    pub layer: usize,
    /// Byte offset of the file data inside the layer's (uncompressed) tar.
    pub offset: u64,
    pub size: u64,
}

/// One path of the merged filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub kind: NodeKind,
    pub meta: NodeMeta,
    /// Set for regular files only.
    pub content: Option<ContentRef>,
}

/// [`FsTree::kind`](crate::resolve::tree::FsTree::kind) over nodes held by
/// path, as every tree of the image keeps them: the root, never an entry of
/// its own, is a directory.
pub fn kind_in(nodes: &BTreeMap<PathBuf, Node>, path: &Path) -> Option<NodeKind> {
    kind_of(path, |path| nodes.get(path))
}

/// [`kind_in`] over a tree that finds its nodes with `get`.
pub fn kind_of<'a>(path: &Path, get: impl FnOnce(&Path) -> Option<&'a Node>) -> Option<NodeKind> {
    if path == Path::new("/") {
        return Some(NodeKind::Dir);
    }
    get(path).map(|n| n.kind.clone())
}

/// Where the bytes of the regular file at `path` are; `NotFound`, naming the
/// path, for anything else.
pub fn file_content_in(nodes: &BTreeMap<PathBuf, Node>, path: &Path) -> io::Result<ContentRef> {
    file_content_of(path, nodes.get(path))
}

/// [`file_content_in`] for the node found at `path`, if any.
pub fn file_content_of(path: &Path, node: Option<&Node>) -> io::Result<ContentRef> {
    node.and_then(|n| n.content).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a file", path.display()),
        )
    })
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir)
    }

    pub fn is_file(&self) -> bool {
        matches!(self.kind, NodeKind::File { .. })
    }

    pub fn size(&self) -> u64 {
        match self.kind {
            NodeKind::File { size } => size,
            _ => 0,
        }
    }
}

/// Opens the bytes of a regular file. Implemented by the image reader over
/// the spooled image archive; the writer only needs this.
pub trait ContentSource {
    fn open(&self, content: &ContentRef) -> std::io::Result<Box<dyn std::io::Read + '_>>;

    /// Says that `contents` will be opened next, in that order, so a source
    /// whose every open is a round trip (the walker's) can ask for the
    /// small ones at once. Only ever a hint.
    fn prefetch(&self, _contents: &[ContentRef]) {}
}
