//! The slim image's single layer: one uncompressed tar of the kept nodes,
//! hashed as it is written.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use tar::{Builder, EntryType};

use super::digest::HashingWriter;
use super::tar_header::{append_entry, EntrySpec, ExactReader};
use crate::image::node::{ContentRef, ContentSource, Node, NodeKind};

/// What [`write_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// `sha256:<hex>` of the uncompressed tar: the image config's diff_id.
    pub diff_id: String,
    /// Bytes of tar written.
    pub size: u64,
    /// Tar entries written, PAX headers not counted.
    pub entries: usize,
    /// Regular files written with their data (hard links to them not counted).
    pub files: usize,
    /// Data bytes of those files.
    pub file_bytes: u64,
}

/// Writes `nodes` as one tar layer to `out`.
///
/// Entries are sorted component-wise by path, so parents precede children
/// and the output depends only on the nodes: the same input gives the same
/// bytes. Files sharing a [`ContentRef`] become one regular file (the first
/// in order) and hard links to it. File data streams from `source`.
pub fn write_layer<W: Write>(
    nodes: &[Node],
    source: &dyn ContentSource,
    out: W,
) -> io::Result<LayerSummary> {
    let mut ordered: Vec<&Node> = nodes.iter().collect();
    // `Path`'s ordering compares component by component, byte-wise.
    ordered.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(pair) = ordered.windows(2).find(|pair| pair[0].path == pair[1].path) {
        return Err(invalid_input(format!(
            "path {} appears twice in the layer",
            pair[0].path.display()
        )));
    }

    let mut builder = Builder::new(HashingWriter::new(out));
    let mut summary = LayerSummary {
        diff_id: String::new(),
        size: 0,
        entries: 0,
        files: 0,
        file_bytes: 0,
    };
    // The tar name of the first file of each inode, for hard links to point at.
    let mut written_inodes: HashMap<ContentRef, Vec<u8>> = HashMap::new();

    // Where the next look-ahead starts: small files are announced to the
    // source a window at a time, so the walker's round trips overlap.
    let mut announced = 0;
    for (index, node) in ordered.iter().enumerate() {
        if index == announced {
            let (window, end) = lookahead(&ordered[index..]);
            source.prefetch(&window);
            announced = index + end.max(1);
        }
        let Some(name) = tar_name(&node.path)? else {
            // The root directory itself is not an entry in Docker layers.
            continue;
        };
        let name = if node.is_dir() {
            [name.as_slice(), b"/"].concat()
        } else {
            name
        };
        append_node(
            &mut builder,
            node,
            &name,
            source,
            &mut written_inodes,
            &mut summary,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", node.path.display())))?;
        summary.entries += 1;
    }

    let (_, hex, size) = builder.into_inner()?.finish();
    summary.diff_id = format!("sha256:{hex}");
    summary.size = size;
    Ok(summary)
}

/// Small files, in the order they will be written, up to
/// [`LOOKAHEAD_FILES`] of them or [`LOOKAHEAD_BYTES`] in all; and how many
/// nodes that window spans.
fn lookahead(nodes: &[&Node]) -> (Vec<ContentRef>, usize) {
    let mut window = Vec::new();
    let mut bytes = 0;
    for (index, node) in nodes.iter().enumerate() {
        let Some(content) = node.content.filter(|_| node.is_file()) else {
            continue;
        };
        if content.size > LOOKAHEAD_SMALL {
            continue;
        }
        if window.len() == LOOKAHEAD_FILES || bytes + content.size > LOOKAHEAD_BYTES {
            return (window, index);
        }
        bytes += content.size;
        window.push(content);
    }
    (window, nodes.len())
}

/// Files up to this size are announced ahead; larger ones stream on their own.
const LOOKAHEAD_SMALL: u64 = 64 << 10;
const LOOKAHEAD_FILES: usize = 64;
const LOOKAHEAD_BYTES: u64 = 1 << 20;

fn append_node<W: Write>(
    builder: &mut Builder<W>,
    node: &Node,
    name: &[u8],
    source: &dyn ContentSource,
    written_inodes: &mut HashMap<ContentRef, Vec<u8>>,
    summary: &mut LayerSummary,
) -> io::Result<()> {
    let mut spec = EntrySpec {
        name,
        entry_type: EntryType::Regular,
        link_name: None,
        size: 0,
        device: None,
        meta: &node.meta,
    };
    match &node.kind {
        NodeKind::File { size } => {
            let Some(content) = node.content else {
                if *size != 0 {
                    return Err(invalid_input(format!(
                        "file of {size} bytes has no content reference"
                    )));
                }
                return append_entry(builder, &spec, io::empty());
            };
            if content.size != *size {
                return Err(invalid_input(format!(
                    "file size {size} differs from its content size {}",
                    content.size
                )));
            }
            if let Some(first) = written_inodes.get(&content) {
                spec.entry_type = EntryType::Link;
                spec.link_name = Some(first);
                return append_entry(builder, &spec, io::empty());
            }
            spec.size = *size;
            let data = ExactReader::new(source.open(&content)?, *size);
            append_entry(builder, &spec, data)?;
            written_inodes.insert(content, name.to_vec());
            summary.files += 1;
            summary.file_bytes += size;
            Ok(())
        }
        NodeKind::Dir => {
            spec.entry_type = EntryType::Directory;
            append_entry(builder, &spec, io::empty())
        }
        NodeKind::Symlink { target } => {
            spec.entry_type = EntryType::Symlink;
            spec.link_name = Some(target.as_os_str().as_bytes());
            append_entry(builder, &spec, io::empty())
        }
        NodeKind::CharDevice { major, minor } => {
            spec.entry_type = EntryType::Char;
            spec.device = Some((*major, *minor));
            append_entry(builder, &spec, io::empty())
        }
        NodeKind::BlockDevice { major, minor } => {
            spec.entry_type = EntryType::Block;
            spec.device = Some((*major, *minor));
            append_entry(builder, &spec, io::empty())
        }
        NodeKind::Fifo => {
            spec.entry_type = EntryType::Fifo;
            append_entry(builder, &spec, io::empty())
        }
    }
}

/// The relative tar name of an image path (`/usr/bin/env` → `usr/bin/env`),
/// or `None` for the root. Rejects `..` and `.` so nothing can land outside
/// the root or under two names.
fn tar_name(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut name = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(part) => {
                if !name.is_empty() {
                    name.push(b'/');
                }
                name.extend_from_slice(part.as_bytes());
            }
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid_input(format!(
                    "path {} is not normalised",
                    path.display()
                )));
            }
        }
    }
    Ok((!name.is_empty()).then_some(name))
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests;
