//! A read-only view of an image's filesystem, so that resolution logic runs
//! the same over a real image (`image::RootFs`) and over a directory on the
//! host in tests.

use std::io;
use std::path::{Path, PathBuf};

use crate::image::node::NodeKind;

pub trait FsTree {
    /// What `path` (absolute, normalised) is, without following a final symlink.
    fn kind(&self, path: &Path) -> Option<NodeKind>;

    /// As [`FsTree::kind`], but a regular file's size may be given as 0:
    /// what following a path needs, which a tree that looks files up on
    /// first use (the light walk's) answers without a round trip.
    fn kind_unsized(&self, path: &Path) -> Option<NodeKind> {
        self.kind(path)
    }

    /// Up to `limit` bytes from the start of the regular file at `path`.
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>>;

    /// The entries directly inside directory `dir`, as absolute paths, sorted.
    fn list(&self, dir: &Path) -> Vec<PathBuf>;

    /// Up to `len` bytes of the regular file at `path`, from `offset`.
    /// Trees whose reads are round trips (the walker's) send only these.
    fn read_at(&self, path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut bytes = self.read(path, offset.saturating_add(len))?;
        Ok(bytes.split_off((offset as usize).min(bytes.len())))
    }

    /// Says that up to `limit` bytes of each of the regular files `paths`
    /// will be read next (a path that is none is passed over), so a tree
    /// whose every read is a round trip (the walker's) can ask for them all
    /// at once. Only ever a hint: reads answer the same without it.
    fn prefetch(&self, _paths: &[PathBuf], _limit: u64) {}

    /// Every path below directory `dir` with its kind, depth first in
    /// [`list`](FsTree::list) order, a directory just before what is in it;
    /// symlinks are not followed. Trees held in path order override this
    /// with one pass over their entries instead of a lookup for each.
    fn walk(&self, dir: &Path, visit: &mut dyn FnMut(&Path, &NodeKind)) {
        for entry in self.list(dir) {
            if let Some(kind) = self.kind(&entry) {
                visit(&entry, &kind);
                if kind == NodeKind::Dir {
                    self.walk(&entry, visit);
                }
            }
        }
    }
}

/// An [`FsTree`] over a directory on the host, for tests and benchmarks:
/// tree path `/x` is `root/x`. Like an image's tree it never follows
/// symlinks, not even in the middle of a path: a path whose parent is a
/// symlink does not exist, so resolution must walk links itself.
pub struct HostTree {
    root: PathBuf,
}

impl HostTree {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostTree { root: root.into() }
    }

    /// The host path for tree path `path`, or `None` when a directory on the
    /// way is a symlink or missing (the host would follow it, an image would not).
    fn host_path(&self, path: &Path) -> Option<PathBuf> {
        let relative = path.strip_prefix("/").unwrap_or(path);
        let mut host = self.root.clone();
        let mut components = relative.components().peekable();
        while let Some(component) = components.next() {
            host.push(component);
            if components.peek().is_some() && !std::fs::symlink_metadata(&host).ok()?.is_dir() {
                return None;
            }
        }
        Some(host)
    }
}

impl FsTree for HostTree {
    fn kind(&self, path: &Path) -> Option<NodeKind> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let host = self.host_path(path)?;
        let meta = std::fs::symlink_metadata(&host).ok()?;
        let file_type = meta.file_type();
        let device = || {
            let rdev = meta.rdev();
            (
                nix::sys::stat::major(rdev) as u32,
                nix::sys::stat::minor(rdev) as u32,
            )
        };
        Some(if file_type.is_symlink() {
            NodeKind::Symlink {
                target: std::fs::read_link(&host).ok()?,
            }
        } else if file_type.is_dir() {
            NodeKind::Dir
        } else if file_type.is_file() {
            NodeKind::File { size: meta.len() }
        } else if file_type.is_char_device() {
            let (major, minor) = device();
            NodeKind::CharDevice { major, minor }
        } else if file_type.is_block_device() {
            let (major, minor) = device();
            NodeKind::BlockDevice { major, minor }
        } else {
            // Sockets have no NodeKind; a fifo is the closest "not a file" kind.
            NodeKind::Fifo
        })
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let not_found = || {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not in the tree", path.display()),
            )
        };
        let host = self.host_path(path).ok_or_else(not_found)?;
        if !std::fs::symlink_metadata(&host)?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&host)?
            .take(limit)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let Some(host) = self.host_path(dir) else {
            return Vec::new();
        };
        if !std::fs::symlink_metadata(&host).is_ok_and(|meta| meta.is_dir()) {
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir(&host) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| dir.join(entry.file_name()))
            .collect();
        paths.sort();
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tree_does_not_follow_symlinks_anywhere_in_a_path() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib")).unwrap();
        std::fs::write(root.path().join("usr/lib/libx.so"), b"abcdef").unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        let tree = HostTree::new(root.path());

        assert_eq!(
            tree.kind(Path::new("/lib")),
            Some(NodeKind::Symlink {
                target: "usr/lib".into()
            })
        );
        assert_eq!(tree.kind(Path::new("/usr/lib")), Some(NodeKind::Dir));
        assert_eq!(
            tree.kind(Path::new("/usr/lib/libx.so")),
            Some(NodeKind::File { size: 6 })
        );
        assert_eq!(
            tree.kind(Path::new("/lib/libx.so")),
            None,
            "parent /lib is a symlink"
        );
        assert!(tree.read(Path::new("/lib/libx.so"), 10).is_err());
        assert_eq!(tree.read(Path::new("/usr/lib/libx.so"), 3).unwrap(), b"abc");
        assert_eq!(
            tree.list(Path::new("/")),
            vec![PathBuf::from("/lib"), PathBuf::from("/usr")]
        );
        assert!(tree.list(Path::new("/lib")).is_empty());
    }
}

#[cfg(test)]
pub mod test_support {
    //! Image trees on disk for tests.

    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// Lays out Debian's merged-/usr under `root`: the host's real libc and
    /// loader in /usr/lib/x86_64-linux-gnu, `/lib` → `usr/lib`, `/lib64` →
    /// `usr/lib64`, and the absolute link
    /// `/usr/lib64/ld-linux-x86-64.so.2` → `/lib/x86_64-linux-gnu/…`.
    pub fn merged_usr_with_host_libc(root: &Path) {
        let at = |p: &str| root.join(p);
        std::fs::create_dir_all(at("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(at("usr/lib64")).unwrap();
        for lib in ["libc.so.6", "ld-linux-x86-64.so.2"] {
            let host = std::fs::canonicalize(Path::new("/lib/x86_64-linux-gnu").join(lib)).unwrap();
            std::fs::copy(host, at("usr/lib/x86_64-linux-gnu").join(lib)).unwrap();
        }
        symlink("usr/lib", at("lib")).unwrap();
        symlink("usr/lib64", at("lib64")).unwrap();
        symlink(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            at("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
    }
}
