//! Reads one layer tar into [`LayerEntry`] values, decoding the overlay
//! conventions: `.wh.NAME` deletes NAME from the layers below, and
//! `.wh..wh..opq` hides everything below in its directory.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use tar::EntryType;

use super::archive::{Compression, ImageArchive};
use super::node::{NodeKind, NodeMeta};
use super::unpack::LayerPaths;
use super::verify;

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
/// of the entry's data. The first read of a layer of a checked archive reads
/// it whole, so its digests are checked (and a mismatch fails the visit);
/// after that, and for unchecked archives, uncompressed layers skip unread
/// data with seeks.
pub fn visit_layer(
    archive: &ImageArchive,
    index: usize,
    visit: &mut dyn FnMut(&LayerEntry, &mut dyn Read) -> io::Result<()>,
) -> anyhow::Result<()> {
    visit_layer_into(archive, index, None, visit)
}

/// [`visit_layer`], also copying the uncompressed tar into `copy` as it is
/// read (one pass gives the entries and a random-access copy).
pub fn visit_layer_into(
    archive: &ImageArchive,
    index: usize,
    copy: Option<&mut dyn Write>,
    visit: &mut dyn FnMut(&LayerEntry, &mut dyn Read) -> io::Result<()>,
) -> anyhow::Result<()> {
    let blob = &archive.layers[index];
    let what = format!("layer {} ({})", index + 1, crate::escape::text(&blob.name));
    let mut host_error = None;
    let result =
        if copy.is_none() && blob.compression == Compression::None && !archive.needs_check(index) {
            let mut tar = tar::Archive::new(archive.layer_blob(index));
            tar.entries_with_seek()
                .and_then(|entries| visit_entries(entries, visit))
        } else {
            let mut stream = Tee {
                inner: archive.layer_stream(index).with_context(|| what.clone())?,
                copy,
                failed: &mut host_error,
            };
            let visited = tar::Archive::new(&mut stream)
                .entries()
                .and_then(|entries| visit_entries(entries, visit));
            // Read past the end-of-archive blocks, so the digests get checked.
            visited.and_then(|()| verify::drain(&mut stream).map(drop))
        };
    if let Some(error) = host_error {
        return Err(anyhow::Error::new(error).context(format!("cannot copy {what} to a temp file")));
    }
    match result {
        Ok(()) => {
            archive.mark_checked(index);
            Ok(())
        }
        // What the user gave is at fault; what the engine gave is our problem.
        Err(error) if archive.verifies() => Err(verify::invalid(format!("{what}: {error}"))),
        Err(error) => Err(anyhow::Error::new(error).context(format!("cannot read {what}"))),
    }
}

/// Passes reads through, copying them to `copy`; a failed copy (a host
/// problem, such as a full disk) is kept apart from the archive's own errors.
struct Tee<'a, 'w> {
    inner: Box<dyn Read + Send>,
    copy: Option<&'w mut dyn Write>,
    failed: &'a mut Option<io::Error>,
}

impl Read for Tee<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = self.copy.as_mut() {
            if let Err(error) = copy.write_all(&buf[..n]) {
                let message = error.to_string();
                *self.failed = Some(error);
                return Err(io::Error::other(message));
            }
        }
        Ok(n)
    }
}

fn visit_entries<R: Read>(
    entries: tar::Entries<'_, R>,
    visit: &mut dyn FnMut(&LayerEntry, &mut dyn Read) -> io::Result<()>,
) -> io::Result<()> {
    // Names go where Docker's unpacker puts them: through this layer's own
    // symlinks (see `unpack`).
    let mut paths = LayerPaths::default();
    for entry in entries {
        let mut entry = entry?;
        if let Some(decoded) = decode_entry(&mut entry, &paths)? {
            record(&mut paths, &decoded);
            visit(&decoded, &mut entry)?;
        }
    }
    Ok(())
}

/// What `entry` leaves in the layer's own directory, for the names after it.
fn record(paths: &mut LayerPaths, entry: &LayerEntry) {
    match &entry.kind {
        EntryKind::Node(NodeKind::Symlink { target }) => {
            paths.placed(&entry.path, Some(target), false)
        }
        EntryKind::Node(NodeKind::Dir) => paths.placed(&entry.path, None, true),
        EntryKind::Node(_) | EntryKind::Hardlink { .. } | EntryKind::Whiteout => {
            paths.placed(&entry.path, None, false)
        }
        EntryKind::Opaque => {}
    }
}

fn decode_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    paths: &LayerPaths,
) -> io::Result<Option<LayerEntry>> {
    let raw = entry.path()?;
    refuse_breakout(&raw, "entry")?;
    let named = normalize_tar_path(&raw);
    let Some(file_name) = named.file_name().map(|n| n.as_encoded_bytes().to_vec()) else {
        return Ok(None); // the root itself: layers carry no meaning for it
    };
    let parent = paths.directory(named.parent().unwrap_or(Path::new("/")))?;
    let path = parent.join(std::ffi::OsStr::from_bytes(&file_name));
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
            EntryType::Link => {
                let target = entry.link_name()?.unwrap_or_default();
                refuse_breakout(&target, "hard link target")?;
                EntryKind::Hardlink {
                    target: paths.entry(&normalize_tar_path(&target))?,
                }
            }
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

/// Refuses a name whose `..` climbs above the layer's root, as Docker's
/// unpacker does ("is outside of"): such a layer cannot be loaded. (An
/// absolute name is joined onto the root, as Docker does too.)
fn refuse_breakout(name: &Path, what: &str) -> io::Result<()> {
    let mut depth = 0usize;
    for component in name.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => {
                return Err(verify::invalid_io(format!(
                    "{what} {:?} climbs out of the image root with '..'",
                    name.display()
                )))
            }
            Component::ParentDir => depth -= 1,
            Component::RootDir => depth = 0,
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(())
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
