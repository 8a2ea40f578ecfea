//! Applies the layers in order over path metadata only, to learn which stored
//! copies stay visible and which a later layer hides (the waste), and what
//! each layer adds, modifies and deletes.
//!
//! A "copy" is one stored body: a regular file's data or a symlink's target,
//! shared by all hard links to it. A copy is wasted once, when its last
//! visible name disappears, so every stored copy ends either visible or
//! wasted and `stored = visible + wasted` holds exactly.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use crate::image::layer::{EntryKind, LayerEntry};
use crate::image::node::NodeKind;

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
        let mut changes = LayerChanges::default();
        // Deletions refer to the layers below, so they go first.
        for entry in entries {
            let hidden = match entry.kind {
                EntryKind::Whiteout => self.hide_subtree(&entry.path, true, layer, true),
                EntryKind::Opaque => self.hide_subtree(&entry.path, false, layer, true),
                _ => continue,
            };
            changes.deleted.files += hidden.files;
            changes.deleted.bytes += hidden.bytes;
            if entry.kind == EntryKind::Whiteout {
                self.tally_dive(&entry.path, 0);
            }
        }
        for entry in entries {
            let mut link_target = None;
            let (kind, copy, bytes) = match &entry.kind {
                EntryKind::Node(NodeKind::Dir) => (VisibleKind::Dir, None, 0),
                EntryKind::Node(node) => {
                    let (kind, bytes) = match node {
                        NodeKind::File { size } => (VisibleKind::File, *size),
                        NodeKind::Symlink { target } => {
                            link_target = Some(target.clone());
                            (VisibleKind::Symlink, target.as_os_str().len() as u64)
                        }
                        _ => (VisibleKind::Special, 0),
                    };
                    let copy = self.copies.len();
                    self.copies.push(StoredCopy {
                        layer,
                        path: entry.path.clone(),
                        bytes,
                        is_file: kind == VisibleKind::File,
                        names: 0,
                    });
                    changes.content_bytes += bytes;
                    (kind, Some(copy), bytes)
                }
                EntryKind::Hardlink { target } => match self.view.get(target) {
                    Some(found) if found.copy.is_some() => {
                        link_target = found.link_target.clone();
                        (found.kind, found.copy, 0)
                    }
                    _ => continue, // a link to nothing: tar tools skip it too
                },
                EntryKind::Whiteout | EntryKind::Opaque => continue,
            };
            if kind != VisibleKind::Dir {
                self.tally_dive(&entry.path, entry.size());
            }
            let previous = self.view.get(&entry.path).map(|v| v.kind);
            match previous {
                Some(VisibleKind::Dir) if kind == VisibleKind::Dir => {}
                Some(_) => {
                    // Replacing a directory by a file hides what was under it.
                    self.hide_subtree(&entry.path, kind != VisibleKind::Dir, layer, false);
                    if kind != VisibleKind::Dir {
                        changes.modified.files += 1;
                        changes.modified.bytes += bytes;
                    }
                }
                None if kind != VisibleKind::Dir => {
                    changes.added.files += 1;
                    changes.added.bytes += bytes;
                }
                None => {}
            }
            if let Some(copy) = copy {
                self.copies[copy].names += 1;
            }
            self.view.insert(
                entry.path.clone(),
                Visible {
                    kind,
                    layer,
                    mode: entry.meta.mode,
                    copy,
                    link_target,
                },
            );
        }
        self.changes.push(changes);
    }

    /// Removes everything strictly below `dir` (and `dir` itself when
    /// `including_root`), recording the copies that lose their last name.
    fn hide_subtree(
        &mut self,
        dir: &Path,
        including_root: bool,
        layer: usize,
        deleted: bool,
    ) -> ChangeCount {
        let lower = if including_root {
            Bound::Included(dir)
        } else {
            Bound::Excluded(dir)
        };
        // PathBuf orders component by component, so a subtree is one contiguous range.
        let doomed: Vec<PathBuf> = self
            .view
            .range::<Path, _>((lower, Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(dir))
            .map(|(path, _)| path.clone())
            .collect();
        let mut hidden = ChangeCount::default();
        for path in doomed {
            let Some(visible) = self.view.remove(&path) else {
                continue;
            };
            let Some(index) = visible.copy else { continue };
            hidden.files += 1;
            let copy = &mut self.copies[index];
            copy.names -= 1;
            if copy.names == 0 && copy.bytes > 0 {
                hidden.bytes += copy.bytes;
                self.waste.push(WasteEvent {
                    stored_in: copy.layer,
                    hidden_by: layer,
                    path: copy.path.clone(),
                    bytes: copy.bytes,
                    deleted,
                });
            }
        }
        hidden
    }

    fn tally_dive(&mut self, path: &Path, size: u64) {
        match self.dive.get_mut(path) {
            Some(tally) => {
                tally.min = tally.min.min(size);
                tally.cumulative += size;
            }
            None => {
                self.dive.insert(
                    path.to_path_buf(),
                    DiveTally {
                        min: size,
                        cumulative: size,
                    },
                );
            }
        }
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
