//! Python's static import closure: when a slim image keeps a Python file, it
//! keeps the modules that file can import later, also on code paths that
//! profiling never ran (an `import hashlib` inside a request handler that
//! was never called).
//!
//! - Sources (`.py` files, and files whose `#!` line runs Python) are read
//!   without running anything: `import` and `from … import` statements at any
//!   depth, and `importlib.import_module`/`__import__` with a literal name
//!   (`imports`).
//! - Each name is looked up like CPython's path finder (`finder`) in every
//!   search root seen so far: the standard library dirs
//!   (`<prefix>/lib/pythonX.Y` and its `lib-dynload`) found from kept paths
//!   and interpreters, site dirs and the directories their `.pth` files
//!   list, `PYTHONPATH`, the working directory for `python -m`, the
//!   directory holding each read file's top-level package (a script's own
//!   directory: its `sys.path[0]`), and the importing file's own directory.
//!   Relative imports look in the importing file's package. Names found
//!   nowhere are fine: optional imports sit in `try` blocks, and builtin
//!   modules (`sys`, `posix`) have no file.
//! - The standard library is kept module by module. Third-party code (under
//!   `site-packages`/`dist-packages`) is kept a whole top-level package at a
//!   time with its distribution metadata, because packages load submodules
//!   and data files by computed names (plugins, templates, certifi's
//!   `cacert.pem`).
//! - With a standard library come the files CPython needs at start-up
//!   without always opening them (the `os.py` and `lib-dynload` landmarks
//!   that locate the prefix, `site` and its customisation hooks, the `.pth`
//!   files), the whole `encodings` package (codecs are looked up by name at
//!   run time), and the `_sysconfigdata` module `sysconfig` imports by a
//!   computed name. A kept `__pycache__/NAME.cpython-3XY.pyc` keeps its
//!   `NAME.py`: Python stat()s the source and refuses byte code without it.
//!
//! Why a tokenizer and not a parser crate such as rustpython-parser:
//! imports need only tokens (strings, comments, brackets, keywords). The
//! tokenizer is a few hundred lines of std-only code that compile in well
//! under a second, where the parser crate brings a generated LALR grammar,
//! its AST and bignum crates into every build of rslim. And a parser rejects
//! files it does not understand, so a file written for a newer Python than
//! the parser knows would import nothing; the tokenizer reads Python 2
//! files, 3.12 f-strings and 3.14 t-strings alike.

mod dists;
mod finder;
mod imports;
mod layout;
mod lexer;
mod sites;
mod stdlib;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use self::dists::DistIndex;
use self::finder::{Finder, Found, Root};
use self::imports::{imports, is_module_name};
use self::layout::{
    interpreter_prefix, library_dir, shebang_runs_python, site_entry, source_of_bytecode,
    versioned_dir,
};
use super::fileset::Reason;
use super::pathwalk::{normalize, resolve};
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// Sources bigger than this are not read (generated tables, not code).
const MAX_SOURCE: u64 = 8 * 1024 * 1024;

/// How much of a file without `.py` is read to look for a `#!` line.
const SHEBANG_HEAD: u64 = 256;

const PTH_MAX: u64 = 1024 * 1024;

/// Modules every interpreter with a standard library imports at start-up
/// (the hooks only when they exist).
const STARTUP_MODULES: &[&str] = &["site", "sitecustomize", "usercustomize"];

/// Directories inside third-party packages that hold their test suites: kept
/// with the package, but not read for imports (they import test runners and
/// much of the standard library, and do not run in production).
const TEST_DIRS: &[&str] = &["test", "tests"];

#[derive(Default)]
pub struct PythonRule {
    finder: Finder,
    /// Search roots for absolute imports, in the order they were found.
    roots: Vec<Root>,
    root_paths: HashSet<PathBuf>,
    /// Every absolute module name read so far, looked up again in each new root.
    names: BTreeSet<String>,
    /// (real root, module) pairs already looked up.
    looked_up: HashSet<(PathBuf, String)>,
    /// Real paths already handled, kept or found.
    seen: HashSet<PathBuf>,
    parsed: HashSet<PathBuf>,
    library_dirs: HashSet<PathBuf>,
    site_dirs: HashSet<PathBuf>,
    /// Top-level entries of site dirs already kept.
    packages: HashSet<PathBuf>,
    dists: HashMap<PathBuf, DistIndex>,
    /// Home directories whose user site dirs are searched: root's and `$HOME`.
    homes: Vec<PathBuf>,
    started: bool,
}

/// The work of one `expand` call.
struct Step<'t> {
    tree: &'t dyn FsTree,
    wants: Vec<Want>,
    /// Real paths of sources still to read.
    sources: VecDeque<PathBuf>,
}

impl RuntimeRule for PythonRule {
    fn name(&self) -> &'static str {
        "python"
    }

    fn reason(&self) -> Reason {
        Reason::Python
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut step = Step {
            tree: cx.tree,
            wants: Vec::new(),
            sources: VecDeque::new(),
        };
        if !self.started {
            self.started = true;
            self.add_configured_roots(&mut step, cx);
        }
        for path in newly {
            self.on_kept(&mut step, path);
        }
        while let Some(source) = step.sources.pop_front() {
            self.read_source(&mut step, &source);
        }
        let mut wants = step.wants;
        wants.sort();
        wants.dedup();
        wants
    }
}

impl PythonRule {
    /// Roots the image config names: `PYTHONPATH`, and the working
    /// directory with the module of a `python -m module` entrypoint.
    fn add_configured_roots(&mut self, step: &mut Step, cx: &RuleContext) {
        let workdir = normalize(Path::new(
            cx.run
                .working_dir
                .as_deref()
                .filter(|w| !w.is_empty())
                .unwrap_or("/"),
        ));
        self.homes.push(PathBuf::from("/root"));
        if let Some(home) = cx.run.env_var("HOME").filter(|home| home.starts_with('/')) {
            self.homes.push(normalize(Path::new(home)));
        }
        self.homes.dedup();
        let python_path = cx.run.env_var("PYTHONPATH").unwrap_or_default();
        for entry in python_path.split(':').filter(|entry| !entry.is_empty()) {
            self.add_named_root(step, &normalize(&workdir.join(entry)));
        }
        if let Some(module) = module_run_by_python(&cx.run.argv()) {
            self.add_named_root(step, &workdir);
            self.add_name(step, &module);
        }
    }

    /// Adds the root at `named` (which may go through symlinks) if it is a directory.
    fn add_named_root(&mut self, step: &mut Step, named: &Path) {
        if let Some(found) = resolve(step.tree, named) {
            if step.tree.kind(&found.path) == Some(NodeKind::Dir) {
                self.add_root(
                    step,
                    Root {
                        named: named.to_path_buf(),
                        real: found.path,
                    },
                );
            }
        }
    }

    /// A new search root: every name read so far is looked up in it too.
    fn add_root(&mut self, step: &mut Step, root: Root) {
        if !self.root_paths.insert(root.real.clone()) {
            return;
        }
        self.roots.push(root.clone());
        let names: Vec<String> = self.names.iter().cloned().collect();
        for name in names {
            self.find_in(step, &root, &name);
        }
    }

    /// A new absolute module name, looked up in every root.
    fn add_name(&mut self, step: &mut Step, name: &str) {
        if !is_module_name(name) || !self.names.insert(name.to_string()) {
            return;
        }
        for root in self.roots.clone() {
            self.find_in(step, &root, name);
        }
    }

    fn find_in(&mut self, step: &mut Step, root: &Root, name: &str) {
        if !self.looked_up.insert((root.real.clone(), name.to_string())) {
            return;
        }
        for found in self.finder.find(step.tree, root, name) {
            self.keep_found(step, found);
        }
    }

    fn keep_found(&mut self, step: &mut Step, found: Found) {
        // A file of a site dir is kept with its whole package (see
        // `keep_package`); naming it again is needed only for the symlinks
        // on the way to it.
        if found.named != found.real || site_entry(&found.real).is_none() {
            step.wants.push(Want::Path(found.named));
        }
        self.on_kept(step, &found.real);
    }

    /// A kept (or found) real path: what it tells about the installation,
    /// and what keeping it needs.
    fn on_kept(&mut self, step: &mut Step, path: &Path) {
        if !self.seen.insert(path.to_path_buf()) {
            return;
        }
        let site = site_entry(path);
        let in_package = site.as_ref().is_some_and(|(_, top)| top != "__pycache__");
        if !in_package {
            if let Some(source) = source_of_bytecode(path) {
                if let Some(found) = resolve(step.tree, &source) {
                    if is_file(step.tree, &found.path) {
                        self.keep_found(
                            step,
                            Found {
                                named: source,
                                real: found.path,
                            },
                        );
                    }
                }
            }
        }
        if let Some(library) = library_dir(path) {
            self.add_library_dir(step, &library);
        }
        if let Some((prefix, interpreter)) = interpreter_prefix(path) {
            for library in self.library_dirs_of(step, &prefix, &interpreter) {
                self.add_library_dir(step, &library);
            }
        }
        if path.file_name().is_some_and(|name| name == "pyvenv.cfg") {
            let venv = path.parent().unwrap_or(Path::new("/"));
            for library in self.library_dirs_of(step, venv, "python") {
                self.add_library_dir(step, &library);
            }
        }
        if let Some((site, top)) = site {
            self.add_site_dir(step, &site);
            self.keep_package(step, &site, &top);
            return;
        }
        if self.is_python_source(step.tree, path) {
            step.sources.push_back(path.to_path_buf());
        }
    }

    fn has_entry(&mut self, tree: &dyn FsTree, dir: &Path, name: &str) -> bool {
        self.finder
            .listing(tree, dir)
            .binary_search_by(|entry| entry.as_str().cmp(name))
            .is_ok()
    }

    /// Whether the real path `path` is a Python source: a `.py` file, or a
    /// file whose `#!` line runs Python (only looked for in files without an
    /// extension or in a `bin` dir, to spare reading every kept file).
    fn is_python_source(&self, tree: &dyn FsTree, path: &Path) -> bool {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
            return false;
        };
        if !is_file(tree, path) {
            return false;
        }
        if name.ends_with(".py") {
            return true;
        }
        let in_bin = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|dir| dir == "bin" || dir == "sbin");
        (in_bin || !name.contains('.'))
            && tree
                .read(path, SHEBANG_HEAD)
                .is_ok_and(|head| shebang_runs_python(&head))
    }

    /// Reads the source at real path `file` and looks up what it imports.
    fn read_source(&mut self, step: &mut Step, file: &Path) {
        if !self.parsed.insert(file.to_path_buf()) {
            return;
        }
        match step.tree.kind(file) {
            Some(NodeKind::File { size }) if size <= MAX_SOURCE => {}
            _ => return,
        }
        let Ok(bytes) = step.tree.read(file, MAX_SOURCE) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let dir = file.parent().unwrap_or(Path::new("/"));
        // The file's own directory stands for sys.path[0] of a script. Code
        // in a Python 3 standard library or site dir is never run as one,
        // and Python 3 has no implicit relative imports.
        let python3_library = library_dir(file)
            .and_then(|lib| Some(versioned_dir(lib.file_name()?.to_str()?)?.0 >= 3))
            .unwrap_or(false);
        let own_dir = (site_entry(file).is_none() && !python3_library).then(|| Root::real(dir));
        // Developer tools are not followed from the rest of the standard
        // library; from themselves (pydoc needs pydoc_data) they are.
        let skip_tools = site_entry(file).is_none()
            && library_dir(file).is_some_and(|lib| {
                let top = file
                    .strip_prefix(&lib)
                    .ok()
                    .and_then(|rest| rest.components().next())
                    .map(|c| {
                        c.as_os_str()
                            .to_string_lossy()
                            .trim_end_matches(".py")
                            .to_string()
                    })
                    .unwrap_or_default();
                !is_developer_tool(&top)
            });
        if own_dir.is_some() {
            // The directory that holds the file's top-level package (the
            // file's own one for a script) was on sys.path when it ran:
            // every file's absolute imports may be found there.
            let mut top = dir;
            while self.has_entry(step.tree, top, "__init__.py") {
                top = top.parent().unwrap_or(Path::new("/"));
                if top == Path::new("/") {
                    break;
                }
            }
            self.add_root(step, Root::real(top));
        }
        for import in imports(&text) {
            let modules = import_candidates(&import.module, &import.names);
            if import.level == 0 {
                for module in modules
                    .iter()
                    .filter(|m| !(skip_tools && is_developer_tool(m)))
                {
                    self.add_name(step, module);
                    if let Some(own_dir) = &own_dir {
                        self.find_in(step, own_dir, module);
                    }
                }
                continue;
            }
            // Level 1 is the file's own package, each further dot one up.
            let Some(anchor) = dir.ancestors().nth(import.level - 1) else {
                continue;
            };
            let anchor = Root::real(anchor);
            for module in modules.iter().filter(|m| is_module_name(m)) {
                self.find_in(step, &anchor, module);
            }
        }
    }
}

/// Developer tools of the standard library: `help()` (pydoc and its 750 kB
/// of topics), the debugger, the test suite and its runners, Tk. The
/// standard library imports them inside functions that only interactive use
/// reaches (`site`'s `help`, `multiprocessing`'s `from test import
/// support`), so imports *from the standard library* are not followed into
/// them; the app's own imports of them are.
const DEVELOPER_TOOLS: &[&str] = &[
    "pydoc",
    "pydoc_data",
    "pdb",
    "doctest",
    "unittest",
    "test",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "venv",
];

fn is_developer_tool(module: &str) -> bool {
    let top = module.split('.').next().unwrap_or(module);
    DEVELOPER_TOOLS.contains(&top)
}

/// The module of `python [options] -m module …`.
fn module_run_by_python(argv: &[String]) -> Option<String> {
    let program = argv.first()?;
    if !program.rsplit('/').next()?.starts_with("python") {
        return None;
    }
    let mut args = argv[1..].iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-m" => return args.next().cloned(),
            // Options that take the next word as their value.
            "-X" | "-W" => {
                args.next();
            }
            "-c" => return None,
            option if option.starts_with('-') => {}
            // A script: what follows are its own arguments.
            _ => return None,
        }
    }
    None
}

/// The modules `from module import names` may load: the module, and each
/// name as its submodule (kept only if it exists). For `from . import x`
/// (no module) only the names.
fn import_candidates(module: &str, names: &[String]) -> Vec<String> {
    if module.is_empty() {
        return names.to_vec();
    }
    std::iter::once(module.to_string())
        .chain(names.iter().map(|name| format!("{module}.{name}")))
        .collect()
}

fn is_file(tree: &dyn FsTree, path: &Path) -> bool {
    matches!(tree.kind(path), Some(NodeKind::File { .. }))
}

#[cfg(test)]
mod tests;
