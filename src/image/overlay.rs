//! How one layer changes the filesystem below it, in the one place that knows
//! the overlay rules: a whiteout deletes a path and its subtree, an opaque
//! directory hides what lower layers put under it (but keeps what its own
//! layer adds), a non-directory replacing anything hides the old subtree, a
//! directory over a directory only updates it, and a hard link names the
//! value an earlier entry already placed.
//!
//! The tree maps each visible path to whatever its owner keeps per path: the
//! merged filesystem keeps a [`Node`](super::node::Node), xray keeps its
//! accounting. A [`LayerObserver`] makes those values and hears every path
//! that is hidden or written, so it can keep its own books on top.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::layer::{EntryKind, LayerEntry};
use super::node::NodeKind;

/// The per-path value of a tree; the rules only need to tell directories apart.
pub trait OverlayValue {
    fn is_dir(&self) -> bool;
}

/// Why a path left the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// By a whiteout, or by an opaque directory above it.
    Deleted,
    /// By a new entry written at the path (or above it, for the subtree).
    Replaced,
}

/// What the owner of a tree is asked and told while a layer is applied.
pub trait LayerObserver<V> {
    /// The value to store for a node entry; `None` skips the entry.
    fn node(&mut self, entry: &LayerEntry, kind: &NodeKind) -> Option<V>;

    /// The value to store for a hard link whose target currently holds
    /// `target`; `None` skips the link.
    fn hardlink(&mut self, entry: &LayerEntry, target: &V) -> Option<V>;

    /// `old` was removed from `path`. Called in path order, a directory
    /// before its contents.
    fn hidden(&mut self, _path: &Path, _old: &V, _why: Hidden) {}

    /// `new` was stored at `entry.path`, over `replaced` when something was
    /// there (a replaced non-directory has been reported hidden already).
    fn placed(&mut self, _entry: &LayerEntry, _new: &V, _replaced: Option<&V>) {}

    /// The value of a directory the unpacker creates at `path` for `entry`,
    /// where a lower layer has something else (see [`apply_layer`]); `None`
    /// leaves the lower value in place.
    fn implicit_dir(&mut self, _entry: &LayerEntry, _path: &Path) -> Option<V> {
        None
    }
}

/// Applies one layer's entries, in tar order, to `tree`.
pub fn apply_layer<V: OverlayValue>(
    tree: &mut BTreeMap<PathBuf, V>,
    entries: &[LayerEntry],
    observer: &mut impl LayerObserver<V>,
) {
    // Deletions refer to the layers below, so they all go before any addition:
    // an opaque directory keeps the children its own layer brings.
    for entry in entries {
        match entry.kind {
            EntryKind::Whiteout => hide(tree, &entry.path, true, Hidden::Deleted, observer),
            EntryKind::Opaque => hide(tree, &entry.path, false, Hidden::Deleted, observer),
            _ => {}
        }
    }
    for entry in entries {
        let new = match &entry.kind {
            EntryKind::Node(kind) => observer.node(entry, kind),
            EntryKind::Hardlink { target } => tree
                .get(target)
                .and_then(|target| observer.hardlink(entry, target)),
            EntryKind::Whiteout | EntryKind::Opaque => continue,
        };
        // Declined by the observer, or a link to nothing (tar tools skip those too).
        let Some(new) = new else { continue };
        make_directories(tree, entry, observer);
        let old = tree.remove(&entry.path);
        let dir_over_dir = new.is_dir() && old.as_ref().is_some_and(V::is_dir);
        if !dir_over_dir {
            if let Some(old) = &old {
                observer.hidden(&entry.path, old, Hidden::Replaced);
            }
            if !new.is_dir() {
                // Nothing can live under a non-directory.
                hide(tree, &entry.path, false, Hidden::Replaced, observer);
            }
        }
        observer.placed(entry, &new, old.as_ref());
        tree.insert(entry.path.clone(), new);
    }
}

/// Docker unpacks a layer into a directory of its own, where a name's
/// missing directories are created (`MkdirAll`); such a directory then hides
/// whatever non-directory a lower layer had at its path (a symlink `/app`
/// below, `app/config` in this layer: `/app` is a directory now).
fn make_directories<V: OverlayValue>(
    tree: &mut BTreeMap<PathBuf, V>,
    entry: &LayerEntry,
    observer: &mut impl LayerObserver<V>,
) {
    let Some(parent) = entry.path.parent() else {
        return;
    };
    // Outermost first: a directory made high up hides what was below it.
    let ancestors: Vec<&Path> = parent
        .ancestors()
        .take_while(|a| a.parent().is_some())
        .collect();
    for dir in ancestors.into_iter().rev() {
        if tree.get(dir).is_none_or(V::is_dir) {
            continue;
        }
        let Some(made) = observer.implicit_dir(entry, dir) else {
            continue;
        };
        if let Some(old) = tree.remove(dir) {
            observer.hidden(dir, &old, Hidden::Replaced);
        }
        hide(tree, dir, false, Hidden::Replaced, observer);
        tree.insert(dir.to_path_buf(), made);
    }
}

/// Removes everything strictly below `dir` (and `dir` itself when
/// `including_root`), telling the observer about each path in path order.
fn hide<V>(
    tree: &mut BTreeMap<PathBuf, V>,
    dir: &Path,
    including_root: bool,
    why: Hidden,
    observer: &mut impl LayerObserver<V>,
) {
    let lower = if including_root {
        Bound::Included(dir)
    } else {
        Bound::Excluded(dir)
    };
    let doomed: Vec<PathBuf> = subtree(tree, lower, dir)
        .map(|(path, _)| path.clone())
        .collect();
    for path in doomed {
        if let Some(old) = tree.remove(&path) {
            observer.hidden(&path, &old, why);
        }
    }
}

/// Every entry of `tree` strictly below `dir`, in path order.
pub fn descendants<'a, V>(
    tree: &'a BTreeMap<PathBuf, V>,
    dir: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a V)> + 'a {
    subtree(tree, Bound::Excluded(dir), dir)
}

/// The paths of `tree`'s entries directly inside `dir`, in path order.
/// Each subtree below a child is jumped over, not walked: listing `/` costs
/// its children, not the image's every path (resolution lists directories
/// from the root down, so walking every subtree made that quadratic in depth).
pub fn children<V>(tree: &BTreeMap<PathBuf, V>, dir: &Path) -> Vec<PathBuf> {
    let mut children = Vec::new();
    let mut next = tree
        .range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
        .next();
    while let Some((path, _)) = next {
        let Some(name) = path
            .strip_prefix(dir)
            .ok()
            .and_then(|rest| rest.components().next())
        else {
            break;
        };
        let child = dir.join(name);
        if *path == child {
            children.push(child.clone());
        }
        // No name holds a NUL, so `name\0` is the first name after `name`
        // and after everything below it.
        let mut after = child.into_os_string();
        after.push("\0");
        let after = PathBuf::from(after);
        next = tree
            .range::<Path, _>((Bound::Included(after.as_path()), Bound::Unbounded))
            .next();
    }
    children
}

/// [`FsTree::walk`](crate::resolve::tree::FsTree::walk) over a tree held in
/// path order: one pass over the subtree's range, which is already depth
/// first with each directory before its contents. An entry whose parent is
/// not a directory the walk reached is passed over, as a walk by listing
/// would never reach it.
pub fn walk<'t, V>(
    tree: &'t BTreeMap<PathBuf, V>,
    dir: &'t Path,
    kind_of: impl Fn(&'t V) -> &'t NodeKind,
    visit: &mut dyn FnMut(&Path, &NodeKind),
) {
    let mut open: Vec<&Path> = vec![dir];
    for (path, value) in descendants(tree, dir) {
        while open.len() > 1 && !path.starts_with(open[open.len() - 1]) {
            open.pop();
        }
        if path.parent() != Some(open[open.len() - 1]) {
            continue;
        }
        let kind = kind_of(value);
        visit(path, kind);
        if *kind == NodeKind::Dir {
            open.push(path);
        }
    }
}

fn subtree<'a, V>(
    tree: &'a BTreeMap<PathBuf, V>,
    lower: Bound<&'a Path>,
    dir: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a V)> + 'a {
    // PathBuf orders component by component, so a subtree is one contiguous range.
    tree.range::<Path, _>((lower, Bound::Unbounded))
        .take_while(move |(path, _)| path.starts_with(dir))
}

#[cfg(test)]
mod tests;
