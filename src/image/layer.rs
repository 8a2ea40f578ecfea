//! Reads one layer tar into [`LayerEntry`] values, decoding the overlay
//! conventions: `.wh.NAME` deletes NAME from the layers below, and
//! `.wh..wh..opq` hides everything below in its directory.

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use tar::EntryType;

use super::archive::{Compression, ImageArchive};
use super::node::{NodeKind, NodeMeta};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";

/// What one tar entry does to the filesystem below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Adds or replaces the path.
    Node(NodeKind),
    /// Adds the path as another name of an earlier entry of this layer.
    Hardlink { target: PathBuf },
    /// Deletes the path (and everything under it) from the layers below.
    Whiteout,
    /// Hides everything under the directory from the layers below.
    Opaque,
}

#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// Absolute, normalised. For `Whiteout` the deleted path, for `Opaque` the directory.
    pub path: PathBuf,
    pub kind: EntryKind,
    pub meta: NodeMeta,
    /// Offset of the data within the uncompressed layer stream (regular files).
    pub data_offset: u64,
}

impl LayerEntry {
    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::Node(NodeKind::File { size }) => size,
            _ => 0,
        }
    }
}

/// Calls `visit` for each entry of layer `index`, in tar order, with a reader
/// of the entry's data. Uncompressed layers skip unread data with seeks.
pub fn visit_layer(
    archive: &ImageArchive,
    index: usize,
    visit: &mut dyn FnMut(&LayerEntry, &mut dyn Read) -> io::Result<()>,
) -> anyhow::Result<()> {
    let name = &archive.layers[index].name;
    let result = if archive.layers[index].compression == Compression::None {
        let mut tar = tar::Archive::new(archive.layer_blob(index));
        visit_entries(tar.entries_with_seek()?, visit)
    } else {
        let mut tar = tar::Archive::new(archive.layer_stream(index)?);
        visit_entries(tar.entries()?, visit)
    };
    result.with_context(|| format!("cannot read layer {} ({name})", index + 1))
}

fn visit_entries<R: Read>(
    entries: tar::Entries<'_, R>,
    visit: &mut dyn FnMut(&LayerEntry, &mut dyn Read) -> io::Result<()>,
) -> io::Result<()> {
    for entry in entries {
        let mut entry = entry?;
        if let Some(decoded) = decode_entry(&mut entry)? {
            visit(&decoded, &mut entry)?;
        }
    }
    Ok(())
}

fn decode_entry<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<LayerEntry>> {
    let path = normalize_tar_path(&entry.path()?);
    let Some(file_name) = path.file_name().map(|n| n.as_encoded_bytes().to_vec()) else {
        return Ok(None); // the root itself: layers carry no meaning for it
    };
    let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let meta = read_meta(entry)?;
    let header = entry.header();
    let data_offset = entry.raw_file_position();

    let kind = if file_name == OPAQUE_MARKER.as_bytes() {
        return Ok(Some(LayerEntry {
            path: parent,
            kind: EntryKind::Opaque,
            meta,
            data_offset,
        }));
    } else if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        let hidden = std::ffi::OsStr::from_bytes(hidden);
        return Ok(Some(LayerEntry {
            path: parent.join(hidden),
            kind: EntryKind::Whiteout,
            meta,
            data_offset,
        }));
    } else {
        match header.entry_type() {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                EntryKind::Node(NodeKind::File { size: entry.size() })
            }
            EntryType::Directory => EntryKind::Node(NodeKind::Dir),
            EntryType::Symlink => EntryKind::Node(NodeKind::Symlink {
                target: entry
                    .link_name()?
                    .map(|l| l.into_owned())
                    .unwrap_or_default(),
            }),
            EntryType::Link => EntryKind::Hardlink {
                target: normalize_tar_path(&entry.link_name()?.unwrap_or_default()),
            },
            EntryType::Char => EntryKind::Node(NodeKind::CharDevice {
                major: header.device_major()?.unwrap_or(0),
                minor: header.device_minor()?.unwrap_or(0),
            }),
            EntryType::Block => EntryKind::Node(NodeKind::BlockDevice {
                major: header.device_major()?.unwrap_or(0),
                minor: header.device_minor()?.unwrap_or(0),
            }),
            EntryType::Fifo => EntryKind::Node(NodeKind::Fifo),
            _ => return Ok(None), // pax/gnu bookkeeping entries are folded in by the tar crate
        }
    };
    Ok(Some(LayerEntry {
        path,
        kind,
        meta,
        data_offset,
    }))
}

use std::os::unix::ffi::OsStrExt;

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<NodeMeta> {
    let header = entry.header();
    let mut meta = NodeMeta {
        mode: header.mode()? & 0o7777,
        uid: header.uid()?,
        gid: header.gid()?,
        mtime: header.mtime()?,
        xattrs: Vec::new(),
    };
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let Ok(key) = extension.key() else { continue };
            if let Some(name) = key.strip_prefix(XATTR_PAX_PREFIX) {
                meta.xattrs
                    .push((name.to_string(), extension.value_bytes().to_vec()));
            } else if let Some(number) = std::str::from_utf8(extension.value_bytes())
                .ok()
                .and_then(|v| v.split('.').next()?.parse::<u64>().ok())
            {
                // PAX overrides for values too large for the ustar header.
                match key {
                    "uid" => meta.uid = number,
                    "gid" => meta.gid = number,
                    "mtime" => meta.mtime = number,
                    _ => {}
                }
            }
        }
        meta.xattrs.sort();
    }
    Ok(meta)
}

/// `./usr/bin/`, `usr/bin` and `/usr//bin` all become `/usr/bin`; `..` never
/// climbs above the root.
pub fn normalize_tar_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_tar_paths() {
        assert_eq!(
            normalize_tar_path(Path::new("./usr/bin/")),
            Path::new("/usr/bin")
        );
        assert_eq!(
            normalize_tar_path(Path::new("usr//lib/../bin")),
            Path::new("/usr/bin")
        );
        assert_eq!(
            normalize_tar_path(Path::new("../../etc")),
            Path::new("/etc")
        );
        assert_eq!(normalize_tar_path(Path::new("./")), Path::new("/"));
    }
}
