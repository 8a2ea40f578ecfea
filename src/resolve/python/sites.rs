//! Site dirs (`site-packages`, `dist-packages`): their `.pth` files, and
//! third-party packages kept whole with their distribution metadata.

use std::path::{Path, PathBuf};

use super::dists::DistIndex;
use super::finder::Root;
use super::imports::imports;
use super::layout::is_site_dir_name;
use super::{import_candidates, PythonRule, Step, PTH_MAX, TEST_DIRS};
use crate::image::node::NodeKind;
use crate::resolve::pathwalk::{normalize, resolve};
use crate::resolve::rules::Want;
use crate::resolve::tree::FsTree;

impl PythonRule {
    /// The real site dir `site`: a search root. Its `.pth` files are kept
    /// and read as `site` reads them at start-up: a directory line adds a
    /// root, an `import` line runs (so what it imports is needed).
    pub(super) fn add_site_dir(&mut self, step: &mut Step, site: &Path) {
        if !self.site_dirs.insert(site.to_path_buf()) || step.tree.kind(site) != Some(NodeKind::Dir)
        {
            return;
        }
        self.add_root(step, Root::real(site));
        let listing = self.finder.listing(step.tree, site);
        for name in listing.iter().filter(|name| name.ends_with(".pth")) {
            let pth = site.join(name);
            let Some(found) = resolve(step.tree, &pth) else {
                continue;
            };
            let Ok(bytes) = step.tree.read(&found.path, PTH_MAX) else {
                continue;
            };
            step.wants.push(Want::Path(pth));
            for line in String::from_utf8_lossy(&bytes).lines() {
                let line = line.trim_end();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if line.starts_with("import ") || line.starts_with("import\t") {
                    for import in imports(line).into_iter().filter(|i| i.level == 0) {
                        for module in import_candidates(&import.module, &import.names) {
                            self.add_name(step, &module);
                        }
                    }
                    continue;
                }
                self.add_named_root(step, &normalize(&site.join(line)));
            }
        }
    }

    /// The entry `top` of the real site dir `site`, kept whole: a package
    /// directory (its sources read for imports), a single-file module, or a
    /// metadata dir; with the distribution metadata that names it.
    pub(super) fn keep_package(&mut self, step: &mut Step, site: &Path, top: &str) {
        let entry = site.join(top);
        // `.pth` files belong to the site dir; `__pycache__` files to their sources.
        if top.ends_with(".pth") || top == "__pycache__" || !self.packages.insert(entry.clone()) {
            return;
        }
        let Some(found) = resolve(step.tree, &entry) else {
            return;
        };
        if !found.symlinks.is_empty() {
            step.wants.push(Want::Path(entry.clone()));
        }
        let real = found.path;
        let is_metadata = top.ends_with(".dist-info") || top.ends_with(".egg-info");
        match step.tree.kind(&real) {
            Some(NodeKind::Dir) if is_metadata => step.wants.push(Want::Tree(real)),
            Some(NodeKind::Dir) => {
                let walk = walk(step.tree, &real);
                if walk.nested_site_dirs {
                    // Want::Tree would take the nested site dir along.
                    step.wants.push(Want::Path(real));
                    step.wants.extend(walk.entries.into_iter().map(Want::Path));
                } else {
                    step.wants.push(Want::Tree(real));
                }
                step.sources.extend(walk.sources);
            }
            Some(NodeKind::File { .. }) => {
                step.wants.push(Want::Path(real.clone()));
                if top.ends_with(".py") {
                    step.sources.push_back(real);
                }
            }
            _ => {}
        }
        if is_metadata {
            return;
        }
        let module = top.split('.').next().unwrap_or(top);
        let tree = step.tree;
        let listing = self.finder.listing(tree, site);
        let index = self
            .dists
            .entry(site.to_path_buf())
            .or_insert_with(|| DistIndex::build(tree, site, &listing));
        for metadata in index.matching(module) {
            step.wants.push(match tree.kind(&metadata) {
                Some(NodeKind::Dir) => Want::Tree(metadata),
                _ => Want::Path(metadata),
            });
        }
    }
}

/// What is below a directory kept whole.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// Every path below, except what is in nested site dirs.
    pub entries: Vec<PathBuf>,
    /// The Python sources below, except in test suites.
    pub sources: Vec<PathBuf>,
    /// Whether a nested site dir was left out.
    pub nested_site_dirs: bool,
}

/// Walks `dir` without following symlinks or entering nested site dirs.
pub(super) fn walk(tree: &dyn FsTree, dir: &Path) -> Walk {
    let mut walk = Walk::default();
    walk_into(tree, dir, false, &mut walk);
    walk
}

fn walk_into(tree: &dyn FsTree, dir: &Path, in_tests: bool, walk: &mut Walk) {
    for entry in tree.list(dir) {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match tree.kind(&entry) {
            Some(NodeKind::Dir) if is_site_dir_name(&name) => walk.nested_site_dirs = true,
            Some(NodeKind::Dir) => {
                walk.entries.push(entry.clone());
                let in_tests = in_tests || TEST_DIRS.contains(&name.as_str());
                walk_into(tree, &entry, in_tests, walk);
            }
            Some(NodeKind::File { .. }) => {
                if !in_tests && name.ends_with(".py") {
                    walk.sources.push(entry.clone());
                }
                walk.entries.push(entry);
            }
            Some(_) => walk.entries.push(entry),
            None => {}
        }
    }
}
