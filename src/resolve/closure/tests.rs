//! Closures checked against glibc's own answers: `ldd` on the host, `ldd`
//! chrooted into the debootstrap rootfs, and small programs built with gcc.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::resolve::pathwalk::resolve;
use crate::resolve::tree::HostTree;

const MINBASE_ROOTFS: &str = "/var/cache/rslim/rootfs-minbase";
const MINBASE_LOG: &str = "/var/cache/rslim/debootstrap.log";

/// The files `ldd` lists for `program` (run as `command`), canonicalised
/// with `canonical`, and the sonames it reports as not found.
fn ldd_files(
    command: &mut Command,
    canonical: impl Fn(&str) -> PathBuf,
) -> (BTreeSet<PathBuf>, BTreeSet<String>) {
    let output = command.output().expect("run ldd");
    assert!(
        output.status.success(),
        "ldd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files = BTreeSet::new();
    let mut not_found = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim();
        if let Some((soname, target)) = line.split_once(" => ") {
            if target.starts_with("not found") {
                not_found.insert(soname.to_string());
            } else if let Some(path) = target
                .split(" (")
                .next()
                .filter(|path| path.starts_with('/'))
            {
                files.insert(canonical(path));
            }
        } else if line.starts_with('/') {
            // The interpreter line has no arrow.
            files.insert(canonical(line.split(" (").next().unwrap()));
        }
    }
    (files, not_found)
}

fn closure_paths(closure: &Closure) -> BTreeSet<PathBuf> {
    closure.files.iter().map(|dep| dep.path.clone()).collect()
}

#[test]
fn host_closures_match_ldd() {
    let tree = HostTree::new("/");
    let resolver = LibraryResolver::new(&tree, None);
    for program in ["/usr/bin/ls", "/bin/bash"] {
        let closure = resolver.closure(&[PathBuf::from(program)]);
        let (expected, not_found) = ldd_files(Command::new("ldd").arg(program), |path| {
            std::fs::canonicalize(path).unwrap()
        });
        assert!(not_found.is_empty());
        assert!(expected.len() >= 3, "{program}: ldd listed {expected:?}");
        assert_eq!(closure_paths(&closure), expected, "{program}");
        assert!(
            closure.missing.is_empty(),
            "{program}: {:?}",
            closure.missing
        );

        let interpreter = closure
            .files
            .iter()
            .find(|dep| dep.path.ends_with("ld-linux-x86-64.so.2"))
            .unwrap();
        assert!(
            interpreter.symlinks.contains(&PathBuf::from("/lib64")),
            "{:?}",
            interpreter.symlinks
        );
        assert_eq!(
            interpreter.needed_by,
            std::fs::canonicalize(program).unwrap()
        );
    }
}

/// The closure of bash inside the debootstrap rootfs equals what ldd prints
/// when chrooted there, and the loader path's symlink chain is the merged-/usr one.
#[test]
fn minbase_rootfs_bash_matches_chrooted_ldd() {
    let finished =
        std::fs::read_to_string(MINBASE_LOG).is_ok_and(|log| log.trim_end().ends_with("done 0"));
    if !finished || !Path::new(MINBASE_ROOTFS).join("usr/bin/bash").exists() {
        eprintln!("SKIPPED minbase_rootfs_bash_matches_chrooted_ldd: no finished debootstrap rootfs at {MINBASE_ROOTFS}");
        return;
    }
    let tree = HostTree::new(MINBASE_ROOTFS);
    let loader = resolve(&tree, Path::new("/lib64/ld-linux-x86-64.so.2")).unwrap();
    assert_eq!(
        loader.path,
        PathBuf::from("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    );
    let chain: Vec<PathBuf> = ["/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/lib"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(loader.symlinks, chain);

    let closure = LibraryResolver::new(&tree, None).closure(&[PathBuf::from("/usr/bin/bash")]);
    let canonical_in_root = |path: &str| {
        let output = Command::new("chroot")
            .args([MINBASE_ROOTFS, "readlink", "-f", path])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    };
    let (expected, not_found) = ldd_files(
        Command::new("chroot").args([MINBASE_ROOTFS, "ldd", "/usr/bin/bash"]),
        canonical_in_root,
    );
    assert!(not_found.is_empty());
    assert!(
        expected.contains(Path::new("/usr/lib/x86_64-linux-gnu/libtinfo.so.6.4")),
        "{expected:?}"
    );
    assert_eq!(closure_paths(&closure), expected);
    assert!(closure.missing.is_empty(), "{:?}", closure.missing);
}
