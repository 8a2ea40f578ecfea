//! The overlay rules on real layer tars, read back through `visit_layer`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::image::layer::visit_layer;
use crate::image::node::NodeKind;
use crate::image::test_archive::{image_archive, Entry};
use crate::image::{ImageArchive, RootFs};
use crate::resolve::tree::FsTree;

/// What the recorder stores per path: who wrote it, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    layer: usize,
    kind: NodeKind,
    /// For hard links: the path whose value was shared.
    linked_from: Option<PathBuf>,
}

impl OverlayValue for Written {
    fn is_dir(&self) -> bool {
        self.kind == NodeKind::Dir
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Hidden(PathBuf, Hidden),
    /// A path written; `true` when it replaced a value.
    Placed(PathBuf, bool),
}

struct Recorder {
    layer: usize,
    events: Vec<Event>,
}

impl LayerObserver<Written> for Recorder {
    fn node(&mut self, _entry: &LayerEntry, kind: &NodeKind) -> Option<Written> {
        Some(Written {
            layer: self.layer,
            kind: kind.clone(),
            linked_from: None,
        })
    }

    fn hardlink(&mut self, entry: &LayerEntry, target: &Written) -> Option<Written> {
        let EntryKind::Hardlink { target: from } = &entry.kind else {
            unreachable!("hardlink() is only asked for hard links")
        };
        Some(Written {
            linked_from: Some(from.clone()),
            ..target.clone()
        })
    }

    fn hidden(&mut self, path: &Path, _old: &Written, why: Hidden) {
        self.events.push(Event::Hidden(path.to_path_buf(), why));
    }

    fn placed(&mut self, entry: &LayerEntry, _new: &Written, replaced: Option<&Written>) {
        self.events
            .push(Event::Placed(entry.path.clone(), replaced.is_some()));
    }
}

/// Applies every layer; returns the tree and the events of the last layer.
fn merge(archive: &ImageArchive) -> (BTreeMap<PathBuf, Written>, Vec<Event>) {
    let mut tree = BTreeMap::new();
    let mut recorder = Recorder {
        layer: 0,
        events: Vec::new(),
    };
    for index in 0..archive.layers.len() {
        let mut entries = Vec::new();
        visit_layer(archive, index, &mut |entry, _| {
            entries.push(entry.clone());
            Ok(())
        })
        .unwrap();
        recorder.layer = index;
        recorder.events.clear();
        apply_layer(&mut tree, &entries, &mut recorder);
    }
    (tree, recorder.events)
}

fn paths(tree: &BTreeMap<PathBuf, Written>) -> Vec<&str> {
    tree.keys().map(|p| p.to_str().unwrap()).collect()
}

fn hidden(path: &str, why: Hidden) -> Event {
    Event::Hidden(PathBuf::from(path), why)
}

fn placed(path: &str, replaced: bool) -> Event {
    Event::Placed(PathBuf::from(path), replaced)
}

#[test]
fn a_whiteout_deletes_one_file_and_nothing_else() {
    let archive = image_archive(&[
        vec![
            Entry::Dir("etc", 0o755),
            Entry::File("etc/a", b"a"),
            Entry::File("etc/ab", b"ab"),
        ],
        vec![Entry::Whiteout("etc/a")],
    ]);
    let (tree, events) = merge(&archive);
    assert_eq!(paths(&tree), ["/etc", "/etc/ab"]);
    assert_eq!(events, [hidden("/etc/a", Hidden::Deleted)]);
    let rootfs = RootFs::build(&archive).unwrap();
    assert!(rootfs.get(Path::new("/etc/a")).is_none());
    assert_eq!(rootfs.read(Path::new("/etc/ab"), 10).unwrap(), b"ab");
}

#[test]
fn a_whiteout_of_a_directory_deletes_its_subtree_in_path_order() {
    let archive = image_archive(&[
        vec![
            Entry::Dir("d", 0o755),
            Entry::File("d/x", b"x"),
            Entry::Dir("d/sub", 0o755),
            Entry::File("d/sub/y", b"y"),
            // Shares the prefix "d" but is no child of /d.
            Entry::File("d-x", b"kept"),
        ],
        vec![Entry::Whiteout("d")],
    ]);
    let (tree, events) = merge(&archive);
    assert_eq!(paths(&tree), ["/d-x"]);
    assert_eq!(
        events,
        [
            hidden("/d", Hidden::Deleted),
            hidden("/d/sub", Hidden::Deleted),
            hidden("/d/sub/y", Hidden::Deleted),
            hidden("/d/x", Hidden::Deleted),
        ]
    );
    assert_eq!(RootFs::build(&archive).unwrap().len(), 1);
}

#[test]
fn an_opaque_directory_hides_lower_children_but_keeps_its_own_layers() {
    let archive = image_archive(&[
        vec![
            Entry::Dir("o", 0o755),
            Entry::File("o/old", b"old"),
            Entry::Dir("o/sub", 0o755),
            Entry::File("o/sub/deep", b"deep"),
        ],
        // The marker comes after the new child in tar order, as it may.
        vec![
            Entry::Dir("o", 0o700),
            Entry::File("o/new", b"new"),
            Entry::Opaque("o"),
        ],
    ]);
    let (tree, events) = merge(&archive);
    assert_eq!(paths(&tree), ["/o", "/o/new"]);
    assert_eq!(tree[Path::new("/o")].layer, 1);
    assert_eq!(
        events,
        [
            hidden("/o/old", Hidden::Deleted),
            hidden("/o/sub", Hidden::Deleted),
            hidden("/o/sub/deep", Hidden::Deleted),
            // A directory over a directory only updates it.
            placed("/o", true),
            placed("/o/new", false),
        ]
    );
    let rootfs = RootFs::build(&archive).unwrap();
    assert_eq!(rootfs.get(Path::new("/o")).unwrap().meta.mode, 0o700);
    assert_eq!(rootfs.list(Path::new("/o")), [PathBuf::from("/o/new")]);
}

#[test]
fn a_file_replacing_a_directory_hides_the_directory_and_its_subtree() {
    let archive = image_archive(&[
        vec![Entry::Dir("x", 0o755), Entry::File("x/inner", b"inner")],
        vec![Entry::File("x", b"now a file")],
    ]);
    let (tree, events) = merge(&archive);
    assert_eq!(paths(&tree), ["/x"]);
    assert_eq!(tree[Path::new("/x")].kind, NodeKind::File { size: 10 });
    assert_eq!(
        events,
        [
            hidden("/x", Hidden::Replaced),
            hidden("/x/inner", Hidden::Replaced),
            placed("/x", true),
        ]
    );
    let rootfs = RootFs::build(&archive).unwrap();
    assert_eq!(rootfs.read(Path::new("/x"), 100).unwrap(), b"now a file");
    assert_eq!(rootfs.len(), 1);
}

#[test]
fn a_directory_replacing_a_file_hides_the_file() {
    let archive = image_archive(&[
        vec![Entry::File("y", b"file"), Entry::Symlink("s", "y")],
        vec![Entry::Dir("y", 0o755), Entry::File("y/child", b"c")],
    ]);
    let (tree, events) = merge(&archive);
    assert_eq!(paths(&tree), ["/s", "/y", "/y/child"]);
    assert!(tree[Path::new("/y")].is_dir());
    assert_eq!(
        events,
        [
            hidden("/y", Hidden::Replaced),
            placed("/y", true),
            placed("/y/child", false),
        ]
    );
    let rootfs = RootFs::build(&archive).unwrap();
    assert_eq!(rootfs.kind(Path::new("/y")), Some(NodeKind::Dir));
    assert_eq!(rootfs.read(Path::new("/y/child"), 10).unwrap(), b"c");
}

#[test]
fn a_hard_link_shares_an_earlier_entry_of_its_layer_and_a_dangling_one_is_skipped() {
    let archive = image_archive(&[vec![
        Entry::Dir("bin", 0o755),
        Entry::File("bin/a", b"hello"),
        Entry::Hardlink("bin/b", "bin/a"),
        Entry::Hardlink("bin/c", "bin/missing"),
    ]]);
    let (tree, events) = merge(&archive);
    assert_eq!(paths(&tree), ["/bin", "/bin/a", "/bin/b"]);
    let b = &tree[Path::new("/bin/b")];
    assert_eq!(b.linked_from.as_deref(), Some(Path::new("/bin/a")));
    assert_eq!(b.kind, NodeKind::File { size: 5 });
    assert!(!events.contains(&placed("/bin/c", false)));
    let rootfs = RootFs::build(&archive).unwrap();
    let (a, b) = (
        rootfs.get(Path::new("/bin/a")).unwrap(),
        rootfs.get(Path::new("/bin/b")).unwrap(),
    );
    assert_eq!(a.content, b.content);
    assert_eq!(b.path, Path::new("/bin/b"));
    assert_eq!(rootfs.read(Path::new("/bin/b"), 10).unwrap(), b"hello");
    assert_eq!(rootfs.file_bytes(), 5);
}

#[test]
fn a_file_written_through_a_symlink_of_its_own_layer_lands_at_the_target() {
    // Docker unpacks a layer chrooted into its own directory: `link/passwd`
    // opens `/etc/passwd` there, and `up` cannot climb out of the root.
    let archive = image_archive(&[
        vec![Entry::Dir("etc", 0o755), Entry::File("etc/passwd", b"old")],
        vec![
            Entry::Dir("etc", 0o755),
            Entry::Symlink("link", "/etc"),
            Entry::File("link/passwd", b"new"),
            Entry::Dir("usr", 0o755),
            Entry::Symlink("usr/up", "../../.."),
            Entry::File("usr/up/top", b"top"),
            Entry::Hardlink("usr/same", "link/passwd"),
        ],
    ]);
    let rootfs = RootFs::build(&archive).unwrap();
    assert_eq!(rootfs.read(Path::new("/etc/passwd"), 10).unwrap(), b"new");
    assert_eq!(rootfs.read(Path::new("/top"), 10).unwrap(), b"top");
    assert!(rootfs.get(Path::new("/link/passwd")).is_none());
    assert!(rootfs.get(Path::new("/usr/up/top")).is_none());
    assert_eq!(
        rootfs.kind(Path::new("/link")),
        Some(NodeKind::Symlink {
            target: PathBuf::from("/etc")
        })
    );
    let same = rootfs.get(Path::new("/usr/same")).unwrap();
    assert_eq!(
        same.content,
        rootfs.get(Path::new("/etc/passwd")).unwrap().content
    );
}

#[test]
fn a_symlink_of_a_lower_layer_is_replaced_by_the_directory_a_name_needs() {
    // In the upper layer's own directory `app` does not exist: the unpacker
    // makes it, and the directory hides the lower symlink.
    let archive = image_archive(&[
        vec![Entry::Dir("etc", 0o755), Entry::Symlink("app", "/etc")],
        vec![Entry::File("app/config", b"cfg")],
    ]);
    let (tree, _) = merge(&archive);
    assert_eq!(paths(&tree), ["/app", "/app/config", "/etc"]);
    let rootfs = RootFs::build(&archive).unwrap();
    assert_eq!(rootfs.kind(Path::new("/app")), Some(NodeKind::Dir));
    assert_eq!(rootfs.get(Path::new("/app")).unwrap().meta.mode, 0o755);
    assert_eq!(rootfs.read(Path::new("/app/config"), 10).unwrap(), b"cfg");
    assert!(rootfs.get(Path::new("/etc/config")).is_none());
}

/// `children` lists what a descendant scan filtered by parent lists, on
/// names that sort around each other (`a`, `a.b`, `a-b`, `ab`) and on
/// a child missing from the tree whose subtree is there.
#[test]
fn children_are_the_direct_entries_only() {
    let paths = [
        "/a",
        "/a/x",
        "/a/x/deep/er",
        "/a-b",
        "/a-b/y",
        "/a.b",
        "/ab",
        "/ab/z",
        "/b/orphan/file",
        "/c",
    ];
    let tree: BTreeMap<PathBuf, ()> = paths.iter().map(|p| (PathBuf::from(p), ())).collect();
    let scanned = |dir: &Path| -> Vec<PathBuf> {
        descendants(&tree, dir)
            .filter(|(path, _)| path.parent() == Some(dir))
            .map(|(path, _)| path.clone())
            .collect()
    };
    for dir in [
        "/",
        "/a",
        "/a/x",
        "/a/x/deep",
        "/ab",
        "/b",
        "/b/orphan",
        "/c",
        "/none",
    ] {
        let dir = Path::new(dir);
        assert_eq!(
            children(&tree, dir),
            scanned(dir),
            "children of {}",
            dir.display()
        );
    }
    assert_eq!(
        children(&tree, Path::new("/")),
        ["/a", "/a-b", "/a.b", "/ab", "/c"].map(PathBuf::from)
    );
    assert!(children(&tree, Path::new("/b")).is_empty());
}
