//! Finding a module's files under one search root, the way CPython's path
//! finder does: `a/b/c.py`, `a/b/c/__init__.py`, extension modules
//! `a/b/c.*.so`, byte code without source `a/b/c.pyc`, and namespace
//! packages (a directory without `__init__`). Directory listings are cached,
//! so a lookup costs a few binary searches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::image::node::NodeKind;
use crate::resolve::pathwalk::resolve;
use crate::resolve::tree::FsTree;

/// A directory imports are looked up in: as named (PYTHONPATH may go
/// through symlinks, which must be kept), and where it really is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub named: PathBuf,
    pub real: PathBuf,
}

impl Root {
    /// A root named by its real path.
    pub fn real(path: &Path) -> Root {
        Root {
            named: path.to_path_buf(),
            real: path.to_path_buf(),
        }
    }
}

/// A file (or namespace package directory) an import runs or needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub named: PathBuf,
    pub real: PathBuf,
}

#[derive(Default)]
pub struct Finder {
    /// Real directory → the UTF-8 names in it, sorted.
    listings: HashMap<PathBuf, Rc<Vec<String>>>,
    /// Path of a name in a listing → the real directory it is, if it is one.
    dirs: HashMap<PathBuf, Option<PathBuf>>,
}

impl Finder {
    /// The entries of the real directory `dir` whose names are UTF-8, sorted.
    pub fn listing(&mut self, tree: &dyn FsTree, dir: &Path) -> Rc<Vec<String>> {
        if let Some(names) = self.listings.get(dir) {
            return Rc::clone(names);
        }
        let mut names: Vec<String> = tree
            .list(dir)
            .iter()
            .filter_map(|entry| entry.file_name()?.to_str().map(str::to_string))
            .collect();
        names.sort();
        let names = Rc::new(names);
        self.listings.insert(dir.to_path_buf(), Rc::clone(&names));
        names
    }

    /// The real directory the entry `name` of the real directory `parent` is
    /// (following a symlink), if it is a directory.
    pub fn subdir(&mut self, tree: &dyn FsTree, parent: &Path, name: &str) -> Option<PathBuf> {
        let path = parent.join(name);
        if let Some(known) = self.dirs.get(&path) {
            return known.clone();
        }
        let listed = self
            .listing(tree, parent)
            .binary_search_by(|entry| entry.as_str().cmp(name))
            .is_ok();
        let real = match listed.then(|| tree.kind(&path)).flatten() {
            Some(NodeKind::Dir) => Some(path.clone()),
            Some(NodeKind::Symlink { .. }) => resolve(tree, &path)
                .filter(|found| tree.kind(&found.path) == Some(NodeKind::Dir))
                .map(|found| found.path),
            _ => None,
        };
        self.dirs.insert(path, real.clone());
        real
    }

    /// What `import dotted` runs from `root`: the `__init__` files of the
    /// packages on the way and the module's own files, or its directory when
    /// it is a namespace package. Packages found before a missing part are
    /// still returned: Python ran their `__init__` before failing.
    pub fn find(&mut self, tree: &dyn FsTree, root: &Root, dotted: &str) -> Vec<Found> {
        let mut found = Vec::new();
        let mut dir = root.clone();
        let mut parts = dotted.split('.').peekable();
        while let Some(part) = parts.next() {
            let package = self.subdir(tree, &dir.real, part).map(|real| Root {
                named: dir.named.join(part),
                real,
            });
            if parts.peek().is_some() {
                let Some(package) = package else {
                    return found;
                };
                found.extend(self.module_files(tree, &package, "__init__"));
                dir = package;
                continue;
            }
            found.extend(self.module_files(tree, &dir, part));
            if let Some(package) = package {
                let init = self.module_files(tree, &package, "__init__");
                if init.is_empty() {
                    found.push(Found {
                        named: package.named,
                        real: package.real,
                    });
                } else {
                    found.extend(init);
                }
            }
        }
        found
    }

    /// The files of module `stem` directly in `dir`: `stem.py`, `stem.pyc`
    /// and extension modules (`stem.cpython-311-x86_64-linux-gnu.so`,
    /// `stem.abi3.so`, `stem.so`). All are kept when several exist: which
    /// one an interpreter picks depends on its version.
    fn module_files(&mut self, tree: &dyn FsTree, dir: &Root, stem: &str) -> Vec<Found> {
        let listing = self.listing(tree, &dir.real);
        let dotted = format!("{stem}.");
        let start = listing.partition_point(|name| name.as_str() < dotted.as_str());
        let mut found = Vec::new();
        for name in listing[start..]
            .iter()
            .take_while(|n| n.starts_with(&dotted))
        {
            let suffix = &name[stem.len()..];
            if !(suffix == ".py" || suffix == ".pyc" || suffix.ends_with(".so")) {
                continue;
            }
            let path = dir.real.join(name);
            let real = match tree.kind(&path) {
                Some(NodeKind::File { .. }) => path,
                Some(NodeKind::Symlink { .. }) => match resolve(tree, &path) {
                    Some(target)
                        if matches!(tree.kind(&target.path), Some(NodeKind::File { .. })) =>
                    {
                        target.path
                    }
                    _ => continue,
                },
                _ => continue,
            };
            found.push(Found {
                named: dir.named.join(name),
                real,
            });
        }
        found
    }
}
