//! Files the slim image has that the original does not (the `status.d`
//! entries of the kept packages): written from memory, with fixed metadata
//! so the layer stays a function of its input. Each is a regular file owned
//! by root, mode 0644, with rslim's chosen mtime ([`super::epoch`]:
//! `SOURCE_DATE_EPOCH`, else 0).

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;

use super::epoch;
use crate::image::node::{ContentRef, ContentSource, Node, NodeKind, NodeMeta};

/// The `layer` of a [`ContentRef`] that names an extra file rather than a
/// layer of the original: no image has this many layers.
const EXTRA_LAYER: usize = usize::MAX;

/// Synthetic files by path, and the original's contents for everything else.
pub struct WithExtras<'a> {
    original: &'a dyn ContentSource,
    files: Vec<&'a [u8]>,
}

impl<'a> WithExtras<'a> {
    /// The nodes for `extras` (absolute, normalised paths) and a source that
    /// serves them beside `original`.
    pub fn new(
        original: &'a dyn ContentSource,
        extras: &'a BTreeMap<PathBuf, Vec<u8>>,
    ) -> (WithExtras<'a>, Vec<Node>) {
        let mtime = epoch::chosen_mtime();
        let mut files = Vec::new();
        let mut nodes = Vec::new();
        for (index, (path, bytes)) in extras.iter().enumerate() {
            files.push(bytes.as_slice());
            let size = bytes.len() as u64;
            nodes.push(Node {
                path: path.clone(),
                kind: NodeKind::File { size },
                meta: NodeMeta {
                    mode: 0o644,
                    mtime,
                    ..NodeMeta::default()
                },
                content: Some(ContentRef {
                    layer: EXTRA_LAYER,
                    offset: index as u64,
                    size,
                }),
            });
        }
        (WithExtras { original, files }, nodes)
    }
}

impl ContentSource for WithExtras<'_> {
    fn open(&self, content: &ContentRef) -> io::Result<Box<dyn Read + '_>> {
        if content.layer != EXTRA_LAYER {
            return self.original.open(content);
        }
        let bytes = self
            .files
            .get(content.offset as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such extra file"))?;
        Ok(Box::new(*bytes))
    }

    fn prefetch(&self, contents: &[ContentRef]) {
        let original: Vec<ContentRef> = contents
            .iter()
            .filter(|content| content.layer != EXTRA_LAYER)
            .copied()
            .collect();
        self.original.prefetch(&original);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::write_layer;

    struct Nothing;

    impl ContentSource for Nothing {
        fn open(&self, _: &ContentRef) -> io::Result<Box<dyn Read + '_>> {
            Err(io::Error::new(io::ErrorKind::NotFound, "empty"))
        }
    }

    #[test]
    fn extra_files_are_written_with_fixed_metadata_and_the_same_bytes_each_time() {
        let extras: BTreeMap<PathBuf, Vec<u8>> = [
            ("/var/lib/dpkg/status.d/b", b"Package: b\n".to_vec()),
            ("/var/lib/dpkg/status.d/a", b"Package: a\n".to_vec()),
        ]
        .into_iter()
        .map(|(p, b)| (PathBuf::from(p), b))
        .collect();
        let write = || {
            let (source, nodes) = WithExtras::new(&Nothing, &extras);
            let mut tar = Vec::new();
            write_layer(&nodes, &source, &mut tar).unwrap();
            tar
        };
        let tar = write();
        assert_eq!(tar, write());
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            assert_eq!(header.mode().unwrap(), 0o644);
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
            assert_eq!(header.mtime().unwrap(), epoch::chosen_mtime());
            seen.push((entry.path().unwrap().display().to_string(), text));
        }
        assert_eq!(
            seen,
            [
                (
                    "var/lib/dpkg/status.d/a".to_string(),
                    "Package: a\n".to_string()
                ),
                (
                    "var/lib/dpkg/status.d/b".to_string(),
                    "Package: b\n".to_string()
                ),
            ]
        );
    }
}
