//! What the final filesystem holds: largest files and directories,
//! package-manager leftovers, security-relevant files, duplicates.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::merge::{Merged, VisibleKind};
use super::model::{DuplicateGroup, Duplicates, FileSize, LayerBytes, Leftover, Security};

/// A kind of file a package manager or build leaves behind.
pub struct LeftoverCategory {
    pub id: &'static str,
    /// How advice names it: "layer 3 leaves 18 MB of <label>".
    pub label: &'static str,
    /// What to add to the RUN that created them.
    pub fix: &'static str,
    matches: fn(&Path, &str) -> bool,
}

fn under(path: &Path, dir: &str) -> bool {
    path.starts_with(dir) && path != Path::new(dir)
}

/// `dir` anywhere in the path, e.g. `.cache/pip` under any home.
fn contains(text: &str, needle: &str) -> bool {
    text.contains(needle)
}

pub const LEFTOVERS: &[LeftoverCategory] = &[
    LeftoverCategory {
        id: "apt-lists",
        label: "apt lists",
        fix: "add `rm -rf /var/lib/apt/lists/*` to the same RUN",
        matches: |p, _| under(p, "/var/lib/apt/lists") && !p.ends_with("lock"),
    },
    LeftoverCategory {
        id: "apt-archives",
        label: "apt caches and downloaded .debs",
        fix: "add `apt-get clean` to the same RUN",
        matches: |p, _| under(p, "/var/cache/apt") && !p.ends_with("lock"),
    },
    LeftoverCategory {
        id: "pip-cache",
        label: "pip cache",
        fix: "use `pip install --no-cache-dir`",
        matches: |_, s| contains(s, "/.cache/pip/"),
    },
    LeftoverCategory {
        id: "npm-cache",
        label: "npm cache",
        fix: "add `npm cache clean --force` to the same RUN",
        matches: |_, s| contains(s, "/.npm/_cacache/") || contains(s, "/.npm/_logs/"),
    },
    LeftoverCategory {
        id: "cargo-cache",
        label: "cargo registry and git caches",
        fix: "build in a separate stage and copy only the binary",
        matches: |_, s| contains(s, "/.cargo/registry/") || contains(s, "/.cargo/git/"),
    },
    LeftoverCategory {
        id: "go-cache",
        label: "Go module and build caches",
        fix: "build in a separate stage and copy only the binary",
        matches: |_, s| contains(s, "/go/pkg/mod/") || contains(s, "/.cache/go-build/"),
    },
    LeftoverCategory {
        id: "static-libs",
        label: "static libraries (*.a)",
        fix: "remove the -dev packages in the same RUN, or build in a separate stage",
        matches: |p, _| p.extension().is_some_and(|e| e == "a"),
    },
    LeftoverCategory {
        id: "headers",
        label: "C headers",
        fix: "remove the -dev packages in the same RUN, or build in a separate stage",
        matches: |p, _| {
            under(p, "/usr/include")
                || under(p, "/usr/local/include")
                || p.extension().is_some_and(|e| e == "h" || e == "hpp")
        },
    },
    LeftoverCategory {
        id: "docs",
        label: "documentation",
        fix: "add `rm -rf /usr/share/doc/*` to the same RUN, or use dpkg path-exclude",
        matches: |p, _| under(p, "/usr/share/doc") || under(p, "/usr/local/share/doc"),
    },
    LeftoverCategory {
        id: "man-pages",
        label: "man and info pages",
        fix: "add `rm -rf /usr/share/man/* /usr/share/info/*` to the same RUN",
        matches: |p, _| {
            under(p, "/usr/share/man")
                || under(p, "/usr/share/info")
                || under(p, "/usr/local/share/man")
        },
    },
];

pub fn category(id: &str) -> Option<&'static LeftoverCategory> {
    LEFTOVERS.iter().find(|c| c.id == id)
}

/// Visible regular files with the bytes each is charged: a hard-linked body
/// is charged to its first name in path order only.
fn charged_files(merged: &Merged) -> impl Iterator<Item = (&PathBuf, usize, u64)> {
    let mut charged = HashSet::new();
    merged.view.iter().filter_map(move |(path, visible)| {
        let copy = visible.copy?;
        if visible.kind != VisibleKind::File {
            return None;
        }
        let bytes = if charged.insert(copy) {
            merged.copies[copy].bytes
        } else {
            0
        };
        Some((path, visible.layer, bytes))
    })
}

pub fn largest_files(merged: &Merged, top: usize) -> Vec<FileSize> {
    let mut files: Vec<FileSize> = charged_files(merged)
        .map(|(path, layer, bytes)| FileSize {
            path: path.display().to_string(),
            bytes,
            layer: Some(layer + 1),
        })
        .collect();
    files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    files.truncate(top);
    files
}

/// Every directory's total file bytes, recursively (the root excluded).
pub fn directory_totals(merged: &Merged) -> HashMap<PathBuf, u64> {
    let mut totals: HashMap<PathBuf, u64> = HashMap::new();
    for (path, _, bytes) in charged_files(merged) {
        for dir in path.ancestors().skip(1) {
            if dir == Path::new("/") {
                break;
            }
            *totals.entry(dir.to_path_buf()).or_default() += bytes;
        }
    }
    totals
}

pub fn largest_dirs(merged: &Merged, top: usize) -> Vec<FileSize> {
    let mut dirs: Vec<FileSize> = directory_totals(merged)
        .into_iter()
        .map(|(path, bytes)| FileSize {
            path: path.display().to_string(),
            bytes,
            layer: None,
        })
        .collect();
    dirs.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    dirs.truncate(top);
    dirs
}

pub fn leftovers(merged: &Merged) -> Vec<Leftover> {
    let mut found: Vec<Leftover> = Vec::new();
    for category in LEFTOVERS {
        let mut by_layer: BTreeMap<usize, u64> = BTreeMap::new();
        let mut files = 0;
        for (path, layer, bytes) in charged_files(merged) {
            let text = path.to_string_lossy();
            if (category.matches)(path, &text) {
                files += 1;
                *by_layer.entry(layer + 1).or_default() += bytes;
            }
        }
        if files > 0 {
            found.push(Leftover {
                category: category.id.to_string(),
                files,
                bytes: by_layer.values().sum(),
                by_layer: by_layer
                    .into_iter()
                    .map(|(layer, bytes)| LayerBytes { layer, bytes })
                    .collect(),
            });
        }
    }
    found
}

const SHELL_NAMES: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
];

/// Shells by name (files and symlinks, in bin directories); setuid and setgid
/// regular files; world-writable paths except symlinks (always 0777) and
/// sticky directories such as /tmp, where the sticky bit keeps users apart.
pub fn security(merged: &Merged) -> Security {
    let mut report = Security::default();
    for (path, visible) in &merged.view {
        let name = path.file_name().map(|n| n.to_string_lossy());
        let in_bin = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "bin" || d == "sbin");
        let shown = || path.display().to_string();
        if in_bin
            && matches!(visible.kind, VisibleKind::File | VisibleKind::Symlink)
            && name.is_some_and(|n| SHELL_NAMES.contains(&n.as_ref()))
        {
            report.shells.push(shown());
        }
        if visible.kind == VisibleKind::File {
            if visible.mode & 0o4000 != 0 {
                report.setuid.push(shown());
            }
            if visible.mode & 0o2000 != 0 {
                report.setgid.push(shown());
            }
        }
        let sticky_dir = visible.kind == VisibleKind::Dir && visible.mode & 0o1000 != 0;
        if visible.kind != VisibleKind::Symlink && !sticky_dir && visible.mode & 0o002 != 0 {
            report.world_writable.push(shown());
        }
    }
    report
}

/// Groups visible copies by content hash. `hashes` holds only the copies
/// whose size collided, keyed by (layer, stored path).
pub fn duplicates(merged: &Merged, hashes: &HashMap<(usize, PathBuf), [u8; 32]>) -> Duplicates {
    let mut groups: HashMap<[u8; 32], (u64, Vec<String>)> = HashMap::new();
    for copy in merged.copies.iter().filter(|c| c.is_visible() && c.is_file) {
        if let Some(hash) = hashes.get(&(copy.layer, copy.path.clone())) {
            let group = groups.entry(*hash).or_insert((copy.bytes, Vec::new()));
            group.1.push(copy.path.display().to_string());
        }
    }
    let mut groups: Vec<DuplicateGroup> = groups
        .into_iter()
        .filter(|(_, (_, paths))| paths.len() > 1)
        .map(|(hash, (size, mut paths))| {
            paths.sort();
            DuplicateGroup {
                sha256: hash.iter().map(|b| format!("{b:02x}")).collect(),
                size,
                paths,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        wasted(b)
            .cmp(&wasted(a))
            .then_with(|| a.paths.cmp(&b.paths))
    });
    Duplicates {
        wasted_bytes: groups.iter().map(wasted).sum(),
        groups,
    }
}

fn wasted(group: &DuplicateGroup) -> u64 {
    group.size * (group.paths.len() as u64 - 1)
}
