//! Runtime rules: what a kept program will load later that profiling did not
//! see it load (a module imported in a handler that never ran, a time zone
//! looked up on request, a library the JVM dlopens). Each rule lives in its
//! own file under `src/resolve/`, fires only when its runtime is kept, can be
//! turned off by name (`--no-runtime-rule NAME`), and is documented with its
//! reason in docs/runtime-rules.md.
//!
//! [`super::fileset::keep_set`] runs every enabled rule on each batch of newly
//! kept paths, together with the ELF and `#!` closure, until a round adds
//! nothing: a Python extension module found by the import closure needs its
//! shared libraries, a JVM's native library needs its own, and so on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::closure::LibraryResolver;
use super::elf::ElfInfo;
use super::fileset::Reason;
use super::packages::PackageDb;
use super::tree::FsTree;
use crate::image::config::RunConfig;

/// What a rule asks to keep.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    /// One path (absolute, as the program would name it; symlinks on the way
    /// are resolved and kept by the caller). A directory is kept without
    /// its contents.
    Path(PathBuf),
    /// A directory and everything below it (symlinks inside are kept as
    /// links, and their targets are kept too).
    Tree(PathBuf),
}

/// What every rule may look at. Everything is read-only: rules only propose.
pub struct RuleContext<'a> {
    pub tree: &'a dyn FsTree,
    /// The image's config: ENV (PATH, PYTHONPATH, NODE_PATH, LANG, …), WORKDIR, USER.
    pub run: &'a RunConfig,
    /// The image's package database (empty for images without one).
    pub packages: &'a PackageDb,
    /// Parsed ELF files, shared with the library closure so each file is parsed once.
    pub libraries: &'a LibraryResolver<'a>,
    /// Real paths the app was seen to open, run, list or look up while
    /// profiled (not what rules or closures added): a data set is kept whole
    /// only when the app itself used one of its files.
    pub observed: &'a BTreeSet<PathBuf>,
}

impl RuleContext<'_> {
    /// The dynamic-loading facts of the ELF file at real path `path`
    /// (including its imported symbols), `None` for anything else.
    pub fn elf(&self, path: &Path) -> Option<std::rc::Rc<ElfInfo>> {
        self.libraries.info(path)
    }
}

pub trait RuntimeRule {
    /// The name users turn the rule off with and the report shows: `python`, `node`, ….
    fn name(&self) -> &'static str;

    /// The reason paths this rule keeps get in the report.
    fn reason(&self) -> Reason;

    /// Called with each batch of newly kept paths (real paths: no symlink in
    /// them; files, directories and symlinks alike), in sorted order, until a
    /// round adds nothing. Returns what else to keep because of them. A rule
    /// may keep state between calls (what it has already looked at), and must
    /// be deterministic: the same tree and batches give the same answer.
    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want>;

    /// What the user should know once the rounds are over (what a cap left out).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
pub mod test_support {
    //! A [`RuleContext`] over a directory tree, for the rules' tests.

    use super::*;
    use crate::resolve::tree::HostTree;

    pub struct Fixture {
        pub tree: &'static HostTree,
        pub run: RunConfig,
        pub packages: PackageDb,
        pub libraries: LibraryResolver<'static>,
        /// What the app was seen to use (empty unless a test sets it).
        pub observed: BTreeSet<PathBuf>,
    }

    impl Fixture {
        pub fn context(&self) -> RuleContext<'_> {
            RuleContext {
                tree: self.tree,
                run: &self.run,
                packages: &self.packages,
                libraries: &self.libraries,
                observed: &self.observed,
            }
        }
    }

    /// A context over `root` with the image ENV `env` (`NAME=value` entries).
    pub fn context_with_env(root: &Path, env: &[&str]) -> Fixture {
        // Leaked so the resolver can borrow it for the fixture's lifetime; tests only.
        let tree: &'static HostTree = Box::leak(Box::new(HostTree::new(root)));
        let run = RunConfig {
            env: Some(env.iter().map(|e| e.to_string()).collect()),
            ..RunConfig::default()
        };
        Fixture {
            tree,
            libraries: LibraryResolver::new(tree, run.env_var("LD_LIBRARY_PATH")),
            packages: PackageDb::load(tree),
            run,
            observed: BTreeSet::new(),
        }
    }

    pub fn context_for(root: &Path) -> Fixture {
        context_with_env(root, &[])
    }

    /// Creates the file `path` (tree path) under `root`, with its directories.
    pub fn touch(root: &Path, path: &str) {
        write(root, path, "x");
    }

    pub fn write(root: &Path, path: &str, text: &str) {
        let at = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }
}
