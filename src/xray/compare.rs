//! `xray FAT --compare SLIM`: what slimming removed, by directory and by
//! Debian package (from the fat image's /var/lib/dpkg).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::findings::directory_totals;
use super::merge::{Merged, VisibleKind};

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub fat: String,
    pub slim: String,
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub removed_bytes: u64,
    /// Top-level and second-level directories of the fat image, most removed first.
    pub directories: Vec<DirectoryChange>,
    /// Installed packages of the fat image with files, most removed first.
    pub packages: Vec<PackageChange>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DirectoryChange {
    pub path: String,
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub removed_bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackageChange {
    pub name: String,
    /// `removed` (no file left), `partly-removed` or `kept`.
    pub status: String,
    pub files_before: u64,
    pub files_after: u64,
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub removed_bytes: u64,
}

/// Reads a captured file of the final image: (stored layer, stored path) → bytes.
pub type Captured = HashMap<(usize, PathBuf), Vec<u8>>;

pub fn compare(
    names: (&str, &str),
    fat: &Merged,
    fat_files: &Captured,
    slim: &Merged,
) -> Comparison {
    let before_bytes = fat.visible_bytes();
    let after_bytes = slim.visible_bytes();
    Comparison {
        fat: names.0.to_string(),
        slim: names.1.to_string(),
        before_bytes,
        after_bytes,
        removed_bytes: before_bytes.saturating_sub(after_bytes),
        directories: directories(fat, slim),
        packages: packages(fat, fat_files, slim),
    }
}

fn directories(fat: &Merged, slim: &Merged) -> Vec<DirectoryChange> {
    let before = directory_totals(fat);
    let after = directory_totals(slim);
    let mut changes: Vec<DirectoryChange> = before
        .iter()
        .filter(|(path, _)| path.components().count() <= 3) // "/", "usr", "lib"
        .map(|(path, &before_bytes)| {
            let after_bytes = after.get(path).copied().unwrap_or(0);
            DirectoryChange {
                path: path.display().to_string(),
                before_bytes,
                after_bytes,
                removed_bytes: before_bytes.saturating_sub(after_bytes),
            }
        })
        .collect();
    changes.sort_by(|a, b| {
        b.removed_bytes
            .cmp(&a.removed_bytes)
            .then_with(|| a.path.cmp(&b.path))
    });
    changes
}

fn read_captured<'a>(merged: &Merged, files: &'a Captured, path: &str) -> Option<&'a [u8]> {
    let copy = merged.view.get(Path::new(path))?.copy?;
    let copy = &merged.copies[copy];
    files
        .get(&(copy.layer, copy.path.clone()))
        .map(Vec::as_slice)
}

/// Installed packages and their architecture, from dpkg's status file.
pub fn installed_packages(status: &str) -> Vec<(String, Option<String>)> {
    let mut packages = Vec::new();
    for stanza in status.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
        if let (Some(name), true) = (field("Package"), installed) {
            packages.push((name, field("Architecture")));
        }
    }
    packages
}

fn packages(fat: &Merged, fat_files: &Captured, slim: &Merged) -> Vec<PackageChange> {
    let Some(status) = read_captured(fat, fat_files, "/var/lib/dpkg/status") else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    for (name, arch) in installed_packages(&String::from_utf8_lossy(status)) {
        let list = arch
            .iter()
            .map(|a| format!("/var/lib/dpkg/info/{name}:{a}.list"))
            .chain([format!("/var/lib/dpkg/info/{name}.list")])
            .find_map(|p| read_captured(fat, fat_files, &p));
        let Some(list) = list else { continue };
        let change = package_change(name, &String::from_utf8_lossy(list), fat, slim);
        if change.files_before > 0 {
            changes.push(change);
        }
    }
    changes.sort_by(|a, b| {
        b.removed_bytes
            .cmp(&a.removed_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    changes
}

fn package_change(name: String, list: &str, fat: &Merged, slim: &Merged) -> PackageChange {
    // usrmerge: a list says /bin/dash where the file is /usr/bin/dash, so
    // resolve symlinked directories first; a path counts once.
    let files: BTreeSet<PathBuf> = list
        .lines()
        .filter_map(|line| fat.resolve_parents(Path::new(line.trim())))
        .filter(|path| file_bytes(fat, path).is_some())
        .collect();
    let (mut files_after, mut before_bytes, mut after_bytes) = (0, 0, 0);
    for path in &files {
        before_bytes += file_bytes(fat, path).unwrap_or(0);
        let kept = file_bytes(slim, path).or_else(|| {
            slim.resolve_parents(path)
                .and_then(|resolved| file_bytes(slim, &resolved))
        });
        if let Some(bytes) = kept {
            files_after += 1;
            after_bytes += bytes;
        }
    }
    let files_before = files.len() as u64;
    let status = match files_after {
        0 => "removed",
        n if n < files_before => "partly-removed",
        _ => "kept",
    };
    PackageChange {
        name,
        status: status.to_string(),
        files_before,
        files_after,
        before_bytes,
        after_bytes,
        removed_bytes: before_bytes.saturating_sub(after_bytes),
    }
}

fn file_bytes(merged: &Merged, path: &Path) -> Option<u64> {
    let visible = merged.view.get(path)?;
    if visible.kind != VisibleKind::File {
        return None;
    }
    Some(merged.copies[visible.copy?].bytes)
}
