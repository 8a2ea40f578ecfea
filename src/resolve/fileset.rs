//! The kept file set: what the sensor saw, closed over what those files need
//! (ELF libraries, `#!` interpreters, symlinks, parent directories), plus the
//! few paths every image keeps. Pure over an [`FsTree`]: no Docker, no I/O
//! beyond reading the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::appfiles::{find_app_files, AppFilesMode};
use super::closure::{LibraryResolver, Missing};
use super::includes::{wanted, Exclusion, Includes};
use super::keep_packages::{existing_paths, whole_packages, KeepMode, Whole};
use super::package_use::{package_counts, PackageUse};
use super::packages::{DbFormat, PackageDb};
use super::pathwalk::{normalize, resolve, Resolved};
use super::rules::{RuleContext, RuntimeRule, Want};
use super::script::{script_interpreters, which, DEFAULT_PATH};
use super::statusd::{status_d, RELEASE_FILES};
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
    /// A file of a package kept whole (`--keep packages`, docs/packages.md).
    Package,
    /// What vulnerability scanners read: the `status.d` entries rslim writes
    /// for the kept packages, and the files naming the distribution.
    PackageMetadata,
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
    /// `--include-path` (and `--include-path-file`): paths or globs.
    pub include_paths: Vec<PathBuf>,
    /// `--include-bin`, `--include-exe`, `--include-certs`, `--include-zoneinfo`,
    /// `--include-locale` (docs in [`super::includes`]).
    pub include_bins: Vec<PathBuf>,
    pub include_exes: Vec<String>,
    pub include_certs: bool,
    pub include_zoneinfo: bool,
    pub include_locales: Vec<String>,
    /// `--exclude-pattern`: globs removed from the kept set after everything else.
    pub exclude_patterns: Vec<String>,
    pub app_files: AppFilesMode,
    /// `--keep`: what is observed, or whole packages ([`super::keep_packages`]).
    pub keep: KeepMode,
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

#[derive(Debug, Clone, Default)]
pub struct KeepSet {
    /// Every kept path (existing in the tree, or one of [`KeepSet::synthetic`])
    /// with its reason, sorted.
    pub paths: BTreeMap<PathBuf, Reason>,
    /// Files rslim writes that the original does not have, by path: the
    /// `status.d` entries of the kept packages ([`super::statusd`]).
    pub synthetic: BTreeMap<PathBuf, Vec<u8>>,
    /// Each package with a kept file: how much of it is kept.
    pub packages: Vec<PackageUse>,
    /// What `--exclude-pattern` removed, with the reason it had been kept for.
    pub excluded: Vec<(PathBuf, Reason)>,
    /// Libraries a kept program needs that the image does not have.
    pub missing_libraries: Vec<Missing>,
    /// Things the user should know (no shell in the image, missing interpreters).
    pub notes: Vec<String>,
    /// Where argv[0] of the image's command is in the image; `None` when the
    /// image lacks it (a slim image could not start: see [`entrypoint_path`]).
    pub entrypoint: Option<PathBuf>,
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

    let mut entrypoint_links = Vec::new();
    if let Some(found) = entrypoint_path(tree, run) {
        keep.entrypoint = Some(found.path.clone());
        entrypoint_links = found.symlinks.clone();
        add(&mut keep, Some(found), Reason::Entrypoint, &mut pending);
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
    let includes = Includes {
        paths: options.include_paths.clone(),
        bins: options.include_bins.clone(),
        exes: options.include_exes.clone(),
        shell: options.include_shell,
        certs: options.include_certs,
        zoneinfo: options.include_zoneinfo,
        locales: options.include_locales.clone(),
    };
    let included = wanted(tree, &includes, path_var);
    keep.notes.extend(included.notes);
    for (want, reason) in included.wants {
        keep_wanted(tree, &mut keep, want, reason, &mut pending);
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
    let mut whole = BTreeMap::new();
    // The command's name (`python3` → `python3.11`) belongs to a package too.
    let used: Vec<PathBuf> = touched.iter().chain(&entrypoint_links).cloned().collect();
    if options.keep == KeepMode::Packages {
        // What the kept files need counts as kept when dependencies are weighed.
        close_over_needs(
            tree,
            run,
            &libraries,
            &mut keep,
            std::mem::take(&mut pending),
        );
        whole = keep_whole_packages(tree, &packages, &used, &mut keep, &mut pending);
    }
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
        if batch.is_empty() && options.keep == KeepMode::Packages {
            // A dependency may own a file only the rules or their closures
            // found: it is kept whole too, and its files go through the rules.
            whole = keep_whole_packages(tree, &packages, &used, &mut keep, &mut pending);
            close_over_needs(
                tree,
                run,
                &libraries,
                &mut keep,
                std::mem::take(&mut pending),
            );
            batch = std::mem::take(&mut keep.fresh);
        }
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
    let special = keep_runtime_dirs_collect_special(tree, &mut keep);
    keep_fifos_note_devices(&special, &mut keep);
    keep_parents(&mut keep);
    let links = special.symlinks;
    while keep_symlinks_to_kept(tree, &links, &mut keep) {}
    keep_parents(&mut keep);
    keep_kernel_symlinks(tree, &links, &mut keep);
    if tree.kind(Path::new(TMP)).is_none() {
        // Written as a fresh 1777 directory: programs expect a writable /tmp.
        keep.paths.insert(PathBuf::from(TMP), Reason::Always);
    }
    let exclusion = match Exclusion::new(tree, &options.exclude_patterns) {
        Ok(exclusion) => Some(exclusion),
        Err(e) => {
            keep.notes
                .push(format!("--exclude-pattern {e}: nothing excluded"));
            None
        }
    };
    if let Some(exclusion) = exclusion.as_ref().filter(|e| !e.is_empty()) {
        exclude(tree, exclusion, &mut keep);
    }
    if packages.format == DbFormat::Dpkg {
        keep_package_metadata(tree, &packages, &whole, exclusion.as_ref(), &mut keep);
    }
    keep.fresh.clear();
    keep
}

/// `--keep packages`: every existing path of the packages
/// [`whole_packages`] picks; their symlinks keep their targets too.
fn keep_whole_packages(
    tree: &dyn FsTree,
    packages: &PackageDb,
    touched: &[PathBuf],
    keep: &mut KeepSet,
    pending: &mut Vec<PathBuf>,
) -> BTreeMap<usize, Whole> {
    let whole = whole_packages(tree, packages, touched, &|path| {
        keep.paths.contains_key(path)
    });
    for &index in whole.keys() {
        for path in existing_paths(tree, packages, index) {
            if matches!(tree.kind(path), Some(NodeKind::Symlink { .. })) {
                keep.add(path, Reason::Package);
            }
            keep_wanted(
                tree,
                keep,
                Want::Path(path.clone()),
                Reason::Package,
                pending,
            );
        }
    }
    whole
}

/// Removes what `--exclude-pattern` matches, whatever kept it, and says
/// which of those paths the app or a kept program needs.
fn exclude(tree: &dyn FsTree, exclusion: &Exclusion, keep: &mut KeepSet) {
    let removed: Vec<(PathBuf, Reason)> = keep
        .paths
        .iter()
        .filter(|(path, _)| exclusion.excludes(path))
        .map(|(path, reason)| (path.clone(), *reason))
        .collect();
    let mut bytes = 0;
    let mut needed = Vec::new();
    for (path, reason) in &removed {
        keep.paths.remove(path);
        if let Some(NodeKind::File { size }) = tree.kind(path) {
            bytes += size;
        }
        if matches!(
            reason,
            Reason::Entrypoint
                | Reason::Executed
                | Reason::Accessed
                | Reason::LookedUp
                | Reason::ElfDependency
                | Reason::Interpreter
        ) {
            needed.push(format!("{} ({})", path.display(), reason_name(*reason)));
        }
    }
    if removed.is_empty() {
        keep.notes
            .push("--exclude-pattern: no kept path matched, nothing was removed".into());
    } else {
        keep.notes.push(format!(
            "--exclude-pattern removed {} kept path(s), {:.1} MB",
            removed.len(),
            bytes as f64 / 1e6
        ));
    }
    if !needed.is_empty() {
        let shown = needed.len().min(DEVICES_NAMED);
        let more = match needed.len() - shown {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        keep.notes.push(format!(
            "--exclude-pattern removed what the app used or a kept program needs, so the slim \
             image may fail where the original worked: {}{more}",
            needed[..shown].join(", ")
        ));
    }
    keep.excluded = removed;
}

/// The report's name of a reason (`elf-dependency`).
fn reason_name(reason: Reason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The files scanners name the distribution by, then one `status.d` entry
/// per package with a kept file (docs/packages.md, "Scanners").
fn keep_package_metadata(
    tree: &dyn FsTree,
    packages: &PackageDb,
    whole: &BTreeMap<usize, Whole>,
    exclusion: Option<&Exclusion>,
    keep: &mut KeepSet,
) {
    let excluded = |path: &Path| exclusion.is_some_and(|e| e.excludes(path));
    for file in RELEASE_FILES {
        if let Some(found) = resolve(tree, Path::new(file)) {
            if !excluded(Path::new(file)) && !excluded(&found.path) {
                if found.symlinks.iter().any(|link| link == Path::new(file)) {
                    keep.add(Path::new(file), Reason::PackageMetadata);
                }
                keep.add_resolved(&found, Reason::PackageMetadata);
            }
        }
    }
    keep.packages = package_counts(tree, packages, &keep.paths, whole);
    let indices: Vec<usize> = keep.packages.iter().map(|row| row.index).collect();
    let mut synthetic = status_d(tree, packages, &indices, &keep.paths);
    synthetic.retain(|path, _| !excluded(path));
    for path in synthetic.keys() {
        keep.paths.insert(path.clone(), Reason::PackageMetadata);
    }
    keep.synthetic = synthetic;
    keep_parents(keep);
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
/// The most of a file's start that resolution reads to tell what it is:
/// the ELF identity (20 bytes) or a script's `#!` line (up to 256).
const HEAD_BYTES: u64 = 256;

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
        // Each file's head (ELF identity, `#!` line) at once, not a round trip each.
        tree.prefetch(&batch, HEAD_BYTES);
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
/// One walk of the tree finds them and the [`Special`] entries both: on a
/// 55k-path image the two walks by listing were most of resolution.
fn keep_runtime_dirs_collect_special(tree: &dyn FsTree, keep: &mut KeepSet) -> Special {
    let mut special = Special::default();
    // The directories the walk is in, each with whether a regular file
    // was found below it so far.
    let mut open: Vec<(PathBuf, bool)> = vec![(PathBuf::from("/"), false)];
    let close = |open: &mut Vec<(PathBuf, bool)>, keep: &mut KeepSet| {
        let (dir, holds_files) = open.pop().expect("the root is closed last");
        if !holds_files {
            keep.add(&dir, Reason::RuntimeDir);
        }
        if let Some(parent) = open.last_mut() {
            parent.1 |= holds_files;
        }
    };
    tree.walk(Path::new("/"), &mut |path, kind| {
        while open.len() > 1 && path.parent() != Some(open[open.len() - 1].0.as_path()) {
            close(&mut open, keep);
        }
        let path = path.to_path_buf();
        match kind {
            NodeKind::Dir => open.push((path, false)),
            NodeKind::File { .. } => open.last_mut().expect("the root is open").1 = true,
            NodeKind::Symlink { .. } => special.symlinks.push(path),
            NodeKind::Fifo => special.fifos.push(path),
            NodeKind::CharDevice { major, minor } => special
                .devices
                .push((path, format!("char {major}:{minor}"))),
            NodeKind::BlockDevice { major, minor } => special
                .devices
                .push((path, format!("block {major}:{minor}"))),
        }
    });
    while !open.is_empty() {
        close(&mut open, keep);
    }
    special
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

/// Where argv[0] of the image's command is, found as the runtime finds it:
/// a name with a `/` as a path (relative ones from the WORKDIR), any other
/// name in the image's PATH.
pub fn entrypoint_path(tree: &dyn FsTree, run: &RunConfig) -> Option<Resolved> {
    let program = run.argv().into_iter().next()?;
    let path_var = run.env_var("PATH").unwrap_or(DEFAULT_PATH);
    let workdir = run.working_dir.as_deref().filter(|w| !w.is_empty());
    let named = match Path::new(&program) {
        relative if program.contains('/') && relative.is_relative() => {
            Path::new(workdir.unwrap_or("/")).join(relative)
        }
        _ => PathBuf::from(&program),
    };
    which(tree, named.as_os_str(), path_var)
}

/// What the tree walk finds besides directories and files.
#[derive(Default)]
struct Special {
    symlinks: Vec<PathBuf>,
    fifos: Vec<PathBuf>,
    devices: Vec<(PathBuf, String)>,
}

/// Device nodes named in the note before "and N more".
const DEVICES_NAMED: usize = 5;

/// The kernel reports no open of a fifo or a device node to fanotify
/// (measured on 6.18), so the sensor cannot see them used. Named pipes cost
/// a header each and an app that opens one blocks or fails without it:
/// every one is kept. Device nodes are not (a slim image should not carry
/// more device access than the app needs, and the engine mounts its own
/// `/dev`); those outside `/dev` are named in a note.
fn keep_fifos_note_devices(special: &Special, keep: &mut KeepSet) {
    for fifo in &special.fifos {
        keep.add(fifo, Reason::Always);
    }
    let dropped: Vec<String> = special
        .devices
        .iter()
        .filter(|(path, _)| !path.starts_with("/dev") && !keep.paths.contains_key(path))
        .map(|(path, kind)| format!("{} ({kind})", path.display()))
        .collect();
    if dropped.is_empty() {
        return;
    }
    let mut named = dropped[..dropped.len().min(DEVICES_NAMED)].join(", ");
    if dropped.len() > DEVICES_NAMED {
        named += &format!(" and {} more", dropped.len() - DEVICES_NAMED);
    }
    keep.notes.push(format!(
        "the image has device nodes outside /dev, which the sensor cannot see opened and \
         the slim image does not keep: {named}; keep one with --include-path"
    ));
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
mod controls_tests;
#[cfg(test)]
mod tests;
