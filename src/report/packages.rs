//! The summary's line about packages: how many the slim image keeps whole
//! and in part, and the partly kept ones with the most left out. Those are
//! where a slim image breaks later: a file of them that a code path nobody
//! exercised loads is gone (docs/packages.md).

use crate::resolve::keep_packages::KeepMode;
use crate::resolve::package_use::PackageUse;

use super::human_bytes;

/// How many partly kept packages the line names.
const NAMED: usize = 5;

/// `None` for an image without a (dpkg) package database.
pub fn summary_line(packages: &[PackageUse], mode: KeepMode) -> Option<String> {
    if packages.is_empty() {
        return None;
    }
    let whole = packages.iter().filter(|p| p.whole).count();
    let mut partial: Vec<&PackageUse> = packages.iter().filter(|p| !p.whole).collect();
    let mut line = format!(
        "rslim: packages: {} with kept files, {whole} whole, {} in part",
        packages.len(),
        partial.len()
    );
    if partial.is_empty() {
        return Some(line + "\n");
    }
    partial.sort_by_key(|p| std::cmp::Reverse(p.bytes_total - p.bytes_kept));
    let named: Vec<String> = partial
        .iter()
        .take(NAMED)
        .map(|p| {
            format!(
                "{} {}/{} files ({} of {})",
                p.name,
                p.files_kept,
                p.files_total,
                human_bytes(p.bytes_kept),
                human_bytes(p.bytes_total)
            )
        })
        .collect();
    let more = match partial.len().saturating_sub(NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    line += &format!(": {}{more}", named.join(", "));
    if mode == KeepMode::Observed {
        line +=
            "; a file of these that the app loads later is gone (--keep packages keeps them whole)";
    }
    Some(line + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, kept: usize, total: usize) -> PackageUse {
        PackageUse {
            index: 0,
            name: name.into(),
            version: "1".into(),
            architecture: "amd64".into(),
            files_kept: kept,
            files_total: total,
            bytes_kept: kept as u64 * 1000,
            bytes_total: total as u64 * 1000,
            whole: kept == total,
            kept_whole_for: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn names_the_partly_kept_packages_with_the_most_left_out() {
        let packages = [package("a", 1, 2), package("b", 3, 3), package("c", 1, 90)];
        let line = summary_line(&packages, KeepMode::Observed).unwrap();
        assert!(
            line.starts_with(
                "rslim: packages: 3 with kept files, 1 whole, 2 in part: c 1/90 files (1.0 kB of \
                 90.0 kB), a 1/2 files"
            ),
            "{line}"
        );
        assert!(line.contains("--keep packages"));
        assert!(!summary_line(&packages, KeepMode::Packages)
            .unwrap()
            .contains("--keep packages"));
        assert_eq!(summary_line(&[], KeepMode::Observed), None);
    }
}
