//! The walked tree over real files, served by the real sensor binary.

use super::*;
use crate::resolve::tree::HostTree;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// The real sensor's `serve-tree` over a directory of real files,
/// through pipes instead of a container's attached stdio.
/// `walk` is [`Request::Walk`], or [`Request::WalkNames`] (files looked up on first use).
fn walked_with(root: &Path, walk: Request) -> (WalkedTree, std::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    let sensor = dir.path().join("sensor");
    std::fs::write(&sensor, crate::sensor::embedded::sensor_binary()).unwrap();
    std::fs::set_permissions(&sensor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(&sensor)
        .args(["serve-tree".as_ref(), root.as_os_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let connection = Connection {
        reader: Box::new(child.stdout.take().unwrap()),
        writer: Box::new(child.stdin.take().unwrap()),
    };
    let tree =
        WalkedTree::read_cached(connection, Vec::new(), 1_000_000, None, None, walk, None).unwrap();
    (tree, child)
}

#[test]
fn only_run_is_touched_by_the_engines_at_start() {
    assert_eq!(touched_dirs(), [PathBuf::from("/run")]);
}

#[test]
fn the_walked_tree_is_the_host_tree_with_hard_links_and_hostile_names() {
    the_host_tree_walked_with(Request::Walk);
}

/// The same with every regular file looked up only when first used.
#[test]
fn a_light_walk_gives_the_same_tree_once_files_are_looked_up() {
    the_host_tree_walked_with(Request::WalkNames);
}

fn the_host_tree_walked_with(walk: Request) {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &[u8]| root.path().join(OsStr::from_bytes(p));
    std::fs::create_dir_all(at(b"usr/lib")).unwrap();
    std::fs::write(at(b"usr/lib/libx.so"), vec![7u8; 300_000]).unwrap();
    std::fs::hard_link(at(b"usr/lib/libx.so"), at(b"usr/lib/liby.so")).unwrap();
    std::fs::write(at(b"new\nline\xff"), b"#!/bin/sh\necho odd\n").unwrap();
    std::fs::write(at(b"empty"), b"").unwrap();
    std::os::unix::fs::symlink("usr/lib", at(b"lib")).unwrap();
    nix::unistd::mkfifo(
        &at(b"pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    std::fs::set_permissions(at(b"empty"), std::fs::Permissions::from_mode(0o4711)).unwrap();
    let (tree, mut child) = walked_with(root.path(), walk);
    let host = HostTree::new(root.path());

    let mut paths: Vec<PathBuf> = Vec::new();
    let mut pending = vec![PathBuf::from("/")];
    while let Some(dir) = pending.pop() {
        for path in host.list(&dir) {
            if host.kind(&path) == Some(NodeKind::Dir) {
                pending.push(path.clone());
            }
            paths.push(path);
        }
    }
    assert_eq!(paths.len(), 8);
    for path in &paths {
        assert_eq!(tree.kind(path), host.kind(path), "{}", path.display());
        if matches!(host.kind(path), Some(NodeKind::File { .. })) {
            assert_eq!(
                tree.read(path, 1 << 20).unwrap(),
                host.read(path, 1 << 20).unwrap(),
                "{}",
                path.display()
            );
            assert_eq!(tree.read(path, 2).unwrap(), host.read(path, 2).unwrap());
        }
    }
    assert_eq!(
        tree.list(Path::new("/usr/lib")),
        host.list(Path::new("/usr/lib"))
    );
    let libx = tree.get(Path::new("/usr/lib/libx.so")).unwrap();
    let liby = tree.get(Path::new("/usr/lib/liby.so")).unwrap();
    assert_eq!(libx.content, liby.content, "hard links share their content");
    assert_eq!(tree.get(Path::new("/empty")).unwrap().meta.mode, 0o4711);
    // A file read through the writer's interface, then dropped half-read:
    // the next read is still in step.
    let mut half = [0u8; 1000];
    let mut opened = tree.open(&libx.content.unwrap()).unwrap();
    opened.read_exact(&mut half).unwrap();
    drop(opened);
    let mut whole = Vec::new();
    tree.open(&libx.content.unwrap())
        .unwrap()
        .read_to_end(&mut whole)
        .unwrap();
    assert_eq!(whole.len(), 300_000);
    let empty = tree.get(Path::new("/empty")).unwrap().content.unwrap();
    assert_eq!(tree.open(&empty).unwrap().read(&mut half).unwrap(), 0);
    assert_eq!(tree.read(Path::new("/new\nline\u{fffd}"), 10).ok(), None);
    tree.check().unwrap();
    tree.finish();
    assert!(child.wait().unwrap().success());
}
