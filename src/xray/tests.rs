//! The analysis over hand-made layers: every figure checked against a count
//! done by hand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::image::config::HistoryEntry;
use crate::image::layer::{EntryKind, LayerEntry};
use crate::image::node::{NodeKind, NodeMeta};

use super::compare;
use super::merge::{Merged, ScannedLayer};
use super::{analyze, Analysis, Options};

fn entry(path: &str, kind: EntryKind, mode: u32) -> LayerEntry {
    LayerEntry {
        path: PathBuf::from(path),
        kind,
        meta: NodeMeta {
            mode,
            ..NodeMeta::default()
        },
        data_offset: 0,
    }
}

fn file(path: &str, size: u64) -> LayerEntry {
    entry(path, EntryKind::Node(NodeKind::File { size }), 0o644)
}

fn dir(path: &str) -> LayerEntry {
    entry(path, EntryKind::Node(NodeKind::Dir), 0o755)
}

fn symlink(path: &str, target: &str) -> LayerEntry {
    let target = PathBuf::from(target);
    entry(path, EntryKind::Node(NodeKind::Symlink { target }), 0o777)
}

fn hardlink(path: &str, target: &str) -> LayerEntry {
    let target = PathBuf::from(target);
    entry(path, EntryKind::Hardlink { target }, 0o644)
}

fn whiteout(path: &str) -> LayerEntry {
    entry(path, EntryKind::Whiteout, 0)
}

fn layers(entries: Vec<Vec<LayerEntry>>) -> Vec<ScannedLayer> {
    entries
        .into_iter()
        .map(|entries| ScannedLayer {
            tar_bytes: 0,
            entries,
        })
        .collect()
}

fn history(instructions: &[&str]) -> Vec<HistoryEntry> {
    instructions
        .iter()
        .map(|i| HistoryEntry {
            created_by: Some(format!("/bin/sh -c {i}")),
            ..HistoryEntry::default()
        })
        .collect()
}

fn run(layers: &[ScannedLayer], instructions: &[&str]) -> Analysis {
    let merged = Merged::apply(layers);
    analyze(
        "test",
        &history(instructions),
        layers,
        &merged,
        &HashMap::new(),
        &Options { top: 10 },
    )
}

#[test]
fn a_file_added_then_deleted_is_wasted_in_the_layer_that_stored_it() {
    let image = layers(vec![
        vec![dir("/bin"), file("/bin/sh", 1000)],
        vec![file("/big", 5_000_000)],
        vec![whiteout("/big")],
    ]);
    let a = run(&image, &["base", "make big", "rm /big"]);
    assert_eq!(a.summary.stored_bytes, 5_001_000);
    assert_eq!(a.summary.visible_bytes, 1000);
    assert_eq!(a.summary.wasted_bytes, 5_000_000);
    assert_eq!(a.summary.efficiency, 1000.0 / 5_001_000.0);
    assert_eq!(a.layers[1].wasted_bytes, 5_000_000);
    assert_eq!(a.layers[2].hides_bytes, 5_000_000);
    assert_eq!(
        (a.layers[2].deleted.files, a.layers[2].deleted.bytes),
        (1, 5_000_000)
    );
    assert_eq!(a.top_wasted_paths[0].path, "/big");
    assert_eq!(a.top_wasted_paths[0].layers, [2]);
    let advice: Vec<&str> = a.advice.iter().map(|x| x.message.as_str()).collect();
    assert!(
        advice.contains(
            &"layer 3 (`RUN rm /big`) deletes 5.0 MB added by layer 2: do it in the same RUN"
        ),
        "{advice:?}"
    );
}

#[test]
fn each_overwritten_copy_is_wasted_once_and_the_visible_one_never() {
    let image = layers(vec![
        vec![file("/data", 300)],
        vec![file("/data", 200)],
        vec![file("/data", 100)],
    ]);
    let a = run(&image, &["a", "b", "c"]);
    assert_eq!(a.summary.wasted_bytes, 500);
    assert_eq!(a.summary.visible_bytes, 100);
    assert_eq!(a.top_wasted_paths[0].bytes, 500);
    assert_eq!(a.top_wasted_paths[0].layers, [1, 2]);
    assert_eq!(
        (a.layers[1].modified.files, a.layers[1].modified.bytes),
        (1, 200)
    );
    assert_eq!((a.layers[0].added.files, a.layers[0].added.bytes), (1, 300));
}

#[test]
fn dive_scores_a_path_by_its_smallest_copy_we_by_the_visible_one() {
    // A small file later replaced by a big one: the big copy is kept.
    let image = layers(vec![vec![file("/app", 10)], vec![file("/app", 100)]]);
    let a = run(&image, &["a", "b"]);
    assert_eq!(a.summary.efficiency, 100.0 / 110.0);
    assert_eq!(a.summary.dive_efficiency, 10.0 / 110.0);
}

#[test]
fn hard_links_share_one_copy() {
    let image = layers(vec![
        vec![
            file("/a", 1000),
            hardlink("/b", "/a"),
            file("/c", 50),
            hardlink("/d", "/c"),
        ],
        vec![whiteout("/a"), whiteout("/c"), whiteout("/d")],
    ]);
    let a = run(&image, &["a", "b"]);
    // /a lives on as /b; /c and /d are one copy, wasted once.
    assert_eq!(a.summary.stored_bytes, 1050);
    assert_eq!(a.summary.wasted_bytes, 50);
    assert_eq!(a.summary.visible_bytes, 1000);
    assert_eq!(a.layers[1].deleted.files, 3);
}

#[test]
fn whiteout_of_a_directory_and_opaque_directories_hide_lower_contents_only() {
    let image = layers(vec![
        vec![
            dir("/d"),
            file("/d/x", 10),
            file("/d/y", 20),
            dir("/o"),
            file("/o/old", 40),
        ],
        vec![
            whiteout("/d"),
            entry("/o", EntryKind::Opaque, 0),
            dir("/o"),
            file("/o/new", 5),
        ],
    ]);
    let merged = Merged::apply(&image);
    assert_eq!(merged.wasted_bytes(), 70);
    assert!(merged.view.contains_key(Path::new("/o/new")));
    assert!(!merged.view.contains_key(Path::new("/o/old")));
    assert!(!merged.view.contains_key(Path::new("/d")));
    assert_eq!(merged.changes[1].deleted.files, 3);
}

#[test]
fn a_file_replacing_a_directory_hides_its_subtree() {
    let image = layers(vec![
        vec![dir("/x"), file("/x/inner", 30)],
        vec![file("/x", 7)],
    ]);
    let merged = Merged::apply(&image);
    assert_eq!(merged.wasted_bytes(), 30);
    assert_eq!(merged.view.len(), 1);
}

#[test]
fn symlink_targets_count_like_docker_counts_them() {
    let image = layers(vec![vec![
        symlink("/bin", "usr/bin"),
        file("/usr/bin/sh", 9),
    ]]);
    let a = run(&image, &["a"]);
    assert_eq!(a.layers[0].content_bytes, "usr/bin".len() as u64 + 9);
}

#[test]
fn duplicates_group_copies_by_hash_and_ignore_hard_links() {
    let image = layers(vec![vec![
        file("/a", 100),
        hardlink("/a-link", "/a"),
        file("/b", 100),
        file("/c", 100),
    ]]);
    let merged = Merged::apply(&image);
    let candidates = super::scan::duplicate_candidates(&merged);
    assert_eq!(candidates[&0].len(), 3);
    let mut hashes = HashMap::new();
    hashes.insert((0, PathBuf::from("/a")), [1; 32]);
    hashes.insert((0, PathBuf::from("/b")), [1; 32]);
    hashes.insert((0, PathBuf::from("/c")), [2; 32]);
    let found = super::findings::duplicates(&merged, &hashes);
    assert_eq!(found.groups.len(), 1);
    assert_eq!(found.groups[0].paths, ["/a", "/b"]);
    assert_eq!(found.wasted_bytes, 100);
}

#[test]
fn security_skips_symlinks_and_sticky_directories() {
    let image = layers(vec![vec![
        dir("/bin"),
        file("/bin/bash", 10),
        symlink("/bin/sh", "bash"),
        entry(
            "/usr/bin/su",
            EntryKind::Node(NodeKind::File { size: 1 }),
            0o4755,
        ),
        entry(
            "/usr/bin/wall",
            EntryKind::Node(NodeKind::File { size: 1 }),
            0o2755,
        ),
        entry("/tmp", EntryKind::Node(NodeKind::Dir), 0o1777),
        entry("/data", EntryKind::Node(NodeKind::Dir), 0o777),
        entry("/open", EntryKind::Node(NodeKind::File { size: 1 }), 0o666),
    ]]);
    let report = super::findings::security(&Merged::apply(&image));
    assert_eq!(report.shells, ["/bin/bash", "/bin/sh"]);
    assert_eq!(report.setuid, ["/usr/bin/su"]);
    assert_eq!(report.setgid, ["/usr/bin/wall"]);
    assert_eq!(report.world_writable, ["/data", "/open"]);
}

#[test]
fn leftovers_are_attributed_to_the_layer_that_left_them() {
    let image = layers(vec![
        vec![file("/usr/share/doc/x/copyright", 10)],
        vec![
            file("/var/lib/apt/lists/lock", 0),
            file("/var/lib/apt/lists/deb_Packages", 3_000_000),
            file("/root/.cache/pip/wheels/a.whl", 5),
        ],
    ]);
    let a = run(&image, &["base", "apt-get update"]);
    let apt = a
        .leftovers
        .iter()
        .find(|l| l.category == "apt-lists")
        .unwrap();
    assert_eq!((apt.files, apt.bytes), (1, 3_000_000));
    assert_eq!(apt.by_layer[0].layer, 2);
    assert!(a
        .leftovers
        .iter()
        .any(|l| l.category == "pip-cache" && l.bytes == 5));
    assert!(a.advice.iter().any(|x| x.message
        == "layer 2 (`RUN apt-get update`) leaves 3.0 MB of apt lists: add `rm -rf /var/lib/apt/lists/*` to the same RUN"));
}

#[test]
fn paths_resolve_through_symlinked_directories() {
    let image = layers(vec![vec![
        symlink("/bin", "usr/bin"),
        symlink("/lib64", "/usr/lib64"),
        file("/usr/bin/dash", 5),
        symlink("/loop", "loop/x"),
    ]]);
    let merged = Merged::apply(&image);
    assert_eq!(
        merged.resolve_parents(Path::new("/bin/dash")),
        Some("/usr/bin/dash".into())
    );
    assert_eq!(
        merged.resolve_parents(Path::new("/lib64/ld.so")),
        Some("/usr/lib64/ld.so".into())
    );
    // The last component stays as it is.
    assert_eq!(
        merged.resolve_parents(Path::new("/bin")),
        Some("/bin".into())
    );
    assert_eq!(merged.resolve_parents(Path::new("/loop/y")), None);
}

#[test]
fn comparison_marks_packages_removed_wholly_or_partly() {
    let status = "Package: dash\nStatus: install ok installed\nArchitecture: amd64\n\n\
                  Package: perl-base\nStatus: install ok installed\nArchitecture: amd64\n\n\
                  Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\n";
    let fat = layers(vec![vec![
        symlink("/bin", "usr/bin"),
        file("/usr/bin/dash", 100),
        file("/usr/share/man/man1/dash.1.gz", 10),
        file("/usr/bin/perl", 1000),
        file("/var/lib/dpkg/status", status.len() as u64),
        file("/var/lib/dpkg/info/dash.list", 1),
        file("/var/lib/dpkg/info/perl-base.list", 1),
    ]]);
    let slim = layers(vec![vec![file("/usr/bin/dash", 100)]]);
    let mut captured = HashMap::new();
    captured.insert(
        (0, PathBuf::from("/var/lib/dpkg/status")),
        status.as_bytes().to_vec(),
    );
    captured.insert(
        (0, PathBuf::from("/var/lib/dpkg/info/dash.list")),
        b"/.\n/bin\n/bin/dash\n/usr/share/man/man1/dash.1.gz\n".to_vec(),
    );
    captured.insert(
        (0, PathBuf::from("/var/lib/dpkg/info/perl-base.list")),
        b"/usr/bin/perl\n".to_vec(),
    );
    let result = compare::compare(
        ("fat", "slim"),
        &Merged::apply(&fat),
        &captured,
        &Merged::apply(&slim),
    );
    let names: Vec<(&str, &str, u64)> = result
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.status.as_str(), p.removed_bytes))
        .collect();
    assert_eq!(
        names,
        [
            ("perl-base", "removed", 1000),
            ("dash", "partly-removed", 10)
        ]
    );
    let usr_bin = result
        .directories
        .iter()
        .find(|d| d.path == "/usr/bin")
        .unwrap();
    assert_eq!((usr_bin.before_bytes, usr_bin.after_bytes), (1100, 100));
}

#[test]
fn a_directory_replacing_a_file_wastes_the_file() {
    let image = layers(vec![
        vec![file("/y", 100), file("/kept", 1)],
        vec![dir("/y"), file("/y/child", 5)],
    ]);
    let merged = Merged::apply(&image);
    assert_eq!(merged.wasted_bytes(), 100);
    assert_eq!(merged.visible_bytes(), 6);
    assert_eq!(
        merged.stored_bytes(),
        merged.visible_bytes() + merged.wasted_bytes()
    );
    assert!(!merged.waste[0].deleted);
    assert_eq!(merged.changes[1].added.files, 1);
}

#[test]
fn names_and_history_from_the_image_are_shown_escaped_and_kept_exact_in_json() {
    let clear = "/srv/\x1b[2Jclear";
    let forged = "/srv/forged\nrslim: wrote x";
    let image = layers(vec![
        vec![dir("/srv"), file(clear, 9_000_000), file(forged, 8_000_000)],
        vec![whiteout(clear)],
    ]);
    let a = run(&image, &["printf '\x1b]0;title\x07'", "rm \u{202e}x"]);
    let text = super::render::analysis(&a);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal:\n{text}"
    );
    assert!(!text.contains('\u{202e}'), "{text}");
    assert!(
        !text.lines().any(|line| line.starts_with("rslim: wrote")),
        "{text}"
    );
    assert!(text.contains("/srv/\\x1b[2Jclear"), "{text}");
    assert!(text.contains("/srv/forged\\nrslim: wrote x"), "{text}");
    assert!(text.contains("\\x1b]0;title\\x07"), "{text}");
    // The model (what --json prints) holds the names as they are.
    let json = serde_json::to_string(&a).unwrap();
    let back: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(back.to_string().contains("\\u001b[2Jclear"), "{json}");
}
