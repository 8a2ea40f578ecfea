//! A read-only view of an image's filesystem, so that resolution logic runs
//! the same over a real image (`image::RootFs`) and over a directory on the
//! host in tests.

use std::io;
use std::path::{Path, PathBuf};

use crate::image::node::NodeKind;

pub trait FsTree {
    /// What `path` (absolute, normalised) is, without following a final symlink.
    fn kind(&self, path: &Path) -> Option<NodeKind>;

    /// Up to `limit` bytes from the start of the regular file at `path`.
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>>;

    /// The entries directly inside directory `dir`, as absolute paths, sorted.
    fn list(&self, dir: &Path) -> Vec<PathBuf>;
}
