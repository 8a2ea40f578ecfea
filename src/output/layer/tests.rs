use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;

use tar::{Archive, EntryType};

use super::*;
use crate::image::node::NodeMeta;
use crate::output::digest::sha256_hex;

/// Content held in memory, keyed by reference.
#[derive(Default)]
struct MemorySource {
    contents: HashMap<ContentRef, Vec<u8>>,
}

impl MemorySource {
    fn add(&mut self, offset: u64, data: &[u8]) -> ContentRef {
        let content = ContentRef {
            layer: 0,
            offset,
            size: data.len() as u64,
        };
        self.contents.insert(content, data.to_vec());
        content
    }
}

impl ContentSource for MemorySource {
    fn open(&self, content: &ContentRef) -> io::Result<Box<dyn Read + '_>> {
        let data = self
            .contents
            .get(content)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such content"))?;
        Ok(Box::new(data.as_slice()))
    }
}

fn meta(mode: u32, uid: u64, gid: u64, mtime: u64) -> NodeMeta {
    NodeMeta {
        mode,
        uid,
        gid,
        mtime,
        xattrs: Vec::new(),
    }
}

fn node(path: &str, kind: NodeKind, meta: NodeMeta) -> Node {
    Node {
        path: PathBuf::from(path),
        kind,
        meta,
        content: None,
    }
}

fn file(path: &str, content: ContentRef, meta: NodeMeta) -> Node {
    Node {
        path: PathBuf::from(path),
        kind: NodeKind::File { size: content.size },
        meta,
        content: Some(content),
    }
}

const CAPABILITY: &[u8] = &[
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn long_dir() -> String {
    format!("/opt/{}", "d".repeat(120))
}

fn long_target() -> String {
    format!("../{}/target", "t".repeat(140))
}

/// A small root with every kind of entry, in scrambled order.
fn sample_root(source: &mut MemorySource) -> Vec<Node> {
    let ping = source.add(0, b"ping binary");
    let shared = source.add(100, b"same inode");
    let long = source.add(200, b"deep");
    let mut ping_meta = meta(0o4755, 0, 0, 1_700_000_001);
    ping_meta.xattrs = vec![("security.capability".to_owned(), CAPABILITY.to_vec())];
    vec![
        file("/usr/bin/zz-link", shared, meta(0o755, 0, 0, 1_600_000_000)),
        node("/usr/bin", NodeKind::Dir, meta(0o755, 0, 0, 1_600_000_000)),
        file("/usr/bin/ping", ping, ping_meta),
        node("/", NodeKind::Dir, meta(0o755, 0, 0, 1)),
        file("/usr/bin/aa-link", shared, meta(0o755, 0, 0, 1_600_000_000)),
        node("/usr", NodeKind::Dir, meta(0o755, 0, 0, 1_600_000_000)),
        node(
            "/bin",
            NodeKind::Symlink {
                target: PathBuf::from("usr/bin"),
            },
            meta(0o777, 0, 0, 1_600_000_002),
        ),
        node(
            "/dev/null",
            NodeKind::CharDevice { major: 1, minor: 3 },
            meta(0o666, 0, 0, 5),
        ),
        node(
            "/dev/sda",
            NodeKind::BlockDevice { major: 8, minor: 0 },
            meta(0o660, 0, 6, 5),
        ),
        node("/dev", NodeKind::Dir, meta(0o755, 0, 0, 5)),
        node("/run/initctl", NodeKind::Fifo, meta(0o600, 0, 0, 6)),
        node("/run", NodeKind::Dir, meta(0o755, 0, 0, 6)),
        node("/tmp", NodeKind::Dir, meta(0o1777, 0, 0, 7)),
        node("/var/mail", NodeKind::Dir, meta(0o2775, 0, 8, 8)),
        node("/var", NodeKind::Dir, meta(0o755, 0, 0, 8)),
        node("/opt", NodeKind::Dir, meta(0o755, 0, 0, 9)),
        node(&long_dir(), NodeKind::Dir, meta(0o750, 1000, 1000, 9)),
        file(
            &format!("{}/file", long_dir()),
            long,
            meta(0o640, 3_000_000, 1000, 9),
        ),
        node(
            &format!("{}/link", long_dir()),
            NodeKind::Symlink {
                target: PathBuf::from(long_target()),
            },
            meta(0o777, 1000, 1000, 9),
        ),
    ]
}

/// One entry as read back: (path, type, mode, uid, gid, mtime, link, device, xattrs, data).
#[derive(Debug)]
struct ReadEntry {
    path: String,
    entry_type: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    device: Option<(u32, u32)>,
    xattrs: Vec<(String, Vec<u8>)>,
    data: Vec<u8>,
    username: Vec<u8>,
}

fn read_back(tar_bytes: &[u8]) -> Vec<ReadEntry> {
    let mut archive = Archive::new(tar_bytes);
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().unwrap() {
            for record in pax {
                let record = record.unwrap();
                if let Some(name) = record.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_owned(), record.value_bytes().to_vec()));
                }
            }
        }
        let header = entry.header().clone();
        let entry_type = header.entry_type();
        let device = matches!(entry_type, EntryType::Char | EntryType::Block).then(|| {
            (
                header.device_major().unwrap().unwrap(),
                header.device_minor().unwrap().unwrap(),
            )
        });
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).unwrap());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        entries.push(ReadEntry {
            path,
            entry_type,
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            mtime: header.mtime().unwrap(),
            link,
            device,
            xattrs,
            data,
            username: header.username_bytes().unwrap_or_default().to_vec(),
        });
    }
    entries
}

fn write_sample() -> (Vec<u8>, LayerSummary) {
    let mut source = MemorySource::default();
    let nodes = sample_root(&mut source);
    let mut tar_bytes = Vec::new();
    let summary = write_layer(&nodes, &source, &mut tar_bytes).unwrap();
    (tar_bytes, summary)
}

#[test]
fn entries_are_sorted_relative_and_directories_end_with_a_slash() {
    let (tar_bytes, summary) = write_sample();
    let paths: Vec<String> = read_back(&tar_bytes).into_iter().map(|e| e.path).collect();
    let long = long_dir()[1..].to_owned();
    assert_eq!(
        paths,
        [
            "bin".to_owned(),
            "dev/".to_owned(),
            "dev/null".to_owned(),
            "dev/sda".to_owned(),
            "opt/".to_owned(),
            format!("{long}/"),
            format!("{long}/file"),
            format!("{long}/link"),
            "run/".to_owned(),
            "run/initctl".to_owned(),
            "tmp/".to_owned(),
            "usr/".to_owned(),
            "usr/bin/".to_owned(),
            "usr/bin/aa-link".to_owned(),
            "usr/bin/ping".to_owned(),
            "usr/bin/zz-link".to_owned(),
            "var/".to_owned(),
            "var/mail/".to_owned(),
        ]
    );
    // The root node is not an entry.
    assert_eq!(summary.entries, 18);
}

#[test]
fn headers_keep_type_mode_owner_mtime_and_devices() {
    let (tar_bytes, _) = write_sample();
    let entries = read_back(&tar_bytes);
    let find = |path: &str| entries.iter().find(|e| e.path == path).unwrap();

    let ping = find("usr/bin/ping");
    assert_eq!(ping.entry_type, EntryType::Regular);
    assert_eq!(ping.mode, 0o4755);
    assert_eq!(ping.mtime, 1_700_000_001);
    assert_eq!(ping.data, b"ping binary");

    assert_eq!(find("tmp/").mode, 0o1777);
    let mail = find("var/mail/");
    assert_eq!(
        (mail.entry_type, mail.mode, mail.gid),
        (EntryType::Directory, 0o2775, 8)
    );

    let bin = find("bin");
    assert_eq!(bin.entry_type, EntryType::Symlink);
    assert_eq!(bin.link.as_deref(), Some("usr/bin"));
    assert_eq!(bin.mtime, 1_600_000_002);

    let null = find("dev/null");
    assert_eq!(
        (null.entry_type, null.device),
        (EntryType::Char, Some((1, 3)))
    );
    let sda = find("dev/sda");
    assert_eq!(
        (sda.entry_type, sda.device, sda.mode, sda.gid),
        (EntryType::Block, Some((8, 0)), 0o660, 6)
    );
    assert_eq!(find("run/initctl").entry_type, EntryType::Fifo);

    // No user or group names anywhere: ownership is numeric only.
    assert!(entries.iter().all(|e| e.username.iter().all(|&b| b == 0)));
}

#[test]
fn xattrs_are_pax_records_on_their_entry_only() {
    let (tar_bytes, _) = write_sample();
    let entries = read_back(&tar_bytes);
    for entry in &entries {
        if entry.path == "usr/bin/ping" {
            assert_eq!(
                entry.xattrs,
                [("security.capability".to_owned(), CAPABILITY.to_vec())]
            );
        } else {
            assert!(entry.xattrs.is_empty(), "{} has xattrs", entry.path);
        }
    }
}

#[test]
fn shared_content_is_one_file_and_hard_links_to_it() {
    let (tar_bytes, summary) = write_sample();
    let entries = read_back(&tar_bytes);
    let first = entries
        .iter()
        .find(|e| e.path == "usr/bin/aa-link")
        .unwrap();
    assert_eq!(first.entry_type, EntryType::Regular);
    assert_eq!(first.data, b"same inode");
    let second = entries
        .iter()
        .find(|e| e.path == "usr/bin/zz-link")
        .unwrap();
    assert_eq!(second.entry_type, EntryType::Link);
    assert_eq!(second.link.as_deref(), Some("usr/bin/aa-link"));
    assert!(second.data.is_empty());
    // ping, aa-link, the long file: the hard link carries no data.
    assert_eq!(summary.files, 3);
    assert_eq!(summary.file_bytes, (11 + 10 + 4) as u64);
}

#[test]
fn long_paths_long_link_targets_and_big_ids_survive() {
    let (tar_bytes, _) = write_sample();
    let entries = read_back(&tar_bytes);
    let long = &long_dir()[1..];
    let file = entries
        .iter()
        .find(|e| e.path == format!("{long}/file"))
        .unwrap();
    assert_eq!(file.data, b"deep");
    assert_eq!(file.uid, 3_000_000);
    let link = entries
        .iter()
        .find(|e| e.path == format!("{long}/link"))
        .unwrap();
    assert_eq!(link.link.as_deref(), Some(long_target().as_str()));
}

#[test]
fn output_is_byte_identical_whatever_the_input_order_and_digest_matches() {
    let (first, summary) = write_sample();
    let mut source = MemorySource::default();
    let mut nodes = sample_root(&mut source);
    nodes.reverse();
    let mut second = Vec::new();
    write_layer(&nodes, &source, &mut second).unwrap();
    assert_eq!(first, second);
    assert_eq!(summary.diff_id, format!("sha256:{}", sha256_hex(&first)));
    assert_eq!(summary.size, first.len() as u64);
    assert_eq!(first.len() % 512, 0);
}

#[test]
fn content_shorter_than_its_size_is_an_error() {
    let mut source = MemorySource::default();
    let real = source.add(0, b"short");
    // The source holds 5 bytes under a reference that claims 5, but the node
    // claims 9: the content reference must match the file size.
    let mismatched = Node {
        kind: NodeKind::File { size: 9 },
        ..file("/a", real, NodeMeta::default())
    };
    let err = write_layer(&[mismatched], &source, Vec::new()).unwrap_err();
    assert!(err.to_string().contains("/a"), "{err}");

    // A source that yields fewer bytes than the reference says.
    let truncated = ContentRef {
        layer: 0,
        offset: 0,
        size: 9,
    };
    source.contents.insert(truncated, b"short".to_vec());
    let err = write_layer(
        &[file("/b", truncated, NodeMeta::default())],
        &source,
        Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("4 bytes early"), "{err}");
}

#[test]
fn duplicate_and_unnormalised_paths_are_rejected() {
    let source = MemorySource::default();
    let dir = || node("/etc", NodeKind::Dir, NodeMeta::default());
    let err = write_layer(&[dir(), dir()], &source, Vec::new()).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");

    let escape = node("/etc/../x", NodeKind::Fifo, NodeMeta::default());
    let err = write_layer(&[escape], &source, Vec::new()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn gnu_tar_lists_the_layer_as_written() {
    let (tar_bytes, _) = write_sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, &tar_bytes).unwrap();
    let Ok(output) = std::process::Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&path)
        .output()
    else {
        eprintln!("skipping: no `tar` binary to cross-check with");
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing = String::from_utf8(output.stdout).unwrap();
    let line = |needle: &str| {
        listing
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{listing}"))
    };
    assert!(line("usr/bin/ping").starts_with("-rwsr-xr-x 0/0"));
    assert!(line("tmp/").starts_with("drwxrwxrwt"));
    assert!(line("var/mail/").starts_with("drwxrwsr-x 0/8"));
    assert!(line("dev/null").starts_with("crw-rw-rw- 0/0"));
    assert!(line("usr/bin/zz-link").ends_with("usr/bin/zz-link link to usr/bin/aa-link"));
    let long = &long_dir()[1..];
    assert!(line(&format!("{long}/link")).ends_with(&format!("-> {}", long_target())));
    assert!(line(&format!("{long}/file")).starts_with("-rw-r----- 3000000/1000"));
    assert_eq!(listing.lines().count(), 18);
}
