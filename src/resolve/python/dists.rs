//! Distribution metadata in a site dir (`*.dist-info`, `*.egg-info`), by the
//! top-level module it installs, so that keeping a package keeps what
//! `importlib.metadata.version("x")` and entry points read.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::image::node::NodeKind;
use crate::resolve::tree::FsTree;

const TOP_LEVEL_MAX: u64 = 64 * 1024;
const RECORD_MAX: u64 = 8 * 1024 * 1024;

/// The metadata entries of one site dir, by the module names they match.
#[derive(Debug, Default)]
pub struct DistIndex {
    /// Normalized distribution name (`PyYAML` → `pyyaml`) → metadata paths.
    by_name: HashMap<String, BTreeSet<PathBuf>>,
    /// Top-level module (from `top_level.txt` or `RECORD`) → metadata paths.
    by_module: HashMap<String, BTreeSet<PathBuf>>,
}

impl DistIndex {
    /// Reads the metadata entries among `names`, the entries of site dir `site`.
    pub fn build(tree: &dyn FsTree, site: &Path, names: &[String]) -> DistIndex {
        let mut index = DistIndex::default();
        for name in names {
            let Some(stem) = name
                .strip_suffix(".dist-info")
                .or_else(|| name.strip_suffix(".egg-info"))
            else {
                continue;
            };
            let path = site.join(name);
            // NAME-VERSION[-pyX.Y]: the name never holds a `-` (it is escaped to `_`).
            let dist = stem.split('-').next().unwrap_or(stem);
            index
                .by_name
                .entry(normalize_name(dist))
                .or_default()
                .insert(path.clone());
            // An old distutils install leaves a single PKG-INFO file named *.egg-info.
            if tree.kind(&path) != Some(NodeKind::Dir) {
                continue;
            }
            let mut modules = BTreeSet::new();
            if let Some(text) = read_text(tree, &path.join("top_level.txt"), TOP_LEVEL_MAX) {
                modules.extend(
                    text.lines()
                        .filter_map(|line| line.trim().split('/').next())
                        .filter(|module| !module.is_empty())
                        .map(str::to_string),
                );
            }
            if let Some(text) = read_text(tree, &path.join("RECORD"), RECORD_MAX) {
                modules.extend(text.lines().filter_map(recorded_module));
            }
            for module in modules {
                index
                    .by_module
                    .entry(module)
                    .or_default()
                    .insert(path.clone());
            }
        }
        index
    }

    /// The metadata paths for top-level module `module`, sorted.
    pub fn matching(&self, module: &str) -> Vec<PathBuf> {
        let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
        if let Some(found) = self.by_module.get(module) {
            paths.extend(found.iter().cloned());
        }
        if let Some(found) = self.by_name.get(&normalize_name(module)) {
            paths.extend(found.iter().cloned());
        }
        paths.into_iter().collect()
    }
}

/// A distribution name compared loosely: `Foo.Bar-baz` → `foo_bar_baz`.
pub fn normalize_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The top-level module a `RECORD` line installs: `attr/__init__.py,sha256=…`
/// → `attr`; `six.py,…` → `six`. Scripts outside the site dir
/// (`../../bin/x`), metadata, caches and `.pth` files install none.
fn recorded_module(line: &str) -> Option<String> {
    let path = line.split(',').next()?.trim_matches('"');
    let first = path.split('/').next()?;
    let skip = first.is_empty()
        || first.starts_with("..")
        || first == "__pycache__"
        || first.ends_with(".dist-info")
        || first.ends_with(".egg-info")
        || first.ends_with(".pth");
    if skip {
        return None;
    }
    Some(first.split('.').next()?.to_string())
}

fn read_text(tree: &dyn FsTree, path: &Path, limit: u64) -> Option<String> {
    let bytes = tree.read(path, limit).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
