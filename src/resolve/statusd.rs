//! Package metadata for vulnerability scanners, distroless style: one
//! `/var/lib/dpkg/status.d/<package>` stanza and one `<package>.md5sums`
//! list per package with a kept file, and nothing about the packages the
//! slim image dropped. Trivy reads every file in `status.d` but the
//! `.md5sums` (a stanza needs `Package` and `Version`; no `Status` means
//! installed), and the `.md5sums` beside it for the package's files; Syft
//! (and so Grype) globs `**/lib/dpkg/status.d/*` and reads
//! `<name>:<arch>.md5sums`, then `<name>.md5sums`, from the same directory.
//! Both name the distribution from `/etc/os-release`, Trivy also from
//! `/etc/debian_version`: those are kept beside (see [`RELEASE_FILES`]).
//! docs/packages.md says more, and what was checked with a real scanner.
//!
//! The original `/var/lib/dpkg/status` is never written: it lists every
//! package of the original image, and a scanner would report them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::packages::{DbFormat, Package, PackageDb};
use super::pathwalk::{normalize, resolve};
use super::tree::FsTree;
use crate::image::node::NodeKind;

pub const STATUS_D: &str = "/var/lib/dpkg/status.d";

/// What scanners read to name the distribution (kept when the image has them).
pub const RELEASE_FILES: &[&str] = &[
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/debian_version",
];

/// Fields of a status stanza that describe this installation, not the
/// package: `dpkg-deb --field`, which distroless writes, has none of them.
/// `Conffiles` would also name configuration files the slim image dropped.
const INSTALLATION_FIELDS: &[&str] = &[
    "Status",
    "Conffiles",
    "Config-Version",
    "Triggers-Pending",
    "Triggers-Awaited",
];

const MAX_MD5SUMS_BYTES: u64 = 16 << 20;

/// The files to write, by path: a stanza and (when md5s are known) an
/// md5sums list for each package in `kept_packages` (indices into the
/// database). Empty unless the database is dpkg's.
pub fn status_d(
    tree: &dyn FsTree,
    packages: &PackageDb,
    kept_packages: &[usize],
    kept: &BTreeMap<PathBuf, Reason>,
) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    if packages.format != DbFormat::Dpkg {
        return files;
    }
    // Every kept package's md5sums at once, not a round trip each.
    let sums: Vec<PathBuf> = kept_packages
        .iter()
        .flat_map(|&index| md5sums_candidates(&packages.packages[index]))
        .map(PathBuf::from)
        .collect();
    tree.prefetch(&sums, MAX_MD5SUMS_BYTES);
    let mut names: BTreeSet<String> = BTreeSet::new();
    for &index in kept_packages {
        let package = &packages.packages[index];
        // A second architecture of the same name (multiarch) gets `name:arch`,
        // which is also the name Syft tries first for its md5sums.
        let mut name = package.name.clone();
        if !names.insert(name.clone()) {
            name = format!("{}:{}", package.name, package.architecture);
            names.insert(name.clone());
        }
        let dir = Path::new(STATUS_D);
        files.insert(
            dir.join(&name),
            control_stanza(&package.stanza).into_bytes(),
        );
        let sums = kept_md5sums(tree, packages, index, kept);
        if !sums.is_empty() {
            files.insert(dir.join(format!("{name}.md5sums")), sums.into_bytes());
        }
    }
    files
}

/// The stanza without the fields that describe the installation, ending in a newline.
pub fn control_stanza(stanza: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in stanza.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        let key = line.split(':').next().unwrap_or_default();
        skipping = INSTALLATION_FIELDS
            .iter()
            .any(|field| field.eq_ignore_ascii_case(key));
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Where a package's md5sums may be, in the order they are tried.
fn md5sums_candidates(package: &Package) -> [String; 3] {
    [
        format!(
            "/var/lib/dpkg/info/{}:{}.md5sums",
            package.name, package.architecture
        ),
        format!("/var/lib/dpkg/info/{}.md5sums", package.name),
        format!("{STATUS_D}/{}.md5sums", package.name),
    ]
}

/// `md5  path` lines for the kept files of package `index`: dpkg's own
/// sums (`info/<pkg>[:<arch>].md5sums`, or distroless' `status.d/<pkg>.md5sums`)
/// and the `Conffiles` sums for configuration files, which dpkg keeps out of
/// the md5sums file. Nothing is hashed here: these are the sums dpkg
/// recorded when it installed the files.
fn kept_md5sums(
    tree: &dyn FsTree,
    packages: &PackageDb,
    index: usize,
    kept: &BTreeMap<PathBuf, Reason>,
) -> String {
    let package = &packages.packages[index];
    let listed = md5sums_candidates(package)
        .iter()
        .find_map(|path| read_small(tree, Path::new(path)))
        .unwrap_or_default();
    let mut lines: Vec<(String, String)> = listed
        .lines()
        .filter_map(|line| {
            let (sum, path) = line.split_once("  ")?;
            Some((sum.trim().to_string(), path.trim().to_string()))
        })
        .collect();
    // ` /etc/foo.conf 0123abcd[ obsolete]`
    let conffiles = conffiles(&package.stanza);
    lines.extend(conffiles);
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    for (sum, path) in lines {
        let relative = path.trim_start_matches('/').to_string();
        let is_kept = real_path(tree, &relative).is_some_and(|real| {
            !matches!(tree.kind(&real), Some(NodeKind::Dir) | None) && kept.contains_key(&real)
        });
        if is_kept && seen.insert(relative.clone()) {
            out.push_str(&format!("{sum}  {relative}\n"));
        }
    }
    out
}

/// The `Conffiles` field's entries as `(md5, path)`, skipping obsolete ones
/// and those dpkg has no sum for yet.
fn conffiles(stanza: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in stanza.lines() {
        if !line.starts_with([' ', '\t']) {
            inside = line
                .split(':')
                .next()
                .is_some_and(|key| key.eq_ignore_ascii_case("Conffiles"));
            continue;
        }
        if !inside {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [path, sum, rest @ ..] = words.as_slice() {
            let usable = sum.len() == 32 && sum.bytes().all(|b| b.is_ascii_hexdigit());
            if usable && !rest.contains(&"obsolete") {
                out.push((sum.to_string(), path.to_string()));
            }
        }
    }
    out
}

/// Where the listed path `relative` (no leading `/`) really is: its
/// directory resolved, the last component not followed.
fn real_path(tree: &dyn FsTree, relative: &str) -> Option<PathBuf> {
    let listed = normalize(Path::new(relative));
    let parent = resolve(tree, listed.parent()?)?.path;
    Some(parent.join(listed.file_name()?))
}

fn read_small(tree: &dyn FsTree, path: &Path) -> Option<String> {
    let Some(NodeKind::File { size }) = tree.kind(path) else {
        return None;
    };
    let bytes = tree.read(path, size.min(MAX_MD5SUMS_BYTES)).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
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
    fn writes_control_stanzas_and_the_sums_of_kept_files_only() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        write(
            r,
            "/var/lib/dpkg/status",
            "Package: tool\nStatus: install ok installed\nPriority: optional\nVersion: 1.2-3\n\
             Architecture: amd64\nConffiles:\n /etc/tool.conf 0123456789abcdef0123456789abcdef\n \
             /etc/old.conf 0123456789abcdef0123456789abcdef obsolete\n\
             Description: a tool\n more words\n\n\
             Package: other\nStatus: install ok installed\nVersion: 9\nArchitecture: all\n",
        );
        write(
            r,
            "/var/lib/dpkg/info/tool.list",
            "/bin/tool\n/bin/unused\n/etc/tool.conf\n",
        );
        write(
            r,
            "/var/lib/dpkg/info/tool:amd64.md5sums",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  bin/tool\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  bin/unused\n",
        );
        write(r, "/usr/bin/tool", "x");
        write(r, "/usr/bin/unused", "x");
        write(r, "/etc/tool.conf", "x");
        let tree = HostTree::new(r);
        let db = PackageDb::load(&tree);
        let kept: BTreeMap<PathBuf, Reason> = ["/usr/bin/tool", "/etc/tool.conf"]
            .iter()
            .map(|p| (PathBuf::from(p), Reason::Accessed))
            .collect();
        let tool = db.find("tool").unwrap();
        let files = status_d(&tree, &db, &[tool], &kept);
        let text =
            |name: &str| String::from_utf8(files[&Path::new(STATUS_D).join(name)].clone()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            text("tool"),
            "Package: tool\nPriority: optional\nVersion: 1.2-3\nArchitecture: amd64\n\
             Description: a tool\n more words\n"
        );
        assert_eq!(
            text("tool.md5sums"),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  bin/tool\n\
             0123456789abcdef0123456789abcdef  etc/tool.conf\n"
        );
    }
}
