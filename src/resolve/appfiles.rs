//! The app's own files: what the image's author added, not a package. A web
//! root, `/app`, `/srv/site`, templates, static assets, data files. They are
//! usually small, and they are where unexercised code paths hide (a custom
//! `404.html`, a handler's template, a module only one route imports).
//!
//! A directory becomes an *app root* when the app touched an unowned path in
//! it, or it is the WORKDIR. The root is the first directory on the way down
//! from `/` that is not a shared system directory (`/srv/site/css/x.css` →
//! `/srv/site`, `/var/www/html/index.html` → `/var/www`,
//! `/usr/share/nginx/html/index.html` → `/usr/share/nginx`). Every file no
//! package owns below a root is kept, except build caches and leftovers, and
//! except dependency trees (`node_modules`, `site-packages`, `dist-packages`),
//! which the runtime rules keep package by package. Runtime library trees
//! (`/usr/lib/jvm`, `/usr/local/lib/python3.11`, …) are never app roots: a
//! runtime built from source owns no package but is not the app.
//!
//! Size caps keep a data directory from being kept by surprise: a file over
//! [`MAX_FILE_BYTES`] is skipped, and a root whose kept files would exceed
//! [`MAX_ROOT_BYTES`] is skipped whole; both are reported. docs/app-files.md
//! has the reasons and the measurements.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::packages::PackageDb;
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// A single unowned file larger than this is data, not the app, unless the app opened it.
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// An app root with more than this in unowned files is skipped whole.
pub const MAX_ROOT_BYTES: u64 = 128 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AppFilesMode {
    /// App roots, without leftovers, within the size caps.
    #[default]
    Auto,
    /// App roots, without leftovers, whatever their size.
    All,
    /// Only what the app touched.
    None,
}

/// Directories shared by unrelated software: never an app root themselves.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/games",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/libx32",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/etc",
    "/usr/local/include",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/usr/local/libexec",
    "/usr/local/sbin",
    "/usr/local/share",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/local",
    "/var/log",
    "/var/mail",
    "/var/opt",
    "/var/spool",
    "/var/tmp",
];

/// Directories below which packages of a language runtime live; the
/// runtime rules keep what is imported from them, package by package.
const DEPENDENCY_DIRS: &[&str] = &["node_modules", "site-packages", "dist-packages"];

/// Leftovers of building or developing, never the app.
const LEFTOVER_DIRS: &[&str] = &[
    ".cache",
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".tox",
    ".npm",
    ".yarn",
    ".gradle",
    ".m2",
];
const LEFTOVER_EXTENSIONS: &[&str] = &["pyc", "pyo", "a", "o"];

/// Names of runtime library trees directly in a library directory
/// (`/usr/lib/jvm`, `/usr/local/lib/python3.12`, `/usr/share/perl5`).
fn is_runtime_library_name(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "jvm", "java", "nodejs", "node", "perl", "perl5", "ruby", "gems", "php", "go", "golang",
        "python", "python3", "pypy", "pypy3", "lua", "R",
    ];
    let versioned = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
    };
    NAMES.contains(&name)
        || ["python", "perl", "php", "ruby", "lua", "pypy"]
            .iter()
            .any(|p| versioned(p))
}

fn is_system_dir(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|dir| path == Path::new(dir))
        // /usr/lib/x86_64-linux-gnu and its kin hold every package's libraries.
        || (path.parent().is_some_and(|p| p == Path::new("/usr/lib") || p == Path::new("/lib"))
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-linux-")))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Without a package database nothing is owned, so a touched file under
/// `/usr/share/zoneinfo` would make a root of it: there, only directories
/// outside the trees packages install into can be roots.
fn outside_system_trees(root: &Path) -> bool {
    const PACKAGE_TREES: &[&str] = &[
        "/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/var",
    ];
    root.starts_with("/var/www") || !PACKAGE_TREES.iter().any(|tree| root.starts_with(tree))
}

/// The app root for a touched directory `dir`, if it has one.
fn root_for(dir: &Path) -> Option<PathBuf> {
    let root = dir.ancestors().filter(|a| !is_system_dir(a)).last()?;
    let parent = root.parent()?;
    let in_library_dir = ["lib", "lib64", "share"]
        .iter()
        .any(|lib| name_of(parent) == *lib);
    if in_library_dir && is_runtime_library_name(&name_of(root)) {
        return None;
    }
    // From the root's own name down to `dir`.
    let in_dependencies = dir
        .strip_prefix(parent)
        .ok()?
        .components()
        .any(|c| DEPENDENCY_DIRS.iter().any(|d| c.as_os_str() == *d));
    (!in_dependencies).then(|| root.to_path_buf())
}

#[derive(Debug, Clone, Default)]
pub struct AppFiles {
    /// The app roots, outermost only, sorted.
    pub roots: Vec<PathBuf>,
    /// Unowned files and symlinks to keep, sorted.
    pub paths: Vec<PathBuf>,
    /// What the caps left out, for the report's notes.
    pub notes: Vec<String>,
}

/// The app's files for `touched` (real paths the app opened, ran, listed or
/// looked up) and the WORKDIR.
pub fn find_app_files(
    tree: &dyn FsTree,
    packages: &PackageDb,
    touched: &[PathBuf],
    workdir: Option<&Path>,
    mode: AppFilesMode,
) -> AppFiles {
    if mode == AppFilesMode::None {
        return AppFiles::default();
    }
    let mut roots: BTreeSet<PathBuf> = BTreeSet::new();
    for path in touched {
        if packages.is_owned(path) {
            continue;
        }
        let dir = match tree.kind(path) {
            Some(NodeKind::Dir) => path.as_path(),
            Some(_) => path.parent().unwrap_or(Path::new("/")),
            None => continue,
        };
        roots.extend(
            root_for(dir).filter(|root| !packages.is_empty() || outside_system_trees(root)),
        );
    }
    if let Some(workdir) = workdir.filter(|w| tree.kind(w) == Some(NodeKind::Dir)) {
        roots.extend(root_for(workdir).filter(|root| root == workdir));
    }
    // Outermost roots only: /srv/site covers /srv/site/css.
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter(|root| {
            !root
                .ancestors()
                .skip(1)
                .any(|a| roots.contains(&a.to_path_buf()))
        })
        .cloned()
        .collect();

    let capped = mode == AppFilesMode::Auto;
    let mut found = AppFiles {
        roots: roots.clone(),
        ..AppFiles::default()
    };
    for root in &roots {
        let mut walk = RootWalk::default();
        walk.visit(tree, packages, root);
        let (mut big_files, mut big_bytes) = (0usize, 0u64);
        let mut kept = Vec::new();
        let mut bytes = 0u64;
        for (path, size) in walk.entries {
            if capped && size > MAX_FILE_BYTES && !touched.contains(&path) {
                big_files += 1;
                big_bytes += size;
                continue;
            }
            bytes += size;
            kept.push(path);
        }
        if big_files > 0 {
            found.notes.push(format!(
                "app files: skipped {big_files} file(s) over {} MB under {} ({}); keep them with \
                 --include-path or --keep-app-files all",
                MAX_FILE_BYTES >> 20,
                root.display(),
                megabytes(big_bytes)
            ));
        }
        if capped && bytes > MAX_ROOT_BYTES {
            found.notes.push(format!(
                "app files: {} holds {} in {} unowned file(s), over the {} MB cap: only what \
                 the app touched there is kept; keep more with --include-path or \
                 --keep-app-files all",
                root.display(),
                megabytes(bytes),
                kept.len(),
                MAX_ROOT_BYTES >> 20
            ));
            continue;
        }
        found.paths.extend(kept);
    }
    found.paths.sort();
    found.paths.dedup();
    found
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The unowned files and symlinks below one root, leftovers and dependency trees skipped.
#[derive(Default)]
struct RootWalk {
    entries: Vec<(PathBuf, u64)>,
}

impl RootWalk {
    fn visit(&mut self, tree: &dyn FsTree, packages: &PackageDb, dir: &Path) {
        for entry in tree.list(dir) {
            let name = name_of(&entry);
            match tree.kind(&entry) {
                Some(NodeKind::Dir)
                    if !LEFTOVER_DIRS.contains(&name.as_str())
                        && !DEPENDENCY_DIRS.contains(&name.as_str()) =>
                {
                    self.visit(tree, packages, &entry);
                }
                Some(NodeKind::File { size }) => {
                    let leftover = Path::new(&name)
                        .extension()
                        .is_some_and(|e| LEFTOVER_EXTENSIONS.iter().any(|l| e == *l));
                    if !leftover && !packages.is_owned(&entry) {
                        self.entries.push((entry, size));
                    }
                }
                Some(NodeKind::Symlink { .. }) if !packages.is_owned(&entry) => {
                    self.entries.push((entry, 0));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;

    fn write(root: &Path, path: &str, bytes: usize) {
        let at = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, vec![b'x'; bytes]).unwrap();
    }

    fn write_text(root: &Path, path: &str, text: &str) {
        let at = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    /// A Debian-like tree: nginx owns /var/www/html and its default page;
    /// the author added a site and an app.
    fn image() -> (tempfile::TempDir, PackageDb) {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "/var/www/html/index.nginx-debian.html", 10);
        write(r, "/var/www/html/index.html", 10);
        write(r, "/var/www/html/404.html", 10);
        write(r, "/var/www/html/css/site.css", 10);
        write(r, "/var/www/html/.git/objects/ab", 10);
        write(r, "/srv/app/app.py", 10);
        write(r, "/srv/app/handlers/report.py", 10);
        write(
            r,
            "/srv/app/handlers/__pycache__/report.cpython-311.pyc",
            10,
        );
        write(r, "/srv/app/templates/page.html", 10);
        write(r, "/srv/app/node_modules/left/index.js", 10);
        write(r, "/srv/app/data/big.bin", 0);
        write(r, "/usr/local/lib/python3.11/json/decoder.py", 10);
        write(r, "/usr/local/lib/python3.11/json/encoder.py", 10);
        write(r, "/usr/local/bin/entrypoint.sh", 10);
        write(r, "/usr/local/bin/other-tool", 10);
        write(r, "/usr/share/nginx/html/index.html", 10);
        write_text(
            r,
            "/var/lib/dpkg/status",
            "Package: nginx-common\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n",
        );
        write_text(
            r,
            "/var/lib/dpkg/info/nginx-common.list",
            "/.\n/var\n/var/www\n/var/www/html\n/var/www/html/index.nginx-debian.html\n/usr/share/nginx\n",
        );
        let db = PackageDb::load(&HostTree::new(r));
        assert!(!db.is_empty());
        (root, db)
    }

    #[test]
    fn roots_are_the_first_directories_below_the_shared_ones() {
        assert_eq!(
            root_for(Path::new("/srv/app/handlers")),
            Some("/srv/app".into())
        );
        assert_eq!(
            root_for(Path::new("/var/www/html")),
            Some("/var/www".into())
        );
        assert_eq!(root_for(Path::new("/app")), Some("/app".into()));
        assert_eq!(
            root_for(Path::new("/usr/share/nginx/html")),
            Some("/usr/share/nginx".into())
        );
        assert_eq!(root_for(Path::new("/usr/local/bin")), None);
        assert_eq!(root_for(Path::new("/usr/lib/x86_64-linux-gnu")), None);
        assert_eq!(root_for(Path::new("/usr/local/lib/python3.11/json")), None);
        assert_eq!(root_for(Path::new("/usr/lib/jvm/java-17/lib")), None);
        assert_eq!(root_for(Path::new("/app/node_modules/left")), None);
        assert_eq!(root_for(Path::new("/")), None);
    }

    #[test]
    fn unowned_files_beside_touched_ones_are_kept_without_leftovers() {
        let (root, db) = image();
        let tree = HostTree::new(root.path());
        let touched = paths(&[
            "/var/www/html/index.html",
            "/srv/app/app.py",
            "/usr/local/lib/python3.11/json/decoder.py",
            "/usr/local/bin/entrypoint.sh",
        ]);
        let found = find_app_files(&tree, &db, &touched, None, AppFilesMode::Auto);
        assert_eq!(found.roots, paths(&["/srv/app", "/var/www"]));
        assert_eq!(
            found.paths,
            paths(&[
                "/srv/app/app.py",
                "/srv/app/data/big.bin",
                "/srv/app/handlers/report.py",
                "/srv/app/templates/page.html",
                "/var/www/html/404.html",
                "/var/www/html/css/site.css",
                "/var/www/html/index.html",
            ])
        );
        assert!(found.notes.is_empty(), "{:?}", found.notes);
        let none = find_app_files(&tree, &db, &touched, None, AppFilesMode::None);
        assert!(none.paths.is_empty());
    }

    #[test]
    fn without_a_package_database_only_app_like_trees_are_roots() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "/usr/share/zoneinfo/Europe/Paris", 10);
        write(r, "/usr/share/zoneinfo/Asia/Tokyo", 10);
        write(r, "/app/main.py", 10);
        write(r, "/app/util.py", 10);
        let tree = HostTree::new(r);
        let touched = paths(&["/usr/share/zoneinfo/Europe/Paris", "/app/main.py"]);
        let found = find_app_files(
            &tree,
            &PackageDb::default(),
            &touched,
            None,
            AppFilesMode::Auto,
        );
        assert_eq!(found.roots, paths(&["/app"]));
        assert_eq!(found.paths, paths(&["/app/main.py", "/app/util.py"]));
    }

    #[test]
    fn the_workdir_is_a_root_and_owned_touched_files_make_none() {
        let (root, db) = image();
        let tree = HostTree::new(root.path());
        let owned = paths(&["/var/www/html/index.nginx-debian.html"]);
        let found = find_app_files(
            &tree,
            &db,
            &owned,
            Some(Path::new("/srv/app")),
            AppFilesMode::Auto,
        );
        assert_eq!(found.roots, paths(&["/srv/app"]));
        // A WORKDIR that is a shared directory is no root.
        let slash = find_app_files(&tree, &db, &[], Some(Path::new("/")), AppFilesMode::Auto);
        assert!(slash.roots.is_empty());
    }

    #[test]
    fn caps_skip_big_files_and_big_roots_unless_asked_for_all() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "/data/small.txt", 10);
        let big = std::fs::File::create(r.join("data/huge.db")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        for i in 0..5 {
            let f = std::fs::File::create(r.join(format!("data/part{i}"))).unwrap();
            f.set_len(MAX_ROOT_BYTES / 4).unwrap();
        }
        let tree = HostTree::new(r);
        let db = PackageDb::default();
        let touched = paths(&["/data/small.txt"]);
        let auto = find_app_files(&tree, &db, &touched, None, AppFilesMode::Auto);
        assert!(auto.paths.is_empty(), "{:?}", auto.paths);
        assert_eq!(auto.notes.len(), 2, "{:?}", auto.notes);
        assert!(
            auto.notes[0].contains("skipped 1 file(s)"),
            "{}",
            auto.notes[0]
        );
        assert!(auto.notes[1].contains("/data holds"));
        let all = find_app_files(&tree, &db, &touched, None, AppFilesMode::All);
        assert_eq!(all.paths.len(), 7);
    }
}
