//! Where ruby looks for what it loads: the load path (`$LOAD_PATH`) and the
//! gem homes, in the layouts of Debian and Ubuntu, Alpine, RHEL and the
//! official ruby image (built with prefix `/usr/local`), plus what the
//! image's ENV and command line add. Version and architecture directories
//! are found by listing, not assumed.

use std::path::{Path, PathBuf};

use super::super::pathwalk::{normalize, resolve};
use super::super::tree::FsTree;
use crate::image::config::RunConfig;
use crate::image::node::NodeKind;

/// `$LOAD_PATH` in ruby's order. `{ver}` is a directory named like
/// `3.1.0`, `{arch}` one named like `x86_64-linux-gnu`.
const LOAD_PATH_PATTERNS: &[&str] = &[
    // Debian and Ubuntu: `ruby -e 'puts $:'`.
    "/usr/local/lib/site_ruby/{ver}",
    "/usr/local/lib/site_ruby/{ver}/{arch}",
    "/usr/local/lib/{arch}/site_ruby",
    "/usr/local/lib/site_ruby",
    "/usr/lib/ruby/vendor_ruby/{ver}",
    "/usr/lib/{arch}/ruby/vendor_ruby/{ver}",
    "/usr/lib/ruby/vendor_ruby",
    "/usr/lib/ruby/{ver}",
    "/usr/lib/{arch}/ruby/{ver}",
    // Built from source, prefix /usr/local (the official image) or /usr (Alpine).
    "/usr/local/lib/ruby/site_ruby/{ver}",
    "/usr/local/lib/ruby/site_ruby/{ver}/{arch}",
    "/usr/local/lib/ruby/site_ruby",
    "/usr/local/lib/ruby/vendor_ruby/{ver}",
    "/usr/local/lib/ruby/vendor_ruby/{ver}/{arch}",
    "/usr/local/lib/ruby/vendor_ruby",
    "/usr/local/lib/ruby/{ver}",
    "/usr/local/lib/ruby/{ver}/{arch}",
    "/usr/lib/ruby/site_ruby/{ver}",
    "/usr/lib/ruby/site_ruby/{ver}/{arch}",
    "/usr/lib/ruby/site_ruby",
    "/usr/lib/ruby/vendor_ruby/{ver}/{arch}",
    "/usr/lib/ruby/{ver}/{arch}",
    // RHEL and Fedora.
    "/usr/local/share/ruby/site_ruby",
    "/usr/local/lib64/ruby/site_ruby",
    "/usr/share/ruby/vendor_ruby",
    "/usr/lib64/ruby/vendor_ruby",
    "/usr/share/ruby",
    "/usr/lib64/ruby",
];

/// Gem homes: directories holding `gems/`, `specifications/`, `extensions/`.
const GEM_HOME_PATTERNS: &[&str] = &[
    "/var/lib/gems/{ver}",
    "/usr/local/lib/ruby/gems/{ver}",
    "/usr/lib/ruby/gems/{ver}",
    "/usr/lib/{arch}/ruby/gems/{ver}",
    "/usr/share/rubygems-integration/{ver}",
    "/usr/share/rubygems-integration/all",
    "/usr/lib/{arch}/rubygems-integration/{ver}",
    // The official image's GEM_HOME, and a BUNDLE_PATH of /usr/local/bundle.
    "/usr/local/bundle",
    "/usr/local/bundle/ruby/{ver}",
    "/usr/share/gems",
    "/usr/local/share/gems",
    // `gem install --user-install`.
    "/root/.gem/ruby/{ver}",
    "/root/.local/share/gem/ruby/{ver}",
    "/home/*/.gem/ruby/{ver}",
    "/home/*/.local/share/gem/ruby/{ver}",
];

fn is_version(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn is_arch(name: &str) -> bool {
    name.contains("-linux")
}

pub fn is_dir(tree: &dyn FsTree, path: &Path) -> bool {
    resolve(tree, path).is_some_and(|found| tree.kind(&found.path) == Some(NodeKind::Dir))
}

/// The directories matching `pattern` (`{ver}`, `{arch}` and `*` match one
/// component each), in sorted order.
pub fn expand(tree: &dyn FsTree, pattern: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/")];
    for part in pattern.trim_start_matches('/').split('/') {
        dirs = dirs
            .into_iter()
            .flat_map(|dir| {
                let matches = |test: fn(&str) -> bool| {
                    tree.list(&dir)
                        .into_iter()
                        .filter(|entry| {
                            entry
                                .file_name()
                                .is_some_and(|n| test(&n.to_string_lossy()))
                        })
                        .collect::<Vec<_>>()
                };
                match part {
                    "{ver}" => matches(is_version),
                    "{arch}" => matches(is_arch),
                    "*" => matches(|_| true),
                    name => vec![dir.join(name)],
                }
            })
            .filter(|dir| is_dir(tree, dir))
            .collect();
    }
    dirs
}

/// What ruby's own options add: `-I dir` and `-r feature`, from the
/// image's command line (after an argument naming ruby) and `RUBYOPT`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub include: Vec<String>,
    pub requires: Vec<String>,
}

pub fn options(run: &RunConfig) -> Options {
    let mut options = Options::default();
    let argv = run.argv();
    let after_ruby = argv
        .iter()
        .position(|arg| {
            Path::new(arg)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ruby"))
        })
        .map(|at| argv[at + 1..].to_vec())
        .unwrap_or_default();
    let rubyopt: Vec<String> = run
        .env_var("RUBYOPT")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    for args in [after_ruby, rubyopt] {
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (list, value) = if let Some(value) = arg.strip_prefix("-I") {
                (&mut options.include, value.to_string())
            } else if let Some(value) = arg.strip_prefix("-r") {
                (&mut options.requires, value.to_string())
            } else if arg.starts_with('-') && arg != "-" && arg != "--" {
                continue;
            } else {
                // The script: what follows is its own arguments.
                break;
            };
            let value = if value.is_empty() {
                args.next().unwrap_or_default()
            } else {
                value
            };
            if !value.is_empty() {
                list.push(value);
            }
        }
    }
    options
}

/// The load path: `-I` dirs, `RUBYLIB`, then the interpreter's own.
pub fn load_path(
    tree: &dyn FsTree,
    run: &RunConfig,
    workdir: &Path,
    options: &Options,
) -> Vec<PathBuf> {
    let rubylib = run.env_var("RUBYLIB").unwrap_or("");
    let mut dirs: Vec<PathBuf> = options
        .include
        .iter()
        .map(String::as_str)
        .chain(rubylib.split(':').filter(|d| !d.is_empty()))
        .map(|dir| normalize(&workdir.join(dir)))
        .chain(LOAD_PATH_PATTERNS.iter().flat_map(|p| expand(tree, p)))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// Gem homes from `GEM_HOME`, `GEM_PATH`, `BUNDLE_PATH`, the working
/// directory's `vendor/bundle`, and the usual places.
pub fn gem_homes(tree: &dyn FsTree, run: &RunConfig, workdir: &Path) -> Vec<PathBuf> {
    let mut homes = Vec::new();
    for var in ["GEM_HOME", "GEM_PATH"] {
        for dir in run
            .env_var(var)
            .unwrap_or("")
            .split(':')
            .filter(|d| !d.is_empty())
        {
            homes.push(normalize(&workdir.join(dir)));
        }
    }
    if let Some(path) = run.env_var("BUNDLE_PATH") {
        homes.extend(bundle_homes(tree, &normalize(&workdir.join(path))));
    }
    homes.extend(bundle_homes(tree, &workdir.join("vendor/bundle")));
    homes.extend(GEM_HOME_PATTERNS.iter().flat_map(|p| expand(tree, p)));
    homes
}

/// A bundle path holds gems itself or, usually, in `ruby/<version>/`.
pub fn bundle_homes(tree: &dyn FsTree, path: &Path) -> Vec<PathBuf> {
    let mut homes = vec![path.to_path_buf()];
    homes.extend(expand(tree, &format!("{}/ruby/{{ver}}", path.display())));
    homes
}

/// `BUNDLE_PATH` from a bundler config file (`.bundle/config`).
pub fn configured_bundle_path(config: &str) -> Option<String> {
    config.lines().find_map(|line| {
        let value = line.trim().strip_prefix("BUNDLE_PATH:")?;
        let value = value.trim().trim_matches(['"', '\'']);
        (!value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;

    #[test]
    fn versions_and_architectures_are_found_by_listing() {
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "usr/lib/ruby/3.1.0",
            "usr/lib/ruby/3.3.0",
            "usr/lib/ruby/vendor_ruby",
            "usr/lib/x86_64-linux-gnu/ruby/3.1.0",
            "usr/lib/ruby/gems/3.1.0/gems",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let tree = HostTree::new(root.path());
        assert_eq!(
            expand(&tree, "/usr/lib/ruby/{ver}"),
            [
                PathBuf::from("/usr/lib/ruby/3.1.0"),
                "/usr/lib/ruby/3.3.0".into()
            ]
        );
        assert_eq!(
            expand(&tree, "/usr/lib/{arch}/ruby/{ver}"),
            [PathBuf::from("/usr/lib/x86_64-linux-gnu/ruby/3.1.0")]
        );
        let run = RunConfig {
            env: Some(vec!["RUBYLIB=/opt/lib:rel".into()]),
            cmd: Some(vec![
                "ruby".into(),
                "-Ilib".into(),
                "-I".into(),
                "/x".into(),
                "app.rb".into(),
                "-Inot".into(),
            ]),
            ..RunConfig::default()
        };
        let options = options(&run);
        assert_eq!(options.include, ["lib", "/x"]);
        let path = load_path(&tree, &run, Path::new("/srv/app"), &options);
        let shown: Vec<String> = path.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            shown,
            [
                "/srv/app/lib",
                "/x",
                "/opt/lib",
                "/srv/app/rel",
                "/usr/lib/ruby/vendor_ruby",
                "/usr/lib/ruby/3.1.0",
                "/usr/lib/ruby/3.3.0",
                "/usr/lib/x86_64-linux-gnu/ruby/3.1.0",
            ]
        );
    }

    #[test]
    fn ruby_options_come_from_the_command_line_and_rubyopt() {
        let run = RunConfig {
            entrypoint: Some(vec!["bundle".into(), "exec".into()]),
            cmd: Some(vec![
                "/usr/bin/ruby3.1".into(),
                "-rjson".into(),
                "-w".into(),
                "-r".into(),
                "set".into(),
                "app.rb".into(),
            ]),
            env: Some(vec!["RUBYOPT=-rbundler/setup -W0".into()]),
            ..RunConfig::default()
        };
        assert_eq!(
            options(&run),
            Options {
                include: vec![],
                requires: vec!["json".into(), "set".into(), "bundler/setup".into()],
            }
        );
        assert_eq!(
            configured_bundle_path(
                "---\nBUNDLE_PATH: \"vendor/bundle\"\nBUNDLE_WITHOUT: \"dev\"\n"
            ),
            Some("vendor/bundle".into())
        );
    }
}
