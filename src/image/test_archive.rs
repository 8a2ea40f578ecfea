//! Test helper: writes real layer tars, wraps them in a docker-save-shaped
//! archive in an anonymous temp file, and opens it as an [`ImageArchive`].

use std::io::Write;

use tar::{Builder, EntryType, Header};

use super::archive::ImageArchive;

/// One entry of a hand-made layer; paths are relative, as docker writes them.
pub enum Entry<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// `.wh.NAME` next to the deleted path.
    Whiteout(&'a str),
    /// `.wh..wh..opq` inside the directory.
    Opaque(&'a str),
}

pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut tar = Builder::new(Vec::new());
    for entry in entries {
        let mut header = new_header();
        match entry {
            Entry::Dir(path, mode) => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                tar.append_data(&mut header, path, &[][..]).unwrap();
            }
            Entry::File(path, bytes) => append_file(&mut tar, &mut header, path, bytes),
            Entry::Symlink(path, target) | Entry::Hardlink(path, target) => {
                let kind = match entry {
                    Entry::Symlink(..) => EntryType::Symlink,
                    _ => EntryType::Link,
                };
                header.set_entry_type(kind);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, path, target).unwrap();
            }
            Entry::Whiteout(path) => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                let marker = format!("{dir}/.wh.{name}");
                append_file(&mut tar, &mut header, marker.trim_start_matches('/'), b"");
            }
            Entry::Opaque(dir) => {
                let marker = format!("{dir}/.wh..wh..opq");
                append_file(&mut tar, &mut header, &marker, b"");
            }
        }
    }
    tar.into_inner().unwrap()
}

/// A header with every numeric field set: the layer reader parses them all.
fn new_header() -> Header {
    let mut header = Header::new_gnu();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header
}

fn append_file(tar: &mut Builder<Vec<u8>>, header: &mut Header, path: &str, bytes: &[u8]) {
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(bytes.len() as u64);
    tar.append_data(header, path, bytes).unwrap();
}

/// An image whose layers are `layers`, bottom first, as `docker save` lays it out.
pub fn image_archive(layers: &[Vec<Entry>]) -> ImageArchive {
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("layer{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["rslim-test/overlay:latest"],
        "Layers": names,
    }]);
    let config = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": []}});
    let mut outer = Builder::new(tempfile::tempfile().unwrap());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = new_header();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        outer.append_data(&mut header, name, bytes).unwrap();
    };
    add("manifest.json", manifest.to_string().as_bytes());
    add("config.json", config.to_string().as_bytes());
    for (name, layer) in names.iter().zip(layers) {
        add(name, &layer_tar(layer));
    }
    let mut file = outer.into_inner().unwrap();
    file.flush().unwrap();
    ImageArchive::from_file(file).unwrap()
}
