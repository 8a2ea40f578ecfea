//! Node.js's static `require`/`import` closure. Profiling sees the modules a
//! run loaded; a `require('./lib/report')` inside a route handler that never
//! ran is loaded later, and "Cannot find module" is the classic failure of
//! a slimmed Node image. So each kept JavaScript file (`.js`, `.cjs`, `.mjs`,
//! or a `#!` script naming node) is read for the module specifiers it
//! names, and each is resolved as Node would, inside the image.
//!
//! Specifiers are found by a tokenizer ([`scan`]), not a JavaScript parser
//! crate. A real parser (swc's, oxc's) brings dozens of crates and a long
//! compile into the build for one narrow question, and it gives up on a file
//! it cannot parse (syntax newer than the crate, Flow annotations, a stray
//! byte), losing every specifier in it; a tokenizer still finds the calls.
//! Knowing comments, strings, template literals and regular expressions is
//! all it takes for a `require('x')` in a string not to count; over the
//! modules npm ships, the specifiers it finds are exactly those node's own
//! parser finds (see the host test).
//!
//! Packages are kept whole: once a file of a package (a directory with a
//! `package.json` under a `node_modules` directory or in a global folder) is
//! kept, so is the rest of it, because packages load their own files by
//! computed names (locales, templates, plugin directories). Its own nested
//! `node_modules` is left out: those packages are kept when something
//! requires them.

mod exports;
mod resolver;
mod scan;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use self::resolver::{is_file, package_scope, Manifests, Resolver};
use super::fileset::Reason;
use super::pathwalk::{normalize, resolve};
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// Sources larger than this are not read: bundles that big are minified
/// builds that rarely require anything resolvable.
const MAX_SOURCE_BYTES: u64 = 8 << 20;

/// How much of a file without a JavaScript extension is read to find a `#!` line.
const SHEBANG_BYTES: u64 = 256;

const NODE_MODULES: &str = "node_modules";

/// Global folders Node and Debian's nodejs search after every
/// `node_modules`, in order, once `$HOME`'s are done; the multiarch
/// `/usr/lib/*-linux-gnu/nodejs` goes after the first two.
const LOCAL_GLOBAL_FOLDERS: &[&str] = &["/usr/local/lib/nodejs", "/usr/local/share/nodejs"];
const SYSTEM_GLOBAL_FOLDERS: &[&str] = &[
    "/usr/share/nodejs",
    "/usr/lib/nodejs",
    // Where `npm install -g` puts packages.
    "/usr/local/lib/node_modules",
    // Node's own `$PREFIX/lib/node`.
    "/usr/local/lib/node",
    "/usr/lib/node",
];

/// The `node` runtime rule. Build one per image: it reads the image's
/// global folders on its first batch and remembers them.
#[derive(Default)]
pub struct NodeRule {
    /// Where bare specifiers are searched after `node_modules`; read from
    /// the image on the first batch.
    folders: Option<Rc<Folders>>,
    /// Real paths already looked at as possible sources.
    scanned: HashSet<PathBuf>,
    /// (importing directory, specifier) → what it adds.
    resolved: HashMap<(PathBuf, String), Vec<Want>>,
    /// Possible package roots already looked at → whether they are packages.
    package_roots: HashMap<PathBuf, bool>,
    manifests: Manifests,
    /// Everything returned so far, so repeated batches return only news.
    returned: BTreeSet<Want>,
}

/// `NODE_PATH` and the global folders that exist in the image.
struct Folders {
    /// As named, in search order.
    search: Vec<PathBuf>,
    /// Their real paths: packages sit directly in them.
    package_homes: Vec<PathBuf>,
}

impl RuntimeRule for NodeRule {
    fn name(&self) -> &'static str {
        "node"
    }

    fn reason(&self) -> Reason {
        Reason::Node
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let folders = Rc::clone(self.folders.get_or_insert_with(|| Rc::new(Folders::of(cx))));
        let tree = cx.tree;
        let mut wanted = BTreeSet::new();
        for path in newly {
            wanted.extend(self.package_of(tree, &folders, path));
            if !self.scanned.insert(path.clone()) {
                continue;
            }
            let Some(specifiers) = source_specifiers(tree, path) else {
                continue;
            };
            let dir = path.parent().unwrap_or(Path::new("/"));
            // Node reads `"type"` there to tell ES modules from CommonJS.
            wanted.extend(package_scope(tree, dir).map(Want::Path));
            for specifier in specifiers {
                wanted.extend(self.specifier_wants(tree, &folders, dir, specifier));
            }
        }
        wanted
            .into_iter()
            .filter(|want| self.returned.insert(want.clone()))
            .collect()
    }
}

impl NodeRule {
    /// What `specifier`, imported from directory `dir`, adds: the files it
    /// leads to, the package.json files read on the way, and the packages
    /// those files are in.
    fn specifier_wants(
        &mut self,
        tree: &dyn FsTree,
        folders: &Folders,
        dir: &Path,
        specifier: String,
    ) -> Vec<Want> {
        let key = (dir.to_path_buf(), specifier);
        if let Some(known) = self.resolved.get(&key) {
            return known.clone();
        }
        let found = Resolver::new(tree, &folders.search, &mut self.manifests).resolve(dir, &key.1);
        let mut wants: Vec<Want> = found
            .files
            .iter()
            .chain(&found.manifests)
            .cloned()
            .map(Want::Path)
            .collect();
        for file in &found.files {
            if let Some(real) = resolve(tree, file) {
                wants.extend(self.package_of(tree, folders, &real.path));
            }
        }
        self.resolved.insert(key, wants.clone());
        wants
    }

    /// The whole package the real path `path` is in, the first time one of
    /// its paths turns up; nothing otherwise.
    fn package_of(&mut self, tree: &dyn FsTree, folders: &Folders, path: &Path) -> Vec<Want> {
        let Some(root) = package_root_candidate(path, &folders.package_homes) else {
            return Vec::new();
        };
        if self.package_roots.contains_key(&root) {
            return Vec::new();
        }
        let is_package = is_file(tree, &root.join("package.json"));
        self.package_roots.insert(root.clone(), is_package);
        if !is_package {
            return Vec::new();
        }
        let (mut wants, left_out) = contents_without_node_modules(tree, &root);
        if left_out {
            wants.push(Want::Path(root));
            wants
        } else {
            vec![Want::Tree(root)]
        }
    }
}

impl Folders {
    fn of(cx: &RuleContext) -> Folders {
        let tree = cx.tree;
        let workdir = cx
            .run
            .working_dir
            .as_deref()
            .filter(|dir| !dir.is_empty())
            .unwrap_or("/");
        let mut named: Vec<PathBuf> = cx
            .run
            .env_var("NODE_PATH")
            .unwrap_or_default()
            .split(':')
            .filter(|entry| !entry.is_empty())
            .map(|entry| normalize(&Path::new(workdir).join(entry)))
            .collect();
        let home = home_dir(cx);
        named.push(home.join(".node_modules"));
        named.push(home.join(".node_libraries"));
        named.extend(LOCAL_GLOBAL_FOLDERS.iter().map(PathBuf::from));
        if let Some(usr_lib) = resolve(tree, Path::new("/usr/lib")) {
            for entry in tree.list(&usr_lib.path) {
                let name = entry.file_name().unwrap_or_default();
                if name.to_string_lossy().ends_with("-linux-gnu") {
                    named.push(Path::new("/usr/lib").join(name).join("nodejs"));
                }
            }
        }
        named.extend(SYSTEM_GLOBAL_FOLDERS.iter().map(PathBuf::from));

        let mut folders = Folders {
            search: Vec::new(),
            package_homes: Vec::new(),
        };
        for path in named {
            let Some(found) = resolve(tree, &path) else {
                continue;
            };
            if tree.kind(&found.path) == Some(NodeKind::Dir)
                && !folders.package_homes.contains(&found.path)
            {
                folders.search.push(path);
                folders.package_homes.push(found.path);
            }
        }
        folders
    }
}

/// `$HOME` as the container gets it: the image's `HOME`, else the home of
/// its user in /etc/passwd, else `/root` for root and `/` for others (Docker's rule).
fn home_dir(cx: &RuleContext) -> PathBuf {
    if let Some(home) = cx.run.env_var("HOME").filter(|home| !home.is_empty()) {
        return PathBuf::from(home);
    }
    let user = cx.run.user.as_deref().unwrap_or_default();
    let user = user.split(':').next().unwrap_or_default();
    let user = if user.is_empty() { "root" } else { user };
    let passwd = resolve(cx.tree, Path::new("/etc/passwd"))
        .and_then(|found| cx.tree.read(&found.path, 1 << 20).ok())
        .unwrap_or_default();
    let from_passwd = String::from_utf8_lossy(&passwd).lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let matches = fields.len() >= 6 && (fields[0] == user || fields[2] == user);
        matches.then(|| PathBuf::from(fields[5]))
    });
    from_passwd.unwrap_or_else(|| match user {
        "root" | "0" => PathBuf::from("/root"),
        _ => PathBuf::from("/"),
    })
}

/// The specifiers a kept file names, when it is JavaScript: `None` for
/// other files, empty for sources too big to read.
fn source_specifiers(tree: &dyn FsTree, path: &Path) -> Option<Vec<String>> {
    let Some(NodeKind::File { size }) = tree.kind(path) else {
        return None;
    };
    let extension = path.extension().and_then(|e| e.to_str());
    if !matches!(extension, Some("js" | "cjs" | "mjs")) {
        let head = tree.read(path, SHEBANG_BYTES).ok()?;
        if !scan::is_node_shebang(&head) {
            return None;
        }
    }
    if size > MAX_SOURCE_BYTES {
        return Some(Vec::new());
    }
    let source = tree.read(path, size).ok()?;
    Some(scan::specifiers(&source))
}

/// The directory that would be the package holding `path`, judged by the
/// path alone: `…/node_modules/name` or `…/node_modules/@scope/name` after
/// the last `node_modules`, else the same directly in a package home.
fn package_root_candidate(path: &Path, package_homes: &[PathBuf]) -> Option<PathBuf> {
    let components: Vec<Component> = path.components().collect();
    let base = match components
        .iter()
        .rposition(|c| c.as_os_str() == NODE_MODULES)
    {
        Some(index) => index + 1,
        None => package_homes
            .iter()
            .filter(|home| path.starts_with(home))
            .map(|home| home.components().count())
            .max()?,
    };
    let first = components.get(base)?.as_os_str();
    let length = if first.to_string_lossy().starts_with('@') {
        2
    } else {
        1
    };
    if components.len() < base + length {
        return None;
    }
    Some(components[..base + length].iter().collect())
}

/// What keeps everything in `dir` except directories named `node_modules`:
/// a `Tree` for each subdirectory without one inside, its entries one by
/// one where there is. Also says whether anything was left out.
fn contents_without_node_modules(tree: &dyn FsTree, dir: &Path) -> (Vec<Want>, bool) {
    let mut wants = Vec::new();
    let mut left_out = false;
    for entry in tree.list(dir) {
        match tree.kind(&entry) {
            Some(NodeKind::Dir) if entry.file_name() == Some(NODE_MODULES.as_ref()) => {
                left_out = true;
            }
            Some(NodeKind::Dir) => {
                let (inner, inner_left_out) = contents_without_node_modules(tree, &entry);
                if inner_left_out {
                    left_out = true;
                    wants.push(Want::Path(entry));
                    wants.extend(inner);
                } else {
                    wants.push(Want::Tree(entry));
                }
            }
            _ => wants.push(Want::Path(entry)),
        }
    }
    (wants, left_out)
}

#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod tests;
