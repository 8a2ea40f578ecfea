//! `--keep packages`: the safer mode. Profiling and the runtime rules keep
//! what a run used and what a program is known to load later; a package
//! kept whole also keeps what neither saw: the plugin a handler imports by a
//! name from the query string, the data file read on the first request of a
//! kind profiling never sent. docs/packages.md has the numbers.
//!
//! Kept whole:
//! - every package owning a file (or symlink) the app touched: opened, ran,
//!   listed or looked up, or a symlink on the way to the image's command.
//!   Directories do not count: `/usr/share` belongs to half the database;
//! - every package those depend on (`Depends`, `Pre-Depends`, transitively)
//!   that owns a regular file kept for any other reason (a symlink does not
//!   count: a shared documentation link is no use of the package), except `Priority: required`
//!   packages (coreutils, libc-bin, dash…), which only their own touched
//!   files make whole: they are in every Debian image and mostly unused.
//!
//! Runs before the runtime rules' rounds, so the ELF and `#!` needs of the
//! added files, and what the rules derive from them, are kept too.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::packages::PackageDb;
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// What the kept set is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KeepMode {
    /// What the app was seen to use, with the closures, the runtime rules and app files.
    #[default]
    Observed,
    /// That, plus every file of each package it touched and of the packages
    /// those depend on that own a kept file (docs/packages.md).
    Packages,
}

/// Why a package is kept whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Whole {
    /// The app touched one of its files.
    Touched,
    /// A package kept whole depends on it, and it owns a kept file.
    Dependency,
}

/// The packages to keep whole, by index into [`PackageDb::packages`].
pub fn whole_packages(
    tree: &dyn FsTree,
    packages: &PackageDb,
    touched: &[PathBuf],
    is_kept: &dyn Fn(&Path) -> bool,
) -> BTreeMap<usize, Whole> {
    let mut whole: BTreeMap<usize, Whole> = BTreeMap::new();
    for path in touched {
        if matches!(tree.kind(path), Some(NodeKind::Dir) | None) {
            continue;
        }
        for &index in packages.owners(path) {
            if packages.owns_file(index, path) {
                whole.insert(index, Whole::Touched);
            }
        }
    }
    // Every package reachable through Depends/Pre-Depends, breadth first; a
    // name is a package's own or one it provides (every architecture of it).
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, package) in packages.packages.iter().enumerate() {
        for name in std::iter::once(&package.name).chain(&package.provides) {
            by_name.entry(name.as_str()).or_default().push(index);
        }
    }
    let mut reached: BTreeSet<usize> = whole.keys().copied().collect();
    let mut queue: VecDeque<usize> = reached.iter().copied().collect();
    while let Some(index) = queue.pop_front() {
        for name in &packages.packages[index].depends {
            for &dependency in by_name.get(name.as_str()).into_iter().flatten() {
                if reached.insert(dependency) {
                    queue.push_back(dependency);
                }
            }
        }
    }
    for index in reached {
        if whole.contains_key(&index) || packages.packages[index].is_required() {
            continue;
        }
        let owns_kept = packages
            .files_of(index)
            .iter()
            .any(|path| matches!(tree.kind(path), Some(NodeKind::File { .. })) && is_kept(path));
        if owns_kept {
            whole.insert(index, Whole::Dependency);
        }
    }
    whole
}

/// The paths of package `index` that exist in the tree: what keeping it whole adds.
pub fn existing_paths<'a>(
    tree: &'a dyn FsTree,
    packages: &'a PackageDb,
    index: usize,
) -> impl Iterator<Item = &'a PathBuf> + 'a {
    packages
        .paths_of(index)
        .iter()
        .filter(move |path| tree.kind(path).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;

    fn write(root: &Path, path: &str, text: &str) {
        let at = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }

    /// python3 → libpython (→ libc6, required here; → zlib-abi, which zlib1g
    /// provides), mime-support | media-types, and an unrelated required
    /// coreutils; tzdata depends on nothing.
    fn image() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let stanza = |name: &str, priority: &str, depends: &str| {
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: {priority}\n\
                 Version: 1\nArchitecture: amd64\nDepends: {depends}\n\n"
            )
        };
        let status = [
            stanza(
                "python3",
                "optional",
                "libpython (>= 1), mime-support | media-types",
            ),
            stanza("libpython", "optional", "libc6, zlib-abi"),
            stanza("media-types", "optional", ""),
            stanza("zlib1g", "optional", "libc6").replace("Depends", "Provides: zlib-abi\nDepends"),
            stanza("mime-support", "optional", "tzdata"),
            stanza("libc6", "required", "libgcc-s1"),
            stanza("coreutils", "required", "libc6"),
            stanza("tzdata", "optional", "debconf"),
        ]
        .concat();
        write(r, "/var/lib/dpkg/status", &status);
        let lists = [
            ("python3", "/usr\n/usr/bin\n/usr/bin/python3\n"),
            (
                "libpython",
                "/usr\n/usr/lib\n/usr/lib/python/os.py\n/usr/lib/python/colorsys.py\n",
            ),
            ("mime-support", "/etc\n/etc/mime.types\n"),
            (
                "libc6",
                "/usr/lib\n/usr/lib/libc.so.6\n/usr/lib/gconv/IBM037.so\n",
            ),
            ("coreutils", "/usr/bin\n/usr/bin/ls\n"),
            ("tzdata", "/usr/share/zoneinfo/UTC\n"),
            ("media-types", "/etc\n/etc/media.types\n"),
            ("zlib1g", "/usr/lib\n/usr/lib/libz.so.1\n"),
        ];
        for (name, list) in lists {
            write(r, &format!("/var/lib/dpkg/info/{name}.list"), list);
            for path in list
                .lines()
                .filter(|l| l.contains('.') || l.ends_with("ls"))
            {
                write(r, path, "x");
            }
        }
        write(r, "/usr/bin/python3", "x");
        root
    }

    fn names(db: &PackageDb, whole: &BTreeMap<usize, Whole>) -> Vec<(String, Whole)> {
        whole
            .iter()
            .map(|(&i, &why)| (db.packages[i].name.clone(), why))
            .collect()
    }

    #[test]
    fn touched_packages_and_dependencies_owning_kept_files_are_whole() {
        let root = image();
        let tree = HostTree::new(root.path());
        let db = PackageDb::load(&tree);
        let touched: Vec<PathBuf> = ["/usr/bin/python3", "/usr/lib/python/os.py", "/usr/lib"]
            .iter()
            .map(PathBuf::from)
            .collect();
        // libc.so.6, libz and both MIME tables are kept (by the closure, by a rule).
        let kept = |path: &Path| {
            touched.iter().any(|t| t == path)
                || [
                    "/usr/lib/libc.so.6",
                    "/etc/mime.types",
                    "/etc/media.types",
                    "/usr/lib/libz.so.1",
                ]
                .iter()
                .any(|k| path == Path::new(k))
        };
        let whole = whole_packages(&tree, &db, &touched, &kept);
        assert_eq!(
            names(&db, &whole),
            [
                ("libpython".to_string(), Whole::Touched),
                // The second alternative of `mime-support | media-types` too.
                ("media-types".to_string(), Whole::Dependency),
                ("mime-support".to_string(), Whole::Dependency),
                ("python3".to_string(), Whole::Touched),
                // Through the virtual name it provides.
                ("zlib1g".to_string(), Whole::Dependency),
            ]
        );
        // libc6 owns a kept file but is required and untouched; tzdata owns
        // nothing kept; coreutils is not a dependency of anything touched.
        let with_libc: Vec<PathBuf> = touched
            .iter()
            .cloned()
            .chain([PathBuf::from("/usr/lib/libc.so.6")])
            .collect();
        let whole = whole_packages(&tree, &db, &with_libc, &kept);
        let libc6 = db.find("libc6").unwrap();
        assert_eq!(whole.get(&libc6), Some(&Whole::Touched));
        assert!(
            existing_paths(&tree, &db, libc6).any(|p| p == Path::new("/usr/lib/gconv/IBM037.so"))
        );
    }
}
