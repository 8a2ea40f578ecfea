//! What the fuzz targets share: reading everything an opened archive holds,
//! and a filesystem tree of a few in-memory files.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rslim::image::archive::Selection;
use rslim::image::node::{ContentSource, NodeKind};
use rslim::image::{ImageArchive, Platform, RootFs};
use rslim::resolve::tree::FsTree;

/// At most this much of each file is read back: a tar header may claim a
/// size the layer does not have, which the reader must refuse, not trust.
const READ_LIMIT: u64 = 1 << 20;

/// `bytes` in an anonymous temp file, as the archive reader wants them.
pub fn temp_file(bytes: &[u8]) -> std::fs::File {
    let mut file = tempfile::tempfile().expect("a temp file");
    file.write_all(bytes).expect("writing the temp file");
    file
}

/// Opens `bytes` as an archive, checked (as from a user) and unchecked (as
/// from the engine), and reads everything it gives.
pub fn read_archive(bytes: &[u8]) {
    for verify in [true, false] {
        let selection = Selection {
            platform: Platform::new("linux", "amd64", None),
            verify,
            ..Selection::default()
        };
        if let Ok(archive) = ImageArchive::from_tar(temp_file(bytes), &selection) {
            read_layers(&archive);
        }
    }
}

/// The merged filesystem with every file read back, and xray's analysis.
pub fn read_layers(archive: &ImageArchive) {
    let _ = archive.image_id();
    for index in 0..archive.layers.len() {
        let _ = io::copy(&mut archive.checked_blob(index).take(READ_LIMIT), &mut io::sink());
    }
    if let Ok(rootfs) = RootFs::build(archive) {
        for node in rootfs.nodes() {
            if let Some(content) = node.content {
                if let Ok(reader) = rootfs.open(&content) {
                    let _ = io::copy(&mut reader.take(READ_LIMIT), &mut io::sink());
                }
            }
            let _ = rootfs.list(&node.path);
        }
        let _ = rootfs.file_bytes();
    }
    let options = rslim::xray::Options { top: 5 };
    if let Ok(xray) = rslim::xray::xray(archive, "fuzz", &options) {
        let _ = rslim::xray::render::analysis(&xray.analysis);
    }
}

/// A docker-save archive whose layers are `layers` (tars, possibly
/// compressed), with a config that names no diff_ids: read unchecked.
pub fn docker_save(layers: &[&[u8]]) -> Vec<u8> {
    let names: Vec<String> = (0..layers.len()).map(|i| format!("{i}/layer.tar")).collect();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let manifest = format!(
        "[{{\"Config\":\"config.json\",\"RepoTags\":[\"fuzz:1\"],\"Layers\":[{}]}}]",
        quoted.join(",")
    );
    let config = r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/app"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let mut outer = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        outer.append_data(&mut header, name, bytes).expect("in memory");
    };
    add("manifest.json", manifest.as_bytes());
    add("config.json", config.as_bytes());
    for (name, layer) in names.iter().zip(layers) {
        add(name, layer);
    }
    outer.into_inner().expect("in memory")
}

/// A tree of a few files (and the directories above them) in memory.
#[derive(Default)]
pub struct MemTree {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemTree {
    pub fn with(files: &[(&str, &[u8])]) -> MemTree {
        MemTree {
            files: files
                .iter()
                .map(|(path, bytes)| (PathBuf::from(path), bytes.to_vec()))
                .collect(),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        path == Path::new("/") || self.files.keys().any(|f| f.starts_with(path) && f != path)
    }
}

impl FsTree for MemTree {
    fn kind(&self, path: &Path) -> Option<NodeKind> {
        match self.files.get(path) {
            Some(bytes) => Some(NodeKind::File {
                size: bytes.len() as u64,
            }),
            None => self.is_dir(path).then_some(NodeKind::Dir),
        }
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let bytes = self.files.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(bytes[..bytes.len().min(limit as usize)].to_vec())
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = self
            .files
            .keys()
            .filter_map(|f| {
                let rest = f.strip_prefix(dir).ok()?;
                let first = rest.components().next()?;
                Some(dir.join(first))
            })
            .collect();
        names.dedup();
        names
    }
}
