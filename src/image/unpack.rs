//! Where Docker's unpacker puts an entry whose name passes through a symlink
//! that an earlier entry of the same layer made.
//!
//! Docker applies a layer by extracting it into that layer's own directory
//! (overlay2's `diff/`), chrooted there (`chrootarchive.ApplyLayer`), with
//! plain `open`, `mkdir`, `link`: the kernel follows symlinks in every
//! directory of a name. The directory holds only this layer's entries, so
//! only symlinks this layer made before can redirect a name; a symlink from
//! a layer below is not there (the name's directory is created instead, and
//! then hides the symlink). Targets resolve inside the chroot: an absolute
//! target starts at the layer's root and `..` stops there.
//!
//! So a layer `etc/`, `link -> /etc`, `link/passwd` writes `/etc/passwd`,
//! and a layer `up -> ../../..`, `up/passwd` writes `/passwd`. Names are
//! first cleaned lexically (`a/../b` is `b`), as Go's `filepath.Join` does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use super::verify::invalid_io;

/// Symlinks followed for one name before it is a loop (the kernel's limit).
const MAX_HOPS: usize = 40;

/// The symlinks of one layer's directory as its entries are applied in order.
#[derive(Default)]
pub struct LayerPaths {
    /// Ordered by component, so a directory's links are one range.
    links: BTreeMap<PathBuf, PathBuf>,
}

impl LayerPaths {
    /// Where the directory `dir` (absolute, normalised) of an entry's name
    /// really is, following this layer's symlinks all the way.
    pub fn directory(&self, dir: &Path) -> std::io::Result<PathBuf> {
        if self.links.is_empty() || !dir.ancestors().any(|a| self.links.contains_key(a)) {
            return Ok(dir.to_path_buf());
        }
        self.resolve(dir)
    }

    /// Where the entry named `path` lands: its directory resolved, its own
    /// name kept (the unpacker never follows a final symlink).
    pub fn entry(&self, path: &Path) -> std::io::Result<PathBuf> {
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => Ok(self.directory(parent)?.join(name)),
            _ => Ok(path.to_path_buf()),
        }
    }

    /// Records what now stands at `path`: a symlink (`Some(target)`) or
    /// anything else. Whatever was at `path`, and below it unless a
    /// directory was merged into a directory, is gone.
    pub fn placed(&mut self, path: &Path, symlink: Option<&Path>, directory: bool) {
        if !self.links.is_empty() {
            self.links.remove(path);
            if !directory {
                let below: Vec<PathBuf> = self
                    .links
                    .range::<Path, _>((Bound::Excluded(path), Bound::Unbounded))
                    .take_while(|(link, _)| link.starts_with(path))
                    .map(|(link, _)| link.clone())
                    .collect();
                for link in below {
                    self.links.remove(&link);
                }
            }
        }
        if let Some(target) = symlink {
            self.links.insert(path.to_path_buf(), target.to_path_buf());
        }
    }

    fn resolve(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let mut resolved = PathBuf::from("/");
        // Components still to walk, last one first.
        let mut pending: Vec<OsString> = components(dir);
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                resolved.pop();
                continue;
            }
            let next = resolved.join(&name);
            match self.links.get(&next) {
                Some(target) => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(invalid_io(format!(
                            "{:?} passes through too many symlinks of its own layer",
                            dir.display()
                        )));
                    }
                    if target.is_absolute() {
                        resolved = PathBuf::from("/");
                    }
                    pending.extend(components(target));
                }
                None => resolved = next,
            }
        }
        Ok(resolved)
    }
}

/// The components of `path` that name something, `..` kept, in reverse
/// order (so the first one pops first).
fn components(path: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    names.reverse();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(links: &[(&str, &str)]) -> LayerPaths {
        let mut paths = LayerPaths::default();
        for (link, target) in links {
            paths.placed(Path::new(link), Some(Path::new(target)), false);
        }
        paths
    }

    fn lands(paths: &LayerPaths, name: &str) -> PathBuf {
        paths.entry(Path::new(name)).unwrap()
    }

    #[test]
    fn names_without_symlinks_stay() {
        let paths = layer(&[("/bin", "usr/bin")]);
        assert_eq!(lands(&paths, "/usr/bin/env"), Path::new("/usr/bin/env"));
        assert_eq!(
            lands(&paths, "/bin"),
            Path::new("/bin"),
            "a final symlink is not followed"
        );
    }

    #[test]
    fn symlinked_directories_are_followed_inside_the_layer_root() {
        let paths = layer(&[
            ("/link", "/etc"),
            ("/rel", "usr/lib"),
            ("/usr/up", "../../../.."),
            ("/chain", "rel/x"),
        ]);
        assert_eq!(lands(&paths, "/link/passwd"), Path::new("/etc/passwd"));
        assert_eq!(lands(&paths, "/rel/libc.so"), Path::new("/usr/lib/libc.so"));
        assert_eq!(lands(&paths, "/usr/up/shadow"), Path::new("/shadow"));
        assert_eq!(lands(&paths, "/chain/y/z"), Path::new("/usr/lib/x/y/z"));
    }

    #[test]
    fn a_replaced_symlink_no_longer_redirects() {
        let mut paths = layer(&[("/link", "/etc"), ("/dir/inner", "/srv")]);
        paths.placed(Path::new("/link"), None, true);
        assert_eq!(lands(&paths, "/link/passwd"), Path::new("/link/passwd"));
        paths.placed(Path::new("/dir"), None, false);
        assert_eq!(lands(&paths, "/dir/inner/x"), Path::new("/dir/inner/x"));
    }

    #[test]
    fn loops_are_refused() {
        let paths = layer(&[("/a", "b"), ("/b", "a")]);
        let error = paths.entry(Path::new("/a/file")).unwrap_err();
        assert!(error.to_string().contains("too many symlinks"), "{error}");
    }
}
