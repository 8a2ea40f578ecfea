//! Path handling inside an image's tree: lexical normalisation, and a
//! chroot-like walk that follows symlinks the way the kernel would if the
//! image root were `/`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::tree::FsTree;
use crate::image::node::NodeKind;

/// The kernel's limit on symlinks followed while resolving one path (ELOOP).
const MAX_SYMLINKS: usize = 40;

/// Where a path ends up, and every symlink crossed on the way there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The real path: no component of it is a symlink.
    pub path: PathBuf,
    /// The symlinks followed, in order, without duplicates. Keeping them in a
    /// slim image keeps every name that worked in the original working.
    pub symlinks: Vec<PathBuf>,
}

/// Makes `path` absolute and removes `.`, `..` and duplicate slashes without
/// looking at the filesystem. `..` at the root stays at the root.
pub fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => normal.push(name),
            Component::ParentDir => {
                normal.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    normal
}

/// Resolves `path` (taken relative to the image root) following symlinks in
/// every component: absolute targets start again at the image root, relative
/// ones at the link's directory. `None` when something on the way is missing,
/// not a directory, or the walk loops.
pub fn resolve(tree: &dyn FsTree, path: &Path) -> Option<Resolved> {
    let mut pending: VecDeque<OsString> = names_of(path).collect();
    // Invariant: `real` never contains a symlink, so `..` can pop it lexically.
    let mut real = PathBuf::from("/");
    let mut symlinks: Vec<PathBuf> = Vec::new();
    let mut followed = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            real.pop();
            continue;
        }
        let candidate = real.join(&name);
        match tree.kind_unsized(&candidate)? {
            NodeKind::Symlink { target } => {
                followed += 1;
                if followed > MAX_SYMLINKS || target.as_os_str().is_empty() {
                    return None;
                }
                if !symlinks.contains(&candidate) {
                    symlinks.push(candidate);
                }
                if target.is_absolute() {
                    real = PathBuf::from("/");
                }
                for name in names_of(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(name);
                }
            }
            NodeKind::Dir => real = candidate,
            // Only the last component may be something other than a directory.
            _ if pending.is_empty() => real = candidate,
            _ => return None,
        }
    }
    Some(Resolved {
        path: real,
        symlinks,
    })
}

/// The names of `path` with `.` and the root dropped; `..` is kept because
/// only the walk knows what it refers to.
fn names_of(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|component| match component {
        Component::Normal(name) => Some(name.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::test_support::merged_usr_with_host_libc;
    use crate::resolve::tree::HostTree;
    use std::os::unix::fs::symlink;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("//usr/./lib//x/../y/")),
            PathBuf::from("/usr/lib/y")
        );
        assert_eq!(normalize(Path::new("/../../etc")), PathBuf::from("/etc"));
        assert_eq!(normalize(Path::new("bin/sh")), PathBuf::from("/bin/sh"));
        assert_eq!(normalize(Path::new("/")), PathBuf::from("/"));
    }

    /// A merged-/usr layout like Debian's, with absolute and relative links.
    fn merged_usr_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let at = |p: &str| root.path().join(p);
        merged_usr_with_host_libc(root.path());
        symlink("loop-b", at("loop-a")).unwrap();
        symlink("loop-a", at("loop-b")).unwrap();
        symlink(
            "/../../usr/./lib/x86_64-linux-gnu/../x86_64-linux-gnu",
            at("multiarch"),
        )
        .unwrap();
        root
    }

    #[test]
    fn resolve_follows_links_in_every_component_inside_the_root() {
        let root = merged_usr_root();
        let tree = HostTree::new(root.path());
        let resolved = resolve(&tree, Path::new("/lib64/ld-linux-x86-64.so.2")).unwrap();
        assert_eq!(
            resolved.path,
            PathBuf::from("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        let expected: Vec<PathBuf> = ["/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/lib"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(resolved.symlinks, expected);

        // `..` above the image root stays at the root, as in a chroot.
        let resolved = resolve(&tree, Path::new("/multiarch/ld-linux-x86-64.so.2")).unwrap();
        assert_eq!(
            resolved.path,
            PathBuf::from("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        assert_eq!(resolved.symlinks, vec![PathBuf::from("/multiarch")]);
    }

    #[test]
    fn resolve_fails_on_loops_missing_files_and_files_used_as_dirs() {
        let root = merged_usr_root();
        let tree = HostTree::new(root.path());
        assert_eq!(resolve(&tree, Path::new("/loop-a")), None);
        assert_eq!(resolve(&tree, Path::new("/lib/missing.so")), None);
        assert_eq!(
            resolve(
                &tree,
                Path::new("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2/x")
            ),
            None
        );
        let plain = resolve(&tree, Path::new("/usr/lib")).unwrap();
        assert_eq!(
            plain,
            Resolved {
                path: "/usr/lib".into(),
                symlinks: vec![]
            }
        );
    }
}
