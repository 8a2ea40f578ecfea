//! The kept file set: what the sensor saw, closed over what those files need
//! (ELF libraries, `#!` interpreters, symlinks, parent directories), plus the
//! few paths every image keeps. Pure over an [`FsTree`]: no Docker, no I/O
//! beyond reading the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::closure::{LibraryResolver, Missing};
use super::pathwalk::{normalize, resolve, Resolved};
use super::runtime;
use super::script::{script_interpreters, which, DEFAULT_PATH};
use super::tree::FsTree;
use crate::image::config::RunConfig;
use crate::image::node::NodeKind;

/// Why a path is in the slim image. The first reason found is the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The entrypoint program (argv[0]) itself.
    Entrypoint,
    /// Opened by the app while profiling.
    Accessed,
    /// Executed by the app while profiling.
    Executed,
    /// A directory the app opened (listed).
    Listed,
    /// A shared library or ELF interpreter a kept program needs.
    ElfDependency,
    /// The `#!` interpreter of a kept script.
    Interpreter,
    /// A symlink on the way to a kept path.
    Symlink,
    /// A directory above a kept path.
    Parent,
    /// Kept in every image: /etc/passwd, /etc/group, /tmp, the workdir, volumes.
    Always,
    /// Needed by a language runtime without being opened (a `.pyc`'s `.py`).
    Runtime,
    /// A directory with no files below it, kept for the app to write in.
    RuntimeDir,
    /// Asked for with --include-path.
    Include,
    /// Part of the debug shell (--include-shell).
    Shell,
    /// Looked up (stat, access, readlink) while profiling but never opened.
    LookedUp,
    /// A file no package owns, beside the app's own files (docs/app-files.md).
    AppFile,
    /// Python's static import closure (docs/runtime-rules.md, like the rest below).
    Python,
    /// Node's `require`/`import` closure.
    Node,
    /// What a kept JVM loads from its home.
    Jvm,
    /// What a kept Go program reads at run time (time zones, CA certificates).
    Go,
    /// glibc's NSS and gconv modules and locales.
    Glibc,
    /// CA certificates and OpenSSL configuration for a kept TLS library.
    Tls,
    /// A data set kept whole because one of its files is used (zoneinfo, gconv, CA directory).
    DataSet,
    /// Perl's `use`/`require` closure.
    Perl,
}

/// What the sensor recorded, as paths inside the container.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    pub executed: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct KeepOptions {
    pub include_shell: bool,
    pub include_paths: Vec<PathBuf>,
}

const TMP: &str = "/tmp";

/// Paths every slim image gets when the original has them.
pub const ALWAYS_KEPT: &[&str] = &["/etc/passwd", "/etc/group", "/tmp"];

/// The tools `--include-shell` keeps beside `sh`, when the image has them.
pub const SHELL_TOOLS: &[&str] = &[
    "sh", "bash", "ls", "cat", "env", "id", "ps", "grep", "mkdir", "rm", "cp", "mv", "head",
    "tail", "chmod", "chown", "find", "du", "df", "less", "vi",
];

#[derive(Debug, Clone, Default)]
pub struct KeepSet {
    /// Every kept path (existing in the tree) with its reason, sorted.
    pub paths: BTreeMap<PathBuf, Reason>,
    /// Libraries a kept program needs that the image does not have.
    pub missing_libraries: Vec<Missing>,
    /// Things the user should know (no shell in the image, missing interpreters).
    pub notes: Vec<String>,
}

impl KeepSet {
    fn add(&mut self, path: &Path, reason: Reason) -> bool {
        if path == Path::new("/") || self.paths.contains_key(path) {
            return false;
        }
        self.paths.insert(path.to_path_buf(), reason);
        true
    }

    fn add_resolved(&mut self, found: &Resolved, reason: Reason) -> bool {
        for link in &found.symlinks {
            self.add(link, Reason::Symlink);
        }
        self.add(&found.path, reason)
    }
}

pub fn keep_set(
    tree: &dyn FsTree,
    observed: &Observed,
    run: &RunConfig,
    options: &KeepOptions,
) -> KeepSet {
    let mut keep = KeepSet::default();
    let path_var = run.env_var("PATH").unwrap_or(DEFAULT_PATH);
    // Files whose own needs (libraries, interpreters) are still to be looked at.
    let mut pending: Vec<PathBuf> = Vec::new();
    let add = |keep: &mut KeepSet,
               found: Option<Resolved>,
               reason: Reason,
               pending: &mut Vec<PathBuf>| {
        if let Some(found) = found {
            if keep.add_resolved(&found, reason) && is_file(tree, &found.path) {
                pending.push(found.path);
            }
        }
    };

    if let Some(program) = run.argv().first() {
        add(
            &mut keep,
            which(tree, OsStr::new(program), path_var),
            Reason::Entrypoint,
            &mut pending,
        );
    }
    for (paths, reason) in [
        (&observed.executed, Reason::Executed),
        (&observed.files, Reason::Accessed),
    ] {
        for path in paths {
            add(
                &mut keep,
                resolve(tree, &normalize(path)),
                reason,
                &mut pending,
            );
        }
    }
    for dir in &observed.dirs {
        add(
            &mut keep,
            resolve(tree, &normalize(dir)),
            Reason::Listed,
            &mut pending,
        );
    }
    let workdir = run.working_dir.iter().filter(|w| !w.is_empty()).cloned();
    for path in ALWAYS_KEPT
        .iter()
        .map(|p| p.to_string())
        .chain(workdir)
        .chain(run.volume_paths())
    {
        add(
            &mut keep,
            resolve(tree, &normalize(Path::new(&path))),
            Reason::Always,
            &mut pending,
        );
    }
    for include in &options.include_paths {
        let Some(found) = resolve(tree, &normalize(include)) else {
            keep.notes.push(format!(
                "--include-path {} is not in the image",
                include.display()
            ));
            continue;
        };
        for path in subtree(tree, &found.path) {
            add(
                &mut keep,
                resolve(tree, &path),
                Reason::Include,
                &mut pending,
            );
        }
        add(&mut keep, Some(found), Reason::Include, &mut pending);
    }
    if options.include_shell {
        match which(tree, OsStr::new("sh"), path_var) {
            None => keep.notes.push(
                "the image has no shell (no sh in its PATH): --include-shell kept nothing".into(),
            ),
            Some(_) => {
                for tool in SHELL_TOOLS {
                    add(
                        &mut keep,
                        which(tree, OsStr::new(tool), path_var),
                        Reason::Shell,
                        &mut pending,
                    );
                }
            }
        }
    }

    close_over_needs(tree, run, &mut keep, pending);
    keep_runtime_companions(tree, &mut keep);
    // Parents first: a symlink to a directory kept only as a parent
    // (/usr/share/nginx/modules → /usr/lib/nginx/modules) is a way in too.
    keep_parents(&mut keep);
    // One walk of the tree finds the symlinks both rules below look at.
    let mut links = Vec::new();
    collect_symlinks(tree, Path::new("/"), &mut links);
    keep_symlinks_to_kept(tree, &links, &mut keep);
    keep_runtime_dirs(tree, Path::new("/"), &mut keep);
    keep_parents(&mut keep);
    keep_kernel_symlinks(tree, &links, &mut keep);
    if tree.kind(Path::new(TMP)).is_none() {
        // Written as a fresh 1777 directory: programs expect a writable /tmp.
        keep.paths.insert(PathBuf::from(TMP), Reason::Always);
    }
    keep
}

/// Adds what each kept file needs to run, until nothing new turns up:
/// libraries can be scripts' interpreters' libraries, and so on.
fn close_over_needs(
    tree: &dyn FsTree,
    run: &RunConfig,
    keep: &mut KeepSet,
    mut pending: Vec<PathBuf>,
) {
    let libraries = LibraryResolver::new(tree, run.env_var("LD_LIBRARY_PATH"));
    let path_var = run.env_var("PATH");
    let mut missing_interpreters = BTreeSet::new();
    while !pending.is_empty() {
        let batch = std::mem::take(&mut pending);
        let closure = libraries.closure(&batch);
        for dependency in closure.files {
            let found = Resolved {
                path: dependency.path,
                symlinks: dependency.symlinks,
            };
            if keep.add_resolved(&found, Reason::ElfDependency) {
                pending.push(found.path);
            }
        }
        keep.missing_libraries.extend(closure.missing);
        for script in &batch {
            let interpreters = script_interpreters(tree, script, path_var);
            for found in interpreters.found {
                if keep.add_resolved(&found, Reason::Interpreter) && is_file(tree, &found.path) {
                    pending.push(found.path);
                }
            }
            missing_interpreters.extend(interpreters.missing);
        }
    }
    for missing in missing_interpreters {
        keep.notes.push(format!(
            "a kept script names {}, which the image lacks",
            missing.display()
        ));
    }
    keep.missing_libraries
        .sort_by(|a, b| (&a.soname, &a.needed_by).cmp(&(&b.soname, &b.needed_by)));
    keep.missing_libraries.dedup();
}

/// Files a language runtime needs without opening them (see [`runtime`]).
fn keep_runtime_companions(tree: &dyn FsTree, keep: &mut KeepSet) {
    let wanted: Vec<PathBuf> = keep
        .paths
        .keys()
        .flat_map(|p| runtime::companions(p))
        .collect();
    for path in wanted {
        if let Some(found) = resolve(tree, &path) {
            keep.add_resolved(&found, Reason::Runtime);
        }
    }
}

/// Every symlink in the image that leads to a kept path is kept too: the app
/// may have reached its files through it (`/bin` → `usr/bin`, `sh` → `dash`),
/// and the sensor only sees the real path. Symlinks cost a few bytes.
fn keep_symlinks_to_kept(tree: &dyn FsTree, links: &[PathBuf], keep: &mut KeepSet) {
    for link in links {
        if let Some(found) = resolve(tree, link) {
            if keep.paths.contains_key(&found.path) {
                keep.add_resolved(&found, Reason::Symlink);
                keep.add(link, Reason::Symlink);
            }
        }
    }
}

/// Directories with no regular file anywhere below them are kept (without
/// what is in them): they exist for the app to create files in at run time
/// (/var/lib/nginx, /run/lock), and mkdir or stat raise no fanotify open
/// event, so the sensor cannot see them used. They cost a tar header each.
/// Returns whether `dir` holds a regular file somewhere below.
fn keep_runtime_dirs(tree: &dyn FsTree, dir: &Path, keep: &mut KeepSet) -> bool {
    let mut holds_files = false;
    for entry in tree.list(dir) {
        holds_files |= match tree.kind(&entry) {
            Some(NodeKind::Dir) => keep_runtime_dirs(tree, &entry, keep),
            Some(NodeKind::File { .. }) => true,
            _ => false,
        };
    }
    if !holds_files {
        keep.add(dir, Reason::RuntimeDir);
    }
    holds_files
}

/// Symlinks into /dev, /proc or /sys (`access.log` → `/dev/stdout`) cannot
/// resolve inside the image, and the sensor does not watch those
/// filesystems; they are kept whenever their directory is.
fn keep_kernel_symlinks(tree: &dyn FsTree, links: &[PathBuf], keep: &mut KeepSet) {
    for link in links {
        let Some(NodeKind::Symlink { target }) = tree.kind(link) else {
            continue;
        };
        let parent = link.parent().unwrap_or(Path::new("/"));
        let absolute = normalize(&parent.join(target));
        let into_kernel = ["/dev", "/proc", "/sys"]
            .iter()
            .any(|fs| absolute.starts_with(fs));
        if into_kernel && (parent == Path::new("/") || keep.paths.contains_key(parent)) {
            keep.add(link, Reason::Symlink);
        }
    }
}

fn collect_symlinks(tree: &dyn FsTree, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in tree.list(dir) {
        match tree.kind(&entry) {
            Some(NodeKind::Symlink { .. }) => out.push(entry),
            Some(NodeKind::Dir) => collect_symlinks(tree, &entry, out),
            _ => {}
        }
    }
}

fn keep_parents(keep: &mut KeepSet) {
    let parents: BTreeSet<PathBuf> = keep
        .paths
        .keys()
        .flat_map(|p| p.ancestors().skip(1).map(Path::to_path_buf))
        .collect();
    for parent in parents {
        keep.add(&parent, Reason::Parent);
    }
}

/// `dir` and everything below it, not following symlinks.
fn subtree(tree: &dyn FsTree, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if tree.kind(dir) == Some(NodeKind::Dir) {
        for entry in tree.list(dir) {
            out.push(entry.clone());
            out.extend(subtree(tree, &entry));
        }
    }
    out
}

fn is_file(tree: &dyn FsTree, path: &Path) -> bool {
    matches!(tree.kind(path), Some(NodeKind::File { .. }))
}

#[cfg(test)]
mod tests;
