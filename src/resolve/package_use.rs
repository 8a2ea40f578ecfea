//! How much of each package the slim image keeps: the report's `packages`
//! section. A package kept in part is where a slim image can break later:
//! the files of it that profiling and the rules did not keep are the ones a
//! code path nobody exercised would need (docs/packages.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::fileset::Reason;
use super::keep_packages::Whole;
use super::packages::PackageDb;
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// One package with at least one kept file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageUse {
    /// Index into [`PackageDb::packages`].
    #[serde(skip)]
    pub index: usize,
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Its files and symlinks in the slim image, and in the original.
    pub files_kept: usize,
    pub files_total: usize,
    /// Bytes of its regular files in the slim image, and in the original.
    pub bytes_kept: u64,
    pub bytes_total: u64,
    /// Every file of it is kept (`files_kept == files_total`).
    pub whole: bool,
    /// Why `--keep packages` kept it whole; absent in the default mode and
    /// for packages it did not expand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_whole_for: Option<Whole>,
    /// Its files and symlinks in the original (what the counts count).
    #[serde(skip)]
    pub files: Vec<PathBuf>,
}

/// One row per package owning a kept file or symlink, sorted by name.
/// Directories are not counted: they are shared between packages (and the
/// directories a package lists are not its files, see [`PackageDb::files_of`]).
pub fn package_use(
    tree: &dyn FsTree,
    packages: &PackageDb,
    kept: &BTreeMap<PathBuf, Reason>,
    expanded: &BTreeMap<usize, Whole>,
) -> Vec<PackageUse> {
    let mut rows = package_counts(tree, packages, kept, expanded);
    add_sizes(&mut rows, tree, kept);
    rows
}

/// [`package_use`] without the bytes (left 0): counting needs only each
/// file's kind, which a walker that looks files up on first use knows
/// without a round trip. [`add_sizes`] adds them, when it costs no wait
/// (the build does it while the engine loads the slim image).
pub fn package_counts(
    tree: &dyn FsTree,
    packages: &PackageDb,
    kept: &BTreeMap<PathBuf, Reason>,
    expanded: &BTreeMap<usize, Whole>,
) -> Vec<PackageUse> {
    let mut rows = Vec::new();
    for (index, package) in packages.packages.iter().enumerate() {
        let files = packages.files_of(index);
        if !files.iter().any(|path| kept.contains_key(path)) {
            continue;
        }
        let counted: Vec<PathBuf> = files
            .iter()
            .filter(|path| !matches!(tree.kind_unsized(path), Some(NodeKind::Dir) | None))
            .cloned()
            .collect();
        let files_kept = counted.iter().filter(|p| kept.contains_key(*p)).count();
        if files_kept == 0 {
            continue;
        }
        rows.push(PackageUse {
            index,
            name: package.name.clone(),
            version: package.version.clone(),
            architecture: package.architecture.clone(),
            files_kept,
            files_total: counted.len(),
            bytes_kept: 0,
            bytes_total: 0,
            whole: files_kept == counted.len(),
            kept_whole_for: expanded.get(&index).copied(),
            files: counted,
        });
    }
    rows
}

/// The bytes of each row's regular files, kept and in all.
pub fn add_sizes(rows: &mut [PackageUse], tree: &dyn FsTree, kept: &BTreeMap<PathBuf, Reason>) {
    for row in rows {
        tree.prefetch(&row.files, 0);
        let (mut bytes_kept, mut bytes_total) = (0, 0);
        for path in &row.files {
            if let Some(NodeKind::File { size }) = tree.kind(path) {
                bytes_total += size;
                if kept.contains_key(path) {
                    bytes_kept += size;
                }
            }
        }
        row.bytes_kept = bytes_kept;
        row.bytes_total = bytes_total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;
    use std::path::Path;

    #[test]
    fn counts_files_and_bytes_kept_of_each_package() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let write = |path: &str, text: &str| {
            let at = r.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(at, text).unwrap();
        };
        write(
            "/var/lib/dpkg/status",
            "Package: a\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n\
             Package: b\nStatus: install ok installed\nVersion: 2.0\nArchitecture: all\n",
        );
        write(
            "/var/lib/dpkg/info/a.list",
            "/usr\n/usr/a1\n/usr/a2\n/usr/gone\n",
        );
        write("/var/lib/dpkg/info/b.list", "/usr\n/usr/b1\n");
        write("/usr/a1", "1234");
        write("/usr/a2", "12");
        write("/usr/b1", "1");
        let tree = HostTree::new(r);
        let db = PackageDb::load(&tree);
        let kept: BTreeMap<PathBuf, Reason> =
            [("/usr", Reason::Parent), ("/usr/a1", Reason::Accessed)]
                .iter()
                .map(|(p, r)| (PathBuf::from(p), *r))
                .collect();
        let rows = package_use(&tree, &db, &kept, &BTreeMap::new());
        assert_eq!(rows.len(), 1, "b has only its directory kept: {rows:?}");
        let a = &rows[0];
        assert_eq!((a.name.as_str(), a.version.as_str()), ("a", "1.0"));
        assert_eq!((a.files_kept, a.files_total), (1, 2));
        assert_eq!((a.bytes_kept, a.bytes_total), (4, 6));
        assert!(!a.whole);
        assert!(db.owns_file(0, Path::new("/usr/a1")));
        assert!(!db.owns_file(0, Path::new("/usr")));
    }
}
