//! Applies the layers in order over path metadata only, to learn which stored
//! copies stay visible and which a later layer hides (the waste), and what
//! each layer adds, modifies and deletes. The overlay rules themselves are
//! [`crate::image::overlay`]'s; this module only keeps the books.
//!
//! A "copy" is one stored body: a regular file's data or a symlink's target,
//! shared by all hard links to it. A copy is wasted once, when its last
//! visible name disappears, so every stored copy ends either visible or
//! wasted and `stored = visible + wasted` holds exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use crate::image::layer::{EntryKind, LayerEntry};
use crate::image::node::NodeKind;
use crate::image::overlay::{self, Hidden, LayerObserver, OverlayValue};

use super::model::ChangeCount;

/// One layer as scanned: its entries in tar order and its tar length.
#[derive(Debug, Clone, Default)]
pub struct ScannedLayer {
    pub tar_bytes: u64,
    pub entries: Vec<LayerEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibleKind {
    File,
    Dir,
    Symlink,
    /// Devices and fifos.
    Special,
}

/// A path of the final filesystem.
#[derive(Debug, Clone)]
pub struct Visible {
    pub kind: VisibleKind,
    /// 0-based index of the layer that last wrote the path.
    pub layer: usize,
    pub mode: u32,
    /// Index into [`Merged::copies`]; `None` for directories.
    pub copy: Option<usize>,
    /// Set for symlinks, so paths can be resolved through them.
    pub link_target: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StoredCopy {
    pub layer: usize,
    /// The name the body was stored under.
    pub path: PathBuf,
    pub bytes: u64,
    pub is_file: bool,
    /// Names currently pointing at the copy; 0 once hidden.
    names: u32,
}

impl StoredCopy {
    pub fn is_visible(&self) -> bool {
        self.names > 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasteEvent {
    pub stored_in: usize,
    pub hidden_by: usize,
    pub path: PathBuf,
    pub bytes: u64,
    /// Hidden by a whiteout or opaque directory, rather than by an overwrite.
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerChanges {
    pub added: ChangeCount,
    pub modified: ChangeCount,
    pub deleted: ChangeCount,
    pub content_bytes: u64,
}

/// dive's per-path tally: the smallest and the summed size of every entry
/// of a path across layers (whiteouts count as 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DiveTally {
    min: u64,
    cumulative: u64,
}

#[derive(Debug, Default)]
pub struct Merged {
    pub view: BTreeMap<PathBuf, Visible>,
    pub copies: Vec<StoredCopy>,
    pub waste: Vec<WasteEvent>,
    pub changes: Vec<LayerChanges>,
    dive: HashMap<PathBuf, DiveTally>,
}

impl Merged {
    pub fn apply(layers: &[ScannedLayer]) -> Merged {
        let mut merged = Merged::default();
        for (index, layer) in layers.iter().enumerate() {
            merged.apply_layer(index, &layer.entries);
        }
        merged
    }

    pub fn stored_bytes(&self) -> u64 {
        self.copies.iter().map(|c| c.bytes).sum()
    }

    pub fn visible_bytes(&self) -> u64 {
        self.copies
            .iter()
            .filter(|c| c.is_visible())
            .map(|c| c.bytes)
            .sum()
    }

    pub fn wasted_bytes(&self) -> u64 {
        self.waste.iter().map(|w| w.bytes).sum()
    }

    /// dive's efficiency score: Σ smallest copy / Σ all copies, per path.
    pub fn dive_efficiency(&self) -> f64 {
        let (min, cumulative) = self
            .dive
            .values()
            .fold((0u64, 0u64), |(m, c), t| (m + t.min, c + t.cumulative));
        ratio(min, cumulative)
    }

    fn apply_layer(&mut self, layer: usize, entries: &[LayerEntry]) {
        // dive counts a whiteout as a 0-byte entry of its path.
        for entry in entries.iter().filter(|e| e.kind == EntryKind::Whiteout) {
            tally_dive(&mut self.dive, &entry.path, 0);
        }
        let mut ledger = Ledger {
            layer,
            copies: &mut self.copies,
            waste: &mut self.waste,
            dive: &mut self.dive,
            changes: LayerChanges::default(),
        };
        overlay::apply_layer(&mut self.view, entries, &mut ledger);
        self.changes.push(ledger.changes);
    }

    /// `path` with every symlinked directory on the way resolved, as the
    /// kernel would (the last component is left alone). `None` on a loop.
    pub fn resolve_parents(&self, path: &Path) -> Option<PathBuf> {
        let mut pending: Vec<std::ffi::OsString> = path
            .components()
            .rev()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect();
        let mut current = PathBuf::from("/");
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                current.pop();
                continue;
            }
            let candidate = current.join(&name);
            let target = self
                .view
                .get(&candidate)
                .and_then(|v| v.link_target.as_ref());
            match target {
                Some(target) if !pending.is_empty() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    if target.is_absolute() {
                        current = PathBuf::from("/");
                    }
                    pending.extend(target.components().rev().filter_map(|c| match c {
                        Component::Normal(name) => Some(name.to_os_string()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    }));
                }
                _ => current = candidate,
            }
        }
        Some(current)
    }
}

impl OverlayValue for Visible {
    fn is_dir(&self) -> bool {
        self.kind == VisibleKind::Dir
    }
}

/// The books kept while one layer is applied: the copies it stores, the
/// copies it hides, and its change counts.
struct Ledger<'a> {
    layer: usize,
    copies: &'a mut Vec<StoredCopy>,
    waste: &'a mut Vec<WasteEvent>,
    dive: &'a mut HashMap<PathBuf, DiveTally>,
    changes: LayerChanges,
}

impl LayerObserver<Visible> for Ledger<'_> {
    fn node(&mut self, entry: &LayerEntry, kind: &NodeKind) -> Option<Visible> {
        let (kind, bytes, link_target) = match kind {
            NodeKind::Dir => (VisibleKind::Dir, 0, None),
            NodeKind::File { size } => (VisibleKind::File, *size, None),
            NodeKind::Symlink { target } => (
                VisibleKind::Symlink,
                target.as_os_str().len() as u64,
                Some(target.clone()),
            ),
            _ => (VisibleKind::Special, 0, None),
        };
        let copy = (kind != VisibleKind::Dir).then(|| {
            self.copies.push(StoredCopy {
                layer: self.layer,
                path: entry.path.clone(),
                bytes,
                is_file: kind == VisibleKind::File,
                names: 0,
            });
            self.changes.content_bytes += bytes;
            self.copies.len() - 1
        });
        Some(Visible {
            kind,
            layer: self.layer,
            mode: entry.meta.mode,
            copy,
            link_target,
        })
    }

    fn hardlink(&mut self, entry: &LayerEntry, target: &Visible) -> Option<Visible> {
        // Only stored bodies can be linked; a link to a directory is skipped.
        target.copy?;
        Some(Visible {
            kind: target.kind,
            layer: self.layer,
            mode: entry.meta.mode,
            copy: target.copy,
            link_target: target.link_target.clone(),
        })
    }

    /// A copy is wasted once, when its last visible name disappears.
    fn hidden(&mut self, _path: &Path, old: &Visible, why: Hidden) {
        let Some(index) = old.copy else { return };
        let deleted = why == Hidden::Deleted;
        if deleted {
            self.changes.deleted.files += 1;
        }
        let copy = &mut self.copies[index];
        copy.names -= 1;
        if copy.names == 0 && copy.bytes > 0 {
            if deleted {
                self.changes.deleted.bytes += copy.bytes;
            }
            self.waste.push(WasteEvent {
                stored_in: copy.layer,
                hidden_by: self.layer,
                path: copy.path.clone(),
                bytes: copy.bytes,
                deleted,
            });
        }
    }

    fn placed(&mut self, entry: &LayerEntry, new: &Visible, replaced: Option<&Visible>) {
        if let Some(copy) = new.copy {
            self.copies[copy].names += 1;
        }
        if new.kind == VisibleKind::Dir {
            return;
        }
        tally_dive(self.dive, &entry.path, entry.size());
        // A hard link stores no new bytes.
        let bytes = match (&entry.kind, new.copy) {
            (EntryKind::Node(_), Some(copy)) => self.copies[copy].bytes,
            _ => 0,
        };
        let count = if replaced.is_some() {
            &mut self.changes.modified
        } else {
            &mut self.changes.added
        };
        count.files += 1;
        count.bytes += bytes;
    }
}

fn tally_dive(dive: &mut HashMap<PathBuf, DiveTally>, path: &Path, size: u64) {
    match dive.get_mut(path) {
        Some(tally) => {
            tally.min = tally.min.min(size);
            tally.cumulative += size;
        }
        None => {
            dive.insert(
                path.to_path_buf(),
                DiveTally {
                    min: size,
                    cumulative: size,
                },
            );
        }
    }
}

/// Linux gives up after 40 symlinks in one lookup; so do we.
const MAX_SYMLINK_HOPS: usize = 40;

/// `part / whole`, 1.0 when there is nothing at all.
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}
