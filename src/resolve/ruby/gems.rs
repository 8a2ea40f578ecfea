//! Installed gems, as rubygems finds them: each gem home (`GEM_HOME`,
//! `/var/lib/gems/3.1.0`, a bundle's `vendor/bundle/ruby/3.1.0`) holds
//! `gems/<name>-<version>/` (its `lib/` is on the load path once the gem is
//! activated), `specifications/<name>-<version>.gemspec` (read to know the
//! gem is installed, and its dependencies), and for a gem with a C
//! extension `extensions/<platform>/<abi>/<name>-<version>/` (also on the
//! load path, and holding `gem.build_complete`, without which rubygems
//! ignores the gem). Bundler's git checkouts live in `bundler/gems/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::super::pathwalk::resolve;
use super::super::rules::Want;
use super::super::tree::FsTree;
use crate::image::node::NodeKind;

/// Gemspecs larger than this are not read for dependencies.
const MAX_SPEC_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gem {
    pub name: String,
    /// `<name>-<version>[-<platform>]`: the name of its directory and gemspec.
    pub full_name: String,
    /// The gem's directory (under `<home>/gems/` or `<home>/bundler/gems/`).
    pub dir: PathBuf,
    pub home: PathBuf,
}

#[derive(Default)]
pub struct GemIndex {
    homes: Vec<PathBuf>,
    gems: Vec<Gem>,
    /// Names of default gems (`specifications/default/`): part of the
    /// standard library, which a newer installed gem of the same name replaces.
    default_names: BTreeSet<String>,
    /// The first component of what a gem's require directories hold
    /// (`rack` for `lib/rack.rb` and `lib/rack/`) → indices into `gems`.
    by_top: BTreeMap<String, Vec<usize>>,
}

/// `rack-2.2.8` → (`rack`, `2.2.8`); `nokogiri-1.15.4-x86_64-linux` →
/// (`nokogiri`, `1.15.4-x86_64-linux`). The version is the first
/// `-`-separated part after the first that starts with a digit.
pub fn split_full_name(full_name: &str) -> Option<(&str, &str)> {
    full_name
        .match_indices('-')
        .map(|(at, _)| (&full_name[..at], &full_name[at + 1..]))
        .find(|(name, rest)| !name.is_empty() && rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn is_dir(tree: &dyn FsTree, path: &Path) -> bool {
    resolve(tree, path).is_some_and(|found| tree.kind(&found.path) == Some(NodeKind::Dir))
}

fn is_file(tree: &dyn FsTree, path: &Path) -> bool {
    resolve(tree, path)
        .is_some_and(|found| matches!(tree.kind(&found.path), Some(NodeKind::File { .. })))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl GemIndex {
    /// Adds the gems of `home` (a directory holding `gems/`), once.
    pub fn add_home(&mut self, tree: &dyn FsTree, home: &Path) {
        if self.homes.iter().any(|h| h == home) || !is_dir(tree, &home.join("gems")) {
            return;
        }
        self.homes.push(home.to_path_buf());
        for spec in tree.list(&home.join("specifications/default")) {
            let full_name = name_of(&spec);
            if let Some((name, _)) = full_name.strip_suffix(".gemspec").and_then(split_full_name) {
                self.default_names.insert(name.to_string());
            }
        }
        let released = tree.list(&home.join("gems")).into_iter().filter_map(|dir| {
            let full_name = name_of(&dir);
            let name = split_full_name(&full_name)?.0.to_string();
            Some((name, full_name, dir))
        });
        // A git checkout is `<name>-<revision>`.
        let checkouts = tree
            .list(&home.join("bundler/gems"))
            .into_iter()
            .filter_map(|dir| {
                let full_name = name_of(&dir);
                let name = full_name.rsplit_once('-')?.0.to_string();
                Some((name, full_name, dir))
            });
        for (name, full_name, dir) in released.chain(checkouts).collect::<Vec<_>>() {
            if !is_dir(tree, &dir) {
                continue;
            }
            let gem = Gem {
                name,
                full_name,
                dir,
                home: home.to_path_buf(),
            };
            let index = self.gems.len();
            for require_dir in self.require_dirs(tree, &gem) {
                for entry in tree.list(&require_dir) {
                    let entry = name_of(&entry);
                    let top = entry
                        .strip_suffix(".rb")
                        .or_else(|| entry.strip_suffix(".so"))
                        .unwrap_or(&entry);
                    let gems = self.by_top.entry(top.to_string()).or_default();
                    if gems.last() != Some(&index) {
                        gems.push(index);
                    }
                }
            }
            self.gems.push(gem);
        }
    }

    pub fn is_default(&self, name: &str) -> bool {
        self.default_names.contains(name)
    }

    /// The directories a gem puts on the load path: `lib/` and its built extensions.
    pub fn require_dirs(&self, tree: &dyn FsTree, gem: &Gem) -> Vec<PathBuf> {
        let mut dirs = vec![gem.dir.join("lib")];
        dirs.extend(extension_dirs(tree, gem));
        dirs.retain(|dir| is_dir(tree, dir));
        dirs
    }

    /// Gems whose require directories hold `feature` (`x` as `x.rb` or `x.so`,
    /// or `x.rb`/`x.so` as given).
    pub fn providers(&self, tree: &dyn FsTree, feature: &str) -> Vec<&Gem> {
        let top = feature.split('/').next().unwrap_or(feature);
        let top = top
            .strip_suffix(".rb")
            .or_else(|| top.strip_suffix(".so"))
            .unwrap_or(top);
        let Some(indices) = self.by_top.get(top) else {
            return Vec::new();
        };
        let names = super::feature_files(feature);
        indices
            .iter()
            .map(|&i| &self.gems[i])
            .filter(|gem| {
                self.require_dirs(tree, gem)
                    .iter()
                    .any(|dir| names.iter().any(|name| is_file(tree, &dir.join(name))))
            })
            .collect()
    }

    /// Every installed version of the gem `name`; only `version` when that one is installed.
    pub fn named(&self, name: &str, version: Option<&str>) -> Vec<&Gem> {
        let all: Vec<&Gem> = self.gems.iter().filter(|g| g.name == name).collect();
        if let Some(version) = version {
            let exact: Vec<&Gem> = all
                .iter()
                .copied()
                .filter(|g| g.full_name == format!("{name}-{version}"))
                .collect();
            if !exact.is_empty() {
                return exact;
            }
        }
        all
    }

    /// The gem whose directory holds `path`, with `path` relative to it.
    pub fn owner<'a>(&self, path: &'a Path) -> Option<(&Gem, &'a Path)> {
        self.gems
            .iter()
            .find_map(|gem| path.strip_prefix(&gem.dir).ok().map(|inside| (gem, inside)))
    }

    /// What keeping `gem` means: its directory, its gemspec (as an
    /// installed or a default gem's) and its built extensions.
    pub fn wants(&self, tree: &dyn FsTree, gem: &Gem) -> Vec<Want> {
        let mut wants = vec![Want::Tree(gem.dir.clone())];
        let specs = gem.home.join("specifications");
        for spec in [
            specs.join(format!("{}.gemspec", gem.full_name)),
            specs.join(format!("default/{}.gemspec", gem.full_name)),
        ] {
            if is_file(tree, &spec) {
                wants.push(Want::Path(spec));
            }
        }
        wants.extend(extension_dirs(tree, gem).into_iter().map(Want::Tree));
        wants
    }

    /// The runtime dependencies `gem`'s gemspec names.
    pub fn dependencies(&self, tree: &dyn FsTree, gem: &Gem) -> Vec<String> {
        let spec = gem
            .home
            .join("specifications")
            .join(format!("{}.gemspec", gem.full_name));
        let Some(found) = resolve(tree, &spec) else {
            return Vec::new();
        };
        match tree.read(&found.path, MAX_SPEC_BYTES) {
            Ok(bytes) => spec_dependencies(&String::from_utf8_lossy(&bytes)),
            Err(_) => Vec::new(),
        }
    }
}

/// `<home>/extensions/<platform>/<abi>/<full name>/` directories.
fn extension_dirs(tree: &dyn FsTree, gem: &Gem) -> Vec<PathBuf> {
    tree.list(&gem.home.join("extensions"))
        .into_iter()
        .flat_map(|platform| tree.list(&platform))
        .map(|abi| abi.join(&gem.full_name))
        .filter(|dir| is_dir(tree, dir))
        .collect()
}

/// Runtime dependencies in a gemspec: `add_runtime_dependency(%q<rack>…)`.
/// Old-style gemspecs repeat every dependency, development ones included,
/// as `add_dependency` in a fallback branch: those count only when there is
/// no `add_runtime_dependency` at all.
pub fn spec_dependencies(spec: &str) -> Vec<String> {
    let named = |call: &str| -> BTreeSet<String> {
        spec.match_indices(call)
            .filter_map(|(at, _)| {
                let rest = spec[at + call.len()..].trim_start_matches(['(', ' ']);
                let (open, close) = if let Some(r) = rest.strip_prefix("%q<") {
                    (r, '>')
                } else if let Some(r) = rest.strip_prefix(['"', '\'']) {
                    (r, rest.chars().next()?)
                } else {
                    return None;
                };
                let name = &open[..open.find(close)?];
                (!name.is_empty()).then(|| name.to_string())
            })
            .collect()
    };
    let runtime = named(".add_runtime_dependency");
    let deps = if runtime.is_empty() {
        named(".add_dependency")
    } else {
        runtime
    };
    deps.into_iter().collect()
}

/// The gems a `Gemfile.lock` locks: `    name (version)` under each `specs:`,
/// and the `DEPENDENCIES` (version `None`).
pub fn lockfile_gems(lock: &str) -> Vec<(String, Option<String>)> {
    let mut gems = Vec::new();
    let mut section = "";
    for line in lock.lines() {
        if !line.starts_with(' ') {
            section = line.trim();
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let entry = line.trim();
        let (name, version) = match entry.split_once(" (") {
            Some((name, rest)) => (name, Some(rest.trim_end_matches(')').to_string())),
            None => (entry, None),
        };
        let name = name.trim_end_matches('!');
        let wanted = match section {
            "DEPENDENCIES" => indent == 2,
            "GEM" | "GIT" | "PATH" => indent == 4,
            _ => false,
        };
        if wanted && !name.is_empty() && !name.ends_with(':') {
            gems.push((name.to_string(), version.filter(|_| indent == 4)));
        }
    }
    gems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gem_directory_names_split_into_name_and_version() {
        assert_eq!(split_full_name("rack-2.2.8"), Some(("rack", "2.2.8")));
        assert_eq!(
            split_full_name("net-http-0.4.1"),
            Some(("net-http", "0.4.1"))
        );
        assert_eq!(
            split_full_name("nokogiri-1.15.4-x86_64-linux"),
            Some(("nokogiri", "1.15.4-x86_64-linux"))
        );
        assert_eq!(split_full_name("x25519-1.0.10"), Some(("x25519", "1.0.10")));
        assert_eq!(split_full_name("noversion"), None);
    }

    #[test]
    fn runtime_dependencies_are_read_from_gemspecs() {
        let modern = r#"
  s.add_runtime_dependency(%q<rexml>.freeze, [">= 0"])
  s.add_development_dependency(%q<rake>.freeze, [">= 0"])
  s.add_dependency(%q<rake>.freeze, [">= 0"])
  s.add_dependency(%q<test-unit>.freeze, [">= 0"])
"#;
        assert_eq!(spec_dependencies(modern), ["rexml"]);
        let plain = "  spec.add_dependency \"rack\", \"~> 2.0\"\n  spec.add_dependency('tilt')\n";
        assert_eq!(spec_dependencies(plain), ["rack", "tilt"]);
    }

    #[test]
    fn lockfiles_list_locked_gems_with_versions() {
        let lock = "GEM\n  remote: https://rubygems.org/\n  specs:\n    mustermann (3.0.0)\n      ruby2_keywords (~> 0.0.1)\n    sinatra (3.1.0)\n\nPLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n  sinatra!\n\nBUNDLED WITH\n   2.4.10\n";
        assert_eq!(
            lockfile_gems(lock),
            [
                ("mustermann".to_string(), Some("3.0.0".to_string())),
                ("sinatra".to_string(), Some("3.1.0".to_string())),
                ("sinatra".to_string(), None),
            ]
        );
    }
}
