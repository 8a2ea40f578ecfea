//! Node's module resolution over an image's tree: CommonJS's `require`
//! algorithm and the ESM resolver in one, the more permissive where they
//! differ (ESM gets CommonJS's extension tries; every `exports` condition is
//! taken). Paths are joined lexically, as Node's `path.resolve` does, and
//! looked up through symlinks with [`resolve`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::exports::{export_targets, import_targets};
use crate::image::node::NodeKind;
use crate::resolve::pathwalk::{normalize, resolve};
use crate::resolve::tree::FsTree;

/// Modules built into node (`require('module').builtinModules`); with a
/// `node:` prefix anything is built in (`node:test`, `node:sqlite`).
const BUILTINS: &[&str] = &[
    "_http_agent",
    "_http_client",
    "_http_common",
    "_http_incoming",
    "_http_outgoing",
    "_http_server",
    "_stream_duplex",
    "_stream_passthrough",
    "_stream_readable",
    "_stream_transform",
    "_stream_wrap",
    "_stream_writable",
    "_tls_common",
    "_tls_wrap",
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "inspector/promises",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "readline/promises",
    "repl",
    "stream",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// `require('x')` tries `x` and then these, in order. Node itself stops at
/// `.node`; `.cjs` and `.mjs` are tried too since ESM names them in full.
const FILE_SUFFIXES: &[&str] = &["", ".js", ".json", ".node", ".cjs", ".mjs"];
const INDEX_FILES: &[&str] = &["index.js", "index.json", "index.node"];

/// A package.json larger than this is not one Node would be reading for us.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

pub fn is_builtin(specifier: &str) -> bool {
    specifier.starts_with("node:") || BUILTINS.contains(&specifier)
}

/// What a specifier leads to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The files Node may load, as Node names them (symlinks not resolved).
    pub files: Vec<PathBuf>,
    /// The `package.json` files Node reads to get there.
    pub manifests: Vec<PathBuf>,
}

/// Parsed `package.json` files by path; `None` for missing or unreadable ones.
#[derive(Default)]
pub struct Manifests(HashMap<PathBuf, Option<Rc<Value>>>);

impl Manifests {
    fn get(&mut self, tree: &dyn FsTree, path: &Path) -> Option<Rc<Value>> {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| read_manifest(tree, path).map(Rc::new))
            .clone()
    }
}

fn read_manifest(tree: &dyn FsTree, path: &Path) -> Option<Value> {
    let real = resolve(tree, path)?.path;
    let Some(NodeKind::File { size }) = tree.kind(&real) else {
        return None;
    };
    if size > MAX_MANIFEST_BYTES {
        return None;
    }
    let manifest: Value = serde_json::from_slice(&tree.read(&real, size).ok()?).ok()?;
    manifest.is_object().then_some(manifest)
}

/// The `package.json` whose `"type"` decides how files in `dir` load: the
/// nearest one above, not looking past a `node_modules` directory.
pub fn package_scope(tree: &dyn FsTree, dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .take_while(|ancestor| ancestor.file_name() != Some("node_modules".as_ref()))
        .map(|ancestor| ancestor.join("package.json"))
        .find(|manifest| is_file(tree, manifest))
}

/// Whether `path` leads (through symlinks) to a regular file.
pub fn is_file(tree: &dyn FsTree, path: &Path) -> bool {
    let real = resolve(tree, path).and_then(|found| tree.kind(&found.path));
    matches!(real, Some(NodeKind::File { .. }))
}

fn is_dir(tree: &dyn FsTree, path: &Path) -> bool {
    resolve(tree, path).and_then(|found| tree.kind(&found.path)) == Some(NodeKind::Dir)
}

pub struct Resolver<'a> {
    tree: &'a dyn FsTree,
    /// `NODE_PATH` entries and the global folders: searched after every `node_modules`.
    search_dirs: &'a [PathBuf],
    manifests: &'a mut Manifests,
}

impl<'a> Resolver<'a> {
    pub fn new(
        tree: &'a dyn FsTree,
        search_dirs: &'a [PathBuf],
        manifests: &'a mut Manifests,
    ) -> Self {
        Resolver {
            tree,
            search_dirs,
            manifests,
        }
    }

    /// What `specifier`, imported by a file in directory `from_dir` (a
    /// real path), leads to. Empty for builtins, URLs and what is not there.
    pub fn resolve(&mut self, from_dir: &Path, specifier: &str) -> Resolution {
        let mut found = Resolution::default();
        if is_builtin(specifier) {
            return found;
        }
        if let Some(path) = specifier.strip_prefix("file://") {
            self.load_path(&normalize(Path::new(path)), &mut found);
        } else if has_url_scheme(specifier) {
            // data:, http: and the like load nothing from the filesystem.
        } else if is_path_like(specifier) {
            self.load_path(&normalize(&from_dir.join(specifier)), &mut found);
        } else if specifier.starts_with('#') {
            self.package_imports(from_dir, specifier, &mut found);
        } else {
            self.bare(from_dir, specifier, &mut found);
        }
        dedup(&mut found.files);
        dedup(&mut found.manifests);
        found
    }

    fn load_path(&mut self, path: &Path, found: &mut Resolution) -> bool {
        self.load_file(path, found) || self.load_dir(path, found)
    }

    fn load_file(&self, path: &Path, found: &mut Resolution) -> bool {
        let hit = FILE_SUFFIXES.iter().find_map(|suffix| {
            let mut candidate = path.as_os_str().to_os_string();
            candidate.push(suffix);
            let candidate = PathBuf::from(candidate);
            is_file(self.tree, &candidate).then_some(candidate)
        });
        hit.map(|file| found.files.push(file)).is_some()
    }

    fn load_index(&self, dir: &Path, found: &mut Resolution) -> bool {
        let hit = INDEX_FILES
            .iter()
            .map(|index| dir.join(index))
            .find(|candidate| is_file(self.tree, candidate));
        hit.map(|file| found.files.push(file)).is_some()
    }

    /// A directory: its package.json `main` (tried as a file, then as a
    /// directory's index), else its index file.
    fn load_dir(&mut self, dir: &Path, found: &mut Resolution) -> bool {
        if !is_dir(self.tree, dir) {
            return false;
        }
        let manifest_path = dir.join("package.json");
        let Some(manifest) = self.manifests.get(self.tree, &manifest_path) else {
            return self.load_index(dir, found);
        };
        let main = manifest
            .get("main")
            .and_then(Value::as_str)
            .filter(|main| !main.is_empty());
        let loaded = main.is_some_and(|main| {
            let main = normalize(&dir.join(main));
            self.load_file(&main, found) || self.load_index(&main, found)
        }) || self.load_index(dir, found);
        if loaded {
            found.manifests.push(manifest_path);
        }
        loaded
    }

    /// `pkg`, `pkg/sub/path`, `@scope/pkg/sub`: the package itself when the
    /// importer is inside it and it has `exports`, else the first
    /// `node_modules` up from `from_dir` that has it, then the search dirs.
    fn bare(&mut self, from_dir: &Path, specifier: &str, found: &mut Resolution) {
        let Some((name, subpath)) = split_package(specifier) else {
            return;
        };
        if let Some(manifest_path) = package_scope(self.tree, from_dir) {
            let manifest = self.manifests.get(self.tree, &manifest_path);
            let exports = manifest
                .as_ref()
                .filter(|m| m.get("name").and_then(Value::as_str) == Some(name))
                .and_then(|m| m.get("exports"));
            if let (Some(exports), Some(package)) = (exports, manifest_path.parent()) {
                self.load_exports(package, &subpath, exports, found);
                found.manifests.push(manifest_path.clone());
                return;
            }
        }
        let node_modules = from_dir
            .ancestors()
            .filter(|dir| dir.file_name() != Some("node_modules".as_ref()))
            .map(|dir| dir.join("node_modules"));
        let search_dirs = self.search_dirs;
        for dir in node_modules.chain(search_dirs.iter().cloned()) {
            if !is_dir(self.tree, &dir) {
                continue;
            }
            let package = dir.join(name);
            let manifest_path = package.join("package.json");
            let manifest = self.manifests.get(self.tree, &manifest_path);
            if let Some(exports) = manifest.as_ref().and_then(|m| m.get("exports")) {
                // Node stops at the first package with `exports`, exported or not.
                self.load_exports(&package, &subpath, exports, found);
                found.manifests.push(manifest_path);
                return;
            }
            if self.load_path(&normalize(&dir.join(specifier)), found) {
                if manifest.is_some() {
                    found.manifests.push(manifest_path);
                }
                return;
            }
        }
    }

    fn load_exports(
        &mut self,
        package: &Path,
        subpath: &str,
        exports: &Value,
        found: &mut Resolution,
    ) {
        for target in export_targets(exports, subpath) {
            let path = normalize(&package.join(&target));
            // Targets must stay inside the package.
            if target.starts_with("./") && path.starts_with(package) {
                self.load_file(&path, found);
            }
        }
    }

    /// `#name` through the `imports` of the importer's package.json: to a
    /// file in the package or to a dependency.
    fn package_imports(&mut self, from_dir: &Path, specifier: &str, found: &mut Resolution) {
        let Some(manifest_path) = package_scope(self.tree, from_dir) else {
            return;
        };
        let Some(manifest) = self.manifests.get(self.tree, &manifest_path) else {
            return;
        };
        let Some(imports) = manifest.get("imports") else {
            return;
        };
        let package = manifest_path
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let targets = import_targets(imports, specifier);
        if targets.is_empty() {
            return;
        }
        found.manifests.push(manifest_path.clone());
        for target in targets {
            if target.starts_with("./") {
                let path = normalize(&package.join(&target));
                if path.starts_with(&package) {
                    self.load_file(&path, found);
                }
            } else if !is_path_like(&target) && !target.starts_with('#') && !is_builtin(&target) {
                self.bare(&package, &target, found);
            }
        }
    }
}

/// `@scope/name/sub/path` → (`@scope/name`, `./sub/path`); `name` → (`name`, `.`).
fn split_package(specifier: &str) -> Option<(&str, String)> {
    let name_end = if specifier.starts_with('@') {
        let scope_end = specifier.find('/')?;
        let rest = &specifier[scope_end + 1..];
        scope_end + 1 + rest.find('/').unwrap_or(rest.len())
    } else {
        specifier.find('/').unwrap_or(specifier.len())
    };
    let (name, rest) = specifier.split_at(name_end);
    // CommonJS takes any name here; ESM's stricter checks are not needed to find files.
    let valid = !name.is_empty() && !name.ends_with('/');
    valid.then(|| {
        let subpath = if rest.is_empty() {
            ".".to_string()
        } else {
            format!(".{rest}")
        };
        (name, subpath)
    })
}

fn is_path_like(specifier: &str) -> bool {
    matches!(specifier, "." | "..")
        || specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier.starts_with('/')
}

/// `data:…`, `https:…`: a URL scheme of two letters or more (package names have no `:`).
fn has_url_scheme(specifier: &str) -> bool {
    specifier.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() >= 2
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn dedup(paths: &mut Vec<PathBuf>) {
    let mut seen = std::collections::HashSet::new();
    paths.retain(|path| seen.insert(path.clone()));
}
