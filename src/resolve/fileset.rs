//! The kept file set: what the sensor saw, closed over what those files need
//! (ELF libraries, `#!` interpreters, symlinks, parent directories), plus the
//! few paths every image keeps. Pure over an [`FsTree`]: no Docker, no I/O
//! beyond reading the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::appfiles::{find_app_files, AppFilesMode};
use super::closure::{LibraryResolver, Missing};
use super::packages::PackageDb;
use super::pathwalk::{normalize, resolve, Resolved};
use super::rules::{RuleContext, RuntimeRule, Want};
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
    /// Ruby's `require` closure, with the gems it uses.
    Ruby,
}

/// What the sensor recorded, as paths inside the container.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    pub executed: Vec<PathBuf>,
    /// Paths looked up (stat, access, readlink) without being opened; may not exist.
    pub looked_up: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct KeepOptions {
    pub include_shell: bool,
    pub include_paths: Vec<PathBuf>,
    pub app_files: AppFilesMode,
    /// Runtime rules turned off by name (see [`RULE_NAMES`]).
    pub disabled_rules: BTreeSet<String>,
}

/// Every runtime rule, in the order they run.
fn all_rules() -> Vec<Box<dyn RuntimeRule>> {
    vec![
        Box::new(super::python::PythonRule::default()),
        Box::new(super::node::NodeRule::default()),
        Box::new(super::perl::PerlRule::default()),
        Box::new(super::ruby::RubyRule::default()),
        Box::new(super::jvm::JvmRule::default()),
        Box::new(super::golang::GoRule::default()),
        Box::new(super::glibc::GlibcRule::default()),
        Box::new(super::tls::TlsRule::default()),
        Box::new(super::datasets::DataSetRule::default()),
    ]
}

/// The names `--no-runtime-rule` accepts.
pub fn rule_names() -> Vec<&'static str> {
    all_rules().iter().map(|rule| rule.name()).collect()
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
    /// Paths added since the runtime rules last looked.
    fresh: Vec<PathBuf>,
}

impl KeepSet {
    fn add(&mut self, path: &Path, reason: Reason) -> bool {
        if path == Path::new("/") || self.paths.contains_key(path) {
            return false;
        }
        self.paths.insert(path.to_path_buf(), reason);
        self.fresh.push(path.to_path_buf());
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
    for path in &observed.looked_up {
        add(
            &mut keep,
            resolve(tree, &normalize(path)),
            Reason::LookedUp,
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

    let packages = PackageDb::load(tree);
    let touched: Vec<PathBuf> = keep
        .paths
        .iter()
        .filter(|(_, reason)| {
            matches!(
                reason,
                Reason::Entrypoint
                    | Reason::Accessed
                    | Reason::Executed
                    | Reason::Listed
                    | Reason::LookedUp
            )
        })
        .map(|(path, _)| path.clone())
        .collect();
    let workdir = run
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .and_then(|w| resolve(tree, &normalize(Path::new(w))))
        .map(|found| found.path);
    let app_files = find_app_files(
        tree,
        &packages,
        &touched,
        workdir.as_deref(),
        options.app_files,
    );
    keep.notes.extend(app_files.notes);
    for path in app_files.paths {
        add(
            &mut keep,
            resolve(tree, &path),
            Reason::AppFile,
            &mut pending,
        );
        keep.add(&path, Reason::AppFile);
    }

    let libraries = LibraryResolver::new(tree, run.env_var("LD_LIBRARY_PATH"));
    let mut rules: Vec<Box<dyn RuntimeRule>> = all_rules()
        .into_iter()
        .filter(|rule| !options.disabled_rules.contains(rule.name()))
        .collect();
    let observed: BTreeSet<PathBuf> = touched.iter().cloned().collect();
    let context = RuleContext {
        tree,
        run,
        packages: &packages,
        libraries: &libraries,
        observed: &observed,
    };
    // Needs and rules alternate until a round adds nothing: an extension
    // module found by an import closure needs its libraries, and so on.
    loop {
        close_over_needs(
            tree,
            run,
            &libraries,
            &mut keep,
            std::mem::take(&mut pending),
        );
        let mut batch = std::mem::take(&mut keep.fresh);
        if batch.is_empty() {
            break;
        }
        batch.sort();
        batch.dedup();
        for rule in &mut rules {
            let reason = rule.reason();
            for want in rule.expand(&context, &batch) {
                keep_wanted(tree, &mut keep, want, reason, &mut pending);
            }
        }
    }
    keep.notes
        .extend(rules.iter().flat_map(|rule| rule.notes()));
    keep.fresh.clear();
    // Last, once everything else is in: directories for the app to write in,
    // the parents of everything, then every symlink that leads to a kept path
    // (including /var/run → /run, whose target the runtime-dir rule may only
    // just have added), and their parents.
    keep_runtime_dirs(tree, Path::new("/"), &mut keep);
    keep_parents(&mut keep);
    let mut links = Vec::new();
    collect_symlinks(tree, Path::new("/"), &mut links);
    while keep_symlinks_to_kept(tree, &links, &mut keep) {}
    keep_parents(&mut keep);
    keep_kernel_symlinks(tree, &links, &mut keep);
    if tree.kind(Path::new(TMP)).is_none() {
        // Written as a fresh 1777 directory: programs expect a writable /tmp.
        keep.paths.insert(PathBuf::from(TMP), Reason::Always);
    }
    keep.fresh.clear();
    keep
}

/// Keeps what a runtime rule asked for: the path (with the symlinks on the
/// way), or a whole directory, whose symlinks keep their targets too.
fn keep_wanted(
    tree: &dyn FsTree,
    keep: &mut KeepSet,
    want: Want,
    reason: Reason,
    pending: &mut Vec<PathBuf>,
) {
    let mut add_one = |keep: &mut KeepSet, path: &Path| {
        if let Some(found) = resolve(tree, path) {
            if keep.add_resolved(&found, reason) && is_file(tree, &found.path) {
                pending.push(found.path);
            }
        }
    };
    match want {
        Want::Path(path) => add_one(keep, &normalize(&path)),
        Want::Tree(dir) => {
            let dir = normalize(&dir);
            let Some(found) = resolve(tree, &dir) else {
                return;
            };
            add_one(keep, &dir);
            for entry in subtree(tree, &found.path) {
                if matches!(tree.kind(&entry), Some(NodeKind::Symlink { .. })) {
                    keep.add(&entry, reason);
                }
                add_one(keep, &entry);
            }
        }
    }
}

/// Adds what each kept file needs to run, until nothing new turns up:
/// libraries can be scripts' interpreters' libraries, and so on.
fn close_over_needs(
    tree: &dyn FsTree,
    run: &RunConfig,
    libraries: &LibraryResolver,
    keep: &mut KeepSet,
    mut pending: Vec<PathBuf>,
) {
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

/// Every symlink in the image that leads to a kept path is kept too: the app
/// may have reached its files through it (`/bin` → `usr/bin`, `sh` → `dash`),
/// and the sensor only sees the real path. Symlinks cost a few bytes.
/// Returns whether it kept anything new (a link to a link just kept is then
/// found by the next pass).
fn keep_symlinks_to_kept(tree: &dyn FsTree, links: &[PathBuf], keep: &mut KeepSet) -> bool {
    let mut added = false;
    for link in links {
        if keep.paths.contains_key(link) {
            continue;
        }
        if let Some(found) = resolve(tree, link) {
            if keep.paths.contains_key(&found.path) {
                keep.add_resolved(&found, Reason::Symlink);
                added |= keep.add(link, Reason::Symlink);
            }
        }
    }
    added
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
