//! Interpreter installations: the `lib/pythonX.Y` dirs found from kept
//! paths, the site dirs each puts on sys.path, and what an interpreter needs
//! to start.

use std::path::{Path, PathBuf};

use super::finder::Root;
use super::layout::versioned_dir;
use super::{sites, PythonRule, Step, STARTUP_MODULES};
use crate::image::node::NodeKind;
use crate::resolve::pathwalk::resolve;
use crate::resolve::rules::Want;

impl PythonRule {
    /// The `lib/pythonX.Y` dirs under `prefix` an interpreter named
    /// `interpreter` uses: `python3.11` only its own, `python3` any 3.Y,
    /// `python` any.
    pub(super) fn library_dirs_of(
        &mut self,
        step: &Step,
        prefix: &Path,
        interpreter: &str,
    ) -> Vec<PathBuf> {
        let versioned = versioned_dir(interpreter).is_some();
        let mut dirs = Vec::new();
        for lib in ["lib", "lib64"] {
            let Some(lib_dir) = self.finder.subdir(step.tree, prefix, lib) else {
                continue;
            };
            for name in self.finder.listing(step.tree, &lib_dir).iter() {
                let uses = if versioned {
                    name == interpreter
                } else {
                    name.starts_with(interpreter) && versioned_dir(name).is_some()
                };
                if uses {
                    dirs.push(lib_dir.join(name));
                }
            }
        }
        dirs
    }

    /// A `<prefix>/lib/pythonX.Y` dir: a search root, and when it holds a
    /// standard library, what the interpreter needs to start.
    pub(super) fn add_library_dir(&mut self, step: &mut Step, dir: &Path) {
        if !self.library_dirs.insert(dir.to_path_buf()) {
            return;
        }
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let Some((major, version)) = versioned_dir(name) else {
            return;
        };
        let (major, version) = (major.to_string(), version.to_string());
        let Some(real) = resolve(step.tree, dir)
            .map(|found| found.path)
            .filter(|real| step.tree.kind(real) == Some(NodeKind::Dir))
        else {
            return;
        };
        let root = Root::real(&real);
        let is_stdlib =
            self.has_entry(step.tree, &real, "os.py") || self.has_entry(step.tree, &real, "os.pyc");
        self.add_root(step, root.clone());
        if is_stdlib {
            self.keep_stdlib_start(step, &root);
        }

        // Site dirs this interpreter (Debian's and Fedora's included) puts on sys.path.
        let prefix = real
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"));
        let mut sites = Vec::new();
        let mut prefixes = vec![prefix.to_path_buf()];
        if prefix == Path::new("/usr") {
            prefixes.push(PathBuf::from("/usr/local"));
        }
        for prefix in &prefixes {
            for lib in ["lib", "lib64"] {
                let lib = prefix.join(lib);
                for site in ["site-packages", "dist-packages"] {
                    sites.push(lib.join(format!("python{version}")).join(site));
                }
                sites.push(lib.join(format!("python{major}")).join("dist-packages"));
            }
        }
        // The user sites (`pip install --user`).
        for home in self.homes.clone() {
            sites.push(home.join(format!(".local/lib/python{version}/site-packages")));
        }
        for site in sites {
            if let Some(found) = resolve(step.tree, &site) {
                if step.tree.kind(&found.path) == Some(NodeKind::Dir) {
                    self.add_site_dir(step, &found.path);
                }
            }
        }
    }

    /// What an interpreter with this standard library needs to start: the
    /// prefix landmarks, `site` and its hooks, the codecs, `lib-dynload`.
    fn keep_stdlib_start(&mut self, step: &mut Step, stdlib: &Root) {
        for found in self.finder.find(step.tree, stdlib, "os") {
            self.keep_found(step, found);
        }
        if let Some(dynload) = self.finder.subdir(step.tree, &stdlib.real, "lib-dynload") {
            step.wants
                .push(Want::Path(stdlib.named.join("lib-dynload")));
            self.add_root(step, Root::real(&dynload));
        }
        if let Some(encodings) = self.finder.subdir(step.tree, &stdlib.real, "encodings") {
            let walk = sites::walk(step.tree, &encodings);
            step.wants.push(Want::Tree(encodings));
            step.sources.extend(walk.sources);
        }
        // `sysconfig` imports `_sysconfigdata_<abi>_<platform>` by a computed name.
        let listing = self.finder.listing(step.tree, &stdlib.real);
        for name in listing.iter() {
            if let Some(module) = name
                .strip_suffix(".py")
                .filter(|module| module.starts_with("_sysconfigdata_"))
            {
                for found in self.finder.find(step.tree, stdlib, module) {
                    self.keep_found(step, found);
                }
            }
        }
        for module in STARTUP_MODULES {
            self.add_name(step, module);
        }
    }
}
