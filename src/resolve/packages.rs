//! The image's package database, read once over the original filesystem:
//! which package owns which path. Files no package owns are what the image's
//! author added: the application (see [`super::appfiles`]).
//!
//! Read: dpkg (`/var/lib/dpkg/status` and `info/<pkg>[:<arch>].list`, plus
//! distroless-style `status.d/<pkg>` stanzas with their `.md5sums` lists)
//! and apk (`/lib/apk/db/installed`). RPM's database is a binary Berkeley DB
//! or SQLite file and is not read: such images simply have no owners.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::pathwalk::{normalize, resolve};
use super::tree::FsTree;
use crate::image::node::NodeKind;

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const DPKG_STATUS_D: &str = "/var/lib/dpkg/status.d";
const DPKG_INFO: &str = "/var/lib/dpkg/info";
const APK_INSTALLED: &str = "/lib/apk/db/installed";
/// Database files larger than this are not package databases we can use.
const MAX_DATABASE_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFormat {
    Dpkg,
    Apk,
    None,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// dpkg's `Priority` (`required`, `important`, `optional`, …), when given.
    pub priority: Option<String>,
    /// Names from `Depends` and `Pre-Depends`, every alternative of a clause
    /// (`a | b`: whichever is installed), versions and architectures dropped.
    pub depends: Vec<String>,
    /// Virtual names it provides (dpkg `Provides`, apk `p:`), which others depend on.
    pub provides: Vec<String>,
    /// The database entry as written (a dpkg stanza), for tools that re-emit it.
    pub stanza: String,
    /// The paths the package lists, as listed (before symlinked directories are resolved).
    pub files: Vec<PathBuf>,
}

impl Package {
    /// `Priority: required`: part of every Debian system (coreutils, dash,
    /// debconf…), so kept whole only when the app touched one of its files.
    pub fn is_required(&self) -> bool {
        self.priority.as_deref() == Some("required")
    }
}

#[derive(Debug)]
pub struct PackageDb {
    pub format: DbFormat,
    pub packages: Vec<Package>,
    /// Real path in the tree (symlinked directories resolved) → owning packages.
    owners: HashMap<PathBuf, Vec<usize>>,
    /// The same, per package: its real paths, sorted.
    paths: Vec<Vec<PathBuf>>,
    /// Per package: the real paths it lists as files ([`PackageDb::files_of`]).
    files: Vec<Vec<PathBuf>>,
}

impl Default for PackageDb {
    fn default() -> Self {
        PackageDb {
            format: DbFormat::None,
            packages: Vec::new(),
            owners: HashMap::new(),
            paths: Vec::new(),
            files: Vec::new(),
        }
    }
}

impl PackageDb {
    pub fn load(tree: &dyn FsTree) -> PackageDb {
        let mut packages = read_dpkg(tree);
        let format = if !packages.is_empty() {
            DbFormat::Dpkg
        } else {
            packages = read_apk(tree);
            if packages.is_empty() {
                DbFormat::None
            } else {
                DbFormat::Apk
            }
        };
        let (owners, files) = owners_by_real_path(tree, &packages);
        let mut paths = vec![Vec::new(); packages.len()];
        for (path, indices) in &owners {
            for &index in indices {
                paths[index].push(path.clone());
            }
        }
        for list in &mut paths {
            list.sort();
        }
        PackageDb {
            format,
            packages,
            owners,
            paths,
            files,
        }
    }

    /// The real paths package `index` lists as files and symlinks (not as
    /// directories: those it lists before their contents), sorted; some may
    /// not exist in the tree.
    pub fn files_of(&self, index: usize) -> &[PathBuf] {
        self.files.get(index).map_or(&[], Vec::as_slice)
    }

    /// Whether package `index` lists the real path `path` as a file or symlink.
    pub fn owns_file(&self, index: usize, path: &Path) -> bool {
        self.files_of(index)
            .binary_search_by(|p| p.as_path().cmp(path))
            .is_ok()
    }

    /// The real paths package `index` lists (mapped like [`PackageDb::owners`];
    /// some may not exist in the tree), sorted.
    pub fn paths_of(&self, index: usize) -> &[PathBuf] {
        self.paths.get(index).map_or(&[], Vec::as_slice)
    }

    /// The index of the package named `name` (the first architecture's, sorted).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.packages.iter().position(|p| p.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Indexes into [`PackageDb::packages`] of the packages listing the real path `path`.
    pub fn owners(&self, path: &Path) -> &[usize] {
        self.owners.get(path).map_or(&[], Vec::as_slice)
    }

    pub fn is_owned(&self, path: &Path) -> bool {
        self.owners.contains_key(path)
    }
}

fn read_text(tree: &dyn FsTree, path: &Path) -> Option<String> {
    let Some(NodeKind::File { size }) = tree.kind(path) else {
        return None;
    };
    if size > MAX_DATABASE_BYTES {
        return None;
    }
    let bytes = tree.read(path, size).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The value of `field` in a stanza (first line only).
pub fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (!line.starts_with([' ', '\t']) && key.eq_ignore_ascii_case(name)).then(|| value.trim())
    })
}

/// `a (>= 1), b | c, d:any` → `a`, `b`, `c`, `d`: every alternative, since
/// any of them may be the one installed.
fn dependency_names(value: &str) -> Vec<String> {
    value
        .split([',', '|'])
        .filter_map(|alternative| {
            let name = alternative.trim().split([' ', '(', ':']).next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

fn package_from_stanza(stanza: &str) -> Option<Package> {
    let name = field(stanza, "Package")?.to_string();
    let mut depends = Vec::new();
    for key in ["Pre-Depends", "Depends"] {
        if let Some(value) = field(stanza, key) {
            depends.extend(dependency_names(value));
        }
    }
    Some(Package {
        name,
        provides: field(stanza, "Provides")
            .map(dependency_names)
            .unwrap_or_default(),
        version: field(stanza, "Version").unwrap_or_default().to_string(),
        architecture: field(stanza, "Architecture")
            .unwrap_or_default()
            .to_string(),
        priority: field(stanza, "Priority").map(str::to_string),
        depends,
        stanza: stanza.trim_end().to_string(),
        files: Vec::new(),
    })
}

fn listed_paths(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| line.starts_with('/') && *line != "/.")
        .map(|line| normalize(Path::new(line)))
        .collect()
}

fn read_dpkg(tree: &dyn FsTree) -> Vec<Package> {
    let mut packages = Vec::new();
    if let Some(status) = read_text(tree, Path::new(DPKG_STATUS)) {
        // Removed packages keep a stanza (and conffiles) but own no files.
        let installed: Vec<Package> = status
            .split("\n\n")
            .filter(|stanza| field(stanza, "Status").is_some_and(|s| s.ends_with(" installed")))
            .filter_map(package_from_stanza)
            .collect();
        // Where each one's file list may be, tried in this order.
        let lists: Vec<[PathBuf; 2]> = installed
            .iter()
            .map(|package| {
                let (name, arch) = (&package.name, &package.architecture);
                [
                    PathBuf::from(format!("{DPKG_INFO}/{name}:{arch}.list")),
                    PathBuf::from(format!("{DPKG_INFO}/{name}.list")),
                ]
            })
            .collect();
        // All of them asked for at once (a hundred or more small files: one
        // by one, each is a round trip to the walker).
        tree.prefetch(lists.as_flattened(), u64::MAX);
        for (mut package, candidates) in installed.into_iter().zip(&lists) {
            let list = candidates.iter().find_map(|path| read_text(tree, path));
            package.files = list.as_deref().map(listed_paths).unwrap_or_default();
            packages.push(package);
        }
    }
    // Distroless: one stanza per file, the file list (if any) in `<name>.md5sums`.
    for entry in tree.list(Path::new(DPKG_STATUS_D)) {
        // Package names hold dots (`libpython3.11-stdlib`): only the
        // `.md5sums` lists beside the stanzas are not packages.
        let name = entry.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(".md5sums") || name.starts_with('.') {
            continue;
        }
        let Some(mut package) =
            read_text(tree, &entry).and_then(|stanza| package_from_stanza(&stanza))
        else {
            continue;
        };
        if packages.iter().any(|known| known.name == package.name) {
            continue;
        }
        let sums_path = Path::new(DPKG_STATUS_D).join(format!("{name}.md5sums"));
        if let Some(sums) = read_text(tree, &sums_path) {
            package.files = sums
                .lines()
                .filter_map(|line| line.split_once("  ").map(|(_, path)| path.trim()))
                .map(|path| normalize(Path::new(path)))
                .collect();
        }
        packages.push(package);
    }
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    packages
}

fn read_apk(tree: &dyn FsTree) -> Vec<Package> {
    let Some(text) = read_text(tree, Path::new(APK_INSTALLED)) else {
        return Vec::new();
    };
    let mut packages = Vec::new();
    for block in text.split("\n\n") {
        let mut package = Package {
            stanza: block.trim_end().to_string(),
            ..Package::default()
        };
        let mut dir = PathBuf::from("/");
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "P" => package.name = value.to_string(),
                "V" => package.version = value.to_string(),
                "A" => package.architecture = value.to_string(),
                "D" => package.depends.extend(
                    value
                        .split_whitespace()
                        .filter(|d| !d.starts_with('!'))
                        .map(|d| {
                            d.split(['=', '<', '>', '~'])
                                .next()
                                .unwrap_or(d)
                                .to_string()
                        }),
                ),
                "p" => package.provides.extend(
                    value
                        .split_whitespace()
                        .map(|p| p.split('=').next().unwrap_or(p).to_string()),
                ),
                "F" => {
                    dir = normalize(&Path::new("/").join(value));
                    package.files.push(dir.clone());
                }
                "R" => package.files.push(dir.join(value)),
                _ => {}
            }
        }
        if !package.name.is_empty() {
            packages.push(package);
        }
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    packages
}

/// Maps each listed path to where it really is: Debian lists `/bin/ls`, which
/// is `/usr/bin/ls` once `/bin` → `usr/bin`. The last component is not
/// followed: a listed symlink owns the link, not its target. Also returns,
/// per package, the real paths of what it lists as files: not the
/// directories it lists before their contents (`/lib` in apt's list is the
/// directory of its units, not the merged-/usr link of that name).
fn owners_by_real_path(
    tree: &dyn FsTree,
    packages: &[Package],
) -> (HashMap<PathBuf, Vec<usize>>, Vec<Vec<PathBuf>>) {
    let mut real_dirs: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    let mut owners: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    let mut files = Vec::with_capacity(packages.len());
    for (index, package) in packages.iter().enumerate() {
        let listed_dirs: HashSet<&Path> = package
            .files
            .iter()
            .filter_map(|listed| listed.parent())
            .collect();
        let mut own_files = Vec::new();
        for listed in &package.files {
            let (Some(parent), Some(name)) = (listed.parent(), listed.file_name()) else {
                continue;
            };
            let real_parent = real_dirs
                .entry(parent.to_path_buf())
                .or_insert_with(|| resolve(tree, parent).map(|found| found.path));
            let Some(real_parent) = real_parent else {
                continue;
            };
            let real = real_parent.join(name);
            if !listed_dirs.contains(listed.as_path()) {
                own_files.push(real.clone());
            }
            let entry = owners.entry(real).or_default();
            if entry.last() != Some(&index) {
                entry.push(index);
            }
        }
        own_files.sort();
        own_files.dedup();
        files.push(own_files);
    }
    (owners, files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, path: &str, text: &str) {
        let at = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }

    #[test]
    fn dpkg_lists_map_onto_real_paths_through_merged_usr() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        write(r, "/usr/bin/ls", "elf");
        write(r, "/usr/bin/app-added", "mine");
        write(
            r,
            DPKG_STATUS,
            "Package: coreutils\nStatus: install ok installed\nPriority: required\n\
             Version: 9.1-1\nArchitecture: amd64\nPre-Depends: libc6 (>= 2.34), libacl1\n\
             Description: GNU core utilities\n more text\n\n\
             Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36\n\
             Depends: libgcc-s1 | libgcc1\n\n\
             Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n",
        );
        write(
            r,
            "/var/lib/dpkg/info/coreutils.list",
            "/.\n/bin\n/bin/ls\n",
        );
        write(
            r,
            "/var/lib/dpkg/info/libc6:amd64.list",
            "/.\n/usr\n/usr/bin\n",
        );
        let tree = HostTree::new(r);
        let db = PackageDb::load(&tree);
        assert_eq!(db.format, DbFormat::Dpkg);
        let names: Vec<&str> = db.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["coreutils", "libc6"]);
        let coreutils = &db.packages[0];
        assert_eq!(coreutils.priority.as_deref(), Some("required"));
        assert_eq!(coreutils.depends, ["libc6", "libacl1"]);
        assert!(coreutils.stanza.ends_with(" more text"));
        assert_eq!(
            db.packages[1].depends,
            ["libgcc-s1", "libgcc1"],
            "every alternative"
        );
        // /bin/ls is listed; the file is at /usr/bin/ls.
        assert!(db.is_owned(Path::new("/usr/bin/ls")));
        assert_eq!(db.owners(Path::new("/usr/bin/ls")), [0]);
        // The listed /bin is the symlink itself.
        assert!(db.is_owned(Path::new("/bin")));
        // …but as a directory of coreutils' (it lists /bin/ls below it), not as its file.
        assert_eq!(db.files_of(0), [PathBuf::from("/usr/bin/ls")]);
        assert!(db.owns_file(0, Path::new("/usr/bin/ls")));
        assert!(!db.owns_file(0, Path::new("/bin")));
        assert!(db.is_owned(Path::new("/usr/bin")));
        assert!(!db.is_owned(Path::new("/usr/bin/app-added")));
    }

    #[test]
    fn apk_and_distroless_databases_are_read() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(
            r,
            APK_INSTALLED,
            "C:Q1abc\nP:musl\nV:1.2.4-r2\nA:x86_64\nD:so:libc.musl\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\n\
             P:busybox\nV:1.36\nF:bin\nR:busybox\n",
        );
        write(r, "/lib/ld-musl-x86_64.so.1", "x");
        let db = PackageDb::load(&HostTree::new(r));
        assert_eq!(db.format, DbFormat::Apk);
        assert_eq!(db.packages[1].name, "musl");
        assert_eq!(db.owners(Path::new("/lib/ld-musl-x86_64.so.1")), [1]);
        assert_eq!(
            db.packages[0].files,
            [PathBuf::from("/bin"), PathBuf::from("/bin/busybox")]
        );
        // Listed, but /bin is not in this tree: nothing to own.
        assert!(!db.is_owned(Path::new("/bin/busybox")));

        let distroless = tempfile::tempdir().unwrap();
        let d = distroless.path();
        write(
            d,
            "/var/lib/dpkg/status.d/tzdata",
            "Package: tzdata\nVersion: 2024a\nArchitecture: all\n",
        );
        write(
            d,
            "/var/lib/dpkg/status.d/tzdata.md5sums",
            "0123  usr/share/zoneinfo/UTC\n",
        );
        write(d, "/usr/share/zoneinfo/UTC", "TZif");
        // A name with dots, as rslim's own slim images carry too.
        write(
            d,
            "/var/lib/dpkg/status.d/libpython3.11-stdlib",
            "Package: libpython3.11-stdlib\nVersion: 3.11.2-6\nArchitecture: amd64\n",
        );
        write(
            d,
            "/var/lib/dpkg/status.d/libpython3.11-stdlib.md5sums",
            "0123  usr/lib/python3.11/colorsys.py\n",
        );
        write(d, "/usr/lib/python3.11/colorsys.py", "x");
        let db = PackageDb::load(&HostTree::new(d));
        assert_eq!(db.format, DbFormat::Dpkg);
        assert!(db.is_owned(Path::new("/usr/share/zoneinfo/UTC")));
        let names: Vec<&str> = db.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libpython3.11-stdlib", "tzdata"]);
        assert!(db.is_owned(Path::new("/usr/lib/python3.11/colorsys.py")));
    }

    #[test]
    fn no_database_owns_nothing() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        let db = PackageDb::load(&HostTree::new(root.path()));
        assert_eq!(db.format, DbFormat::None);
        assert!(!db.is_owned(Path::new("/etc/passwd")));
    }
}
