//! Ruby's static `require` closure: a handler that does `require 'json'` or
//! `require 'digest'` only when its route is hit needs `json.rb`, its
//! parts and its C extensions, which profiling never loaded.
//!
//! - Sources: kept `.rb` and `.ru` files, `Gemfile`/`gems.rb` (and
//!   `Gemfile.lock`), and files whose `#!` names ruby. Inside an installed
//!   gem only `lib/` is read: a gem's tests, Rakefile and Gemfile are not
//!   code it loads. rubygems and the other libraries ruby loads before the
//!   app (`PRELUDE`) are read only where the app requires them.
//! - What they load is read without running anything (`loads`): `require`,
//!   `require_relative`, `load`, `autoload`, `gem` and `$LOAD_PATH`
//!   additions, anywhere in the code, with `File.expand_path('x',
//!   __dir__)` and `"#{__dir__}/x"` understood, plus `-r` from the command
//!   line and `RUBYOPT`.
//! - Features are found as ruby finds them (`layout`): `-I` dirs, `RUBYLIB`,
//!   then the interpreter's load path (site, vendor and library dirs, and
//!   their architecture dirs with the C extensions), `x.rb` before `x.so`
//!   across the whole path. The standard library is kept file by file and
//!   read in turn, so its own requires are followed.
//! - A feature no load-path directory has is looked up in the gem homes
//!   (`gems`), as rubygems would; so is one that a default gem provides,
//!   since rubygems activates a newer installed version of a default gem. A
//!   gem used is kept whole, with its gemspec, its built extensions and,
//!   through the gemspecs, its runtime dependencies. A `Gemfile` keeps the
//!   gems it names and those its `Gemfile.lock` locks (bundler activates
//!   them all), and adds the bundle's gem homes.
//! - A name given as a computation (`require lib`, `require
//!   "rdoc/generator/#{name}"`) cannot be followed: the literal directory
//!   it starts in is kept whole, or, without one, the loading library's own
//!   directory (`digest/` beside `digest.rb`, in every load-path dir), and
//!   the file's `%w[…]` words are tried as names.
//! - Encodings are loaded by name the first time a string uses one: with
//!   `enc/encdb.so` come all of `enc/*.so` (0.7 MB in Debian's ruby 3.1).
//!   Transcoders (`enc/trans/`, 2.9 MB, mostly CJK tables) are kept whole
//!   only once one of them besides `transdb.so` is seen used.
//!
//! Why a tokenizer (`lexer`) and not a line scanner: requires stand
//! anywhere (`x = (require 'json'; JSON)`, `-> { require 'csv' }`, after
//! `;`, with a trailing `if`), and Ruby documents its libraries with
//! `require` examples in comments, `=begin` blocks and heredocs (`json.rb`
//! has two dozen), so telling code from text matters more than lines do. No
//! parser crate: a parser rejects whole files it does not understand, and
//! only ruby parses Ruby; the tokenizer is a few hundred lines.
//!
//! Limits: a name built at run time from data (`require params[:lib]`)
//! reaches only the directories above; `Bundler.require` of a Gemfile with
//! `require: 'other/name'` is covered by keeping the gem whole; gems whose
//! gemspec declares require paths other than `lib/` are kept whole only
//! when named, not found by feature.

mod gems;
mod layout;
mod lexer;
mod loads;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use self::gems::{lockfile_gems, Gem, GemIndex};
use self::layout::{bundle_homes, configured_bundle_path, is_dir};
use self::loads::{scan, Loads, Target};
use super::fileset::Reason;
use super::pathwalk::{normalize, resolve};
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// Ruby files larger than this are data, not code worth reading.
const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Lockfiles larger than this are not read.
const MAX_LOCK_BYTES: u64 = 1 << 20;

/// How much of a file without a Ruby name is read to look for a `#!` line.
const SHEBANG_HEAD: u64 = 128;

/// Libraries ruby loads by itself before the app's first line (and
/// `syntax_suggest` on a syntax error). What they need to activate gems
/// they load at start, where profiling sees it; their deferred requires
/// serve the `gem` command, building and fetching gems, and
/// `RUBYGEMS_GEMDEPS` (rubygems.rb's `require "bundler"` alone would bring
/// bundler, rake, net/http, openssl and, through fiddle, glibc's 8 MB gconv
/// set). So their files are read only when the app itself requires them,
/// and requiring the library itself (`require 'rubygems'`) changes nothing.
const PRELUDE: &[&str] = &[
    "rubygems",
    "did_you_mean",
    "error_highlight",
    "syntax_suggest",
    "bundled_gems",
];

#[derive(Default)]
pub struct RubyRule {
    /// Created when the first Ruby file is kept.
    ruby: Option<Ruby>,
}

/// What the rule knows about the image's ruby, and what it has done.
struct Ruby {
    load_path: Vec<PathBuf>,
    gems: GemIndex,
    workdir: PathBuf,
    /// `-r` features from the command line, required before the script.
    preloads: Vec<String>,
    read: BTreeSet<PathBuf>,
    /// Features already looked for in the load path and the gems.
    looked_up: BTreeSet<String>,
    /// Gem directories already kept.
    kept_gems: BTreeSet<PathBuf>,
    /// Real paths of the files the read sources load (as opposed to files
    /// kept because profiling saw them).
    asked: BTreeSet<PathBuf>,
    /// Directories whose Gemfile or lockfile has been looked at.
    bundles: BTreeSet<PathBuf>,
}

enum Kind {
    Source,
    Gemfile,
    Lockfile,
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_file(tree: &dyn FsTree, path: &Path) -> bool {
    resolve(tree, path)
        .is_some_and(|found| matches!(tree.kind(&found.path), Some(NodeKind::File { .. })))
}

fn kind_of(tree: &dyn FsTree, path: &Path) -> Option<Kind> {
    let name = name_of(path);
    match name.as_str() {
        "Gemfile" | "gems.rb" => return Some(Kind::Gemfile),
        "Gemfile.lock" | "gems.locked" => return Some(Kind::Lockfile),
        _ => {}
    }
    if path.extension().is_some_and(|e| e == "rb" || e == "ru") {
        return Some(Kind::Source);
    }
    let head = tree.read(path, SHEBANG_HEAD).ok()?;
    let first_line = head.split(|&b| b == b'\n').next()?;
    (first_line.starts_with(b"#!") && first_line.windows(4).any(|w| w == b"ruby"))
        .then_some(Kind::Source)
}

/// The file names `require` tries for `feature`, in order: `x.rb` then
/// `x.so`, or the name itself when it has one of those extensions.
fn feature_files(feature: &str) -> Vec<String> {
    if feature.ends_with(".rb") || feature.ends_with(".so") {
        vec![feature.to_string()]
    } else {
        vec![format!("{feature}.rb"), format!("{feature}.so")]
    }
}

/// What comes with an encoding database or a transcoder that is kept.
fn encoding_wants(tree: &dyn FsTree, path: &Path) -> Vec<Want> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let name = name_of(path);
    let in_enc = name_of(dir) == "enc";
    let in_trans = name_of(dir) == "trans" && dir.parent().is_some_and(|d| name_of(d) == "enc");
    if in_enc && name == "encdb.so" {
        tree.list(dir)
            .into_iter()
            .filter(|p| name_of(p).ends_with(".so"))
            .map(Want::Path)
            .collect()
    } else if in_trans && name != "transdb.so" && name.ends_with(".so") {
        vec![Want::Tree(dir.to_path_buf())]
    } else {
        Vec::new()
    }
}

impl Ruby {
    fn new(cx: &RuleContext) -> Ruby {
        let workdir = cx
            .run
            .working_dir
            .as_deref()
            .filter(|w| !w.is_empty())
            .map(|w| normalize(Path::new(w)))
            .unwrap_or_else(|| PathBuf::from("/"));
        let options = layout::options(cx.run);
        let mut gems = GemIndex::default();
        for home in layout::gem_homes(cx.tree, cx.run, &workdir) {
            gems.add_home(cx.tree, &home);
        }
        Ruby {
            load_path: layout::load_path(cx.tree, cx.run, &workdir, &options),
            gems,
            workdir,
            preloads: options.requires,
            read: BTreeSet::new(),
            looked_up: BTreeSet::new(),
            kept_gems: BTreeSet::new(),
            asked: BTreeSet::new(),
            bundles: BTreeSet::new(),
        }
    }

    /// Whether the rule reads `path`: not a file in an installed gem but
    /// outside its `lib/`, and not a prelude file the app did not ask for.
    fn worth_reading(&self, path: &Path) -> bool {
        let outside_gem_lib = self
            .gems
            .owner(path)
            .is_some_and(|(_, inside)| !inside.starts_with("lib"));
        !outside_gem_lib && (self.asked.contains(path) || self.prelude_root(path).is_none())
    }

    /// The prelude library `path` belongs to (`rubygems` for
    /// `rubygems/specification.rb` in a load-path directory).
    fn prelude_root(&self, path: &Path) -> Option<&'static str> {
        self.load_path.iter().find_map(|dir| {
            let first = path.strip_prefix(dir).ok()?.components().next()?;
            let first = first.as_os_str().to_string_lossy();
            let stem = first.strip_suffix(".rb").unwrap_or(&first);
            PRELUDE.iter().find(|p| **p == stem).copied()
        })
    }

    /// Keeps the file `path` that a read source loads.
    fn load_file(&mut self, tree: &dyn FsTree, path: PathBuf, wants: &mut Vec<Want>) {
        if let Some(found) = resolve(tree, &path) {
            self.asked.insert(found.path);
        }
        wants.push(Want::Path(path));
    }

    /// The first of `feature`'s file names in the load path, extension by
    /// extension as ruby searches.
    fn in_load_path(&self, tree: &dyn FsTree, feature: &str) -> Option<PathBuf> {
        feature_files(feature).iter().find_map(|name| {
            self.load_path
                .iter()
                .map(|dir| dir.join(name))
                .find(|path| is_file(tree, path))
        })
    }

    /// `require feature`, from a file in `dir`.
    fn require(&mut self, cx: &RuleContext, feature: &str, wants: &mut Vec<Want>) {
        if feature.starts_with('/') || feature.starts_with("./") || feature.starts_with("../") {
            let path = normalize(&self.workdir.join(feature));
            if let Some(file) = first_file(cx.tree, &path) {
                self.load_file(cx.tree, file, wants);
            }
            return;
        }
        if !self.looked_up.insert(feature.to_string()) {
            return;
        }
        let found = self.in_load_path(cx.tree, feature);
        if PRELUDE.contains(&feature) {
            wants.extend(found.map(Want::Path));
            return;
        }
        let providers: Vec<Gem> = self
            .gems
            .providers(cx.tree, feature)
            .into_iter()
            .filter(|gem| found.is_none() || self.gems.is_default(&gem.name))
            .cloned()
            .collect();
        if let Some(file) = found {
            self.load_file(cx.tree, file, wants);
        }
        self.keep_gems(cx, providers, wants);
    }

    /// Keeps `gems` and, through their gemspecs, what they depend on.
    fn keep_gems(&mut self, cx: &RuleContext, mut gems: Vec<Gem>, wants: &mut Vec<Want>) {
        while let Some(gem) = gems.pop() {
            if !self.kept_gems.insert(gem.dir.clone()) {
                continue;
            }
            wants.extend(self.gems.wants(cx.tree, &gem));
            for dependency in self.gems.dependencies(cx.tree, &gem) {
                gems.extend(self.gems.named(&dependency, None).into_iter().cloned());
            }
        }
    }

    fn keep_named_gem(
        &mut self,
        cx: &RuleContext,
        name: &str,
        version: Option<&str>,
        wants: &mut Vec<Want>,
    ) {
        let gems = self
            .gems
            .named(name, version)
            .into_iter()
            .cloned()
            .collect();
        self.keep_gems(cx, gems, wants);
    }

    /// A Gemfile or lockfile in `dir`: the bundle's gem homes, and every locked gem.
    fn bundle(&mut self, cx: &RuleContext, path: &Path, wants: &mut Vec<Want>) {
        let Some(dir) = path.parent() else {
            return;
        };
        if !self.bundles.insert(dir.to_path_buf()) {
            return;
        }
        let config_dir = cx
            .run
            .env_var("BUNDLE_APP_CONFIG")
            .map(|d| normalize(&self.workdir.join(d)))
            .unwrap_or_else(|| dir.join(".bundle"));
        let configured = read_text(cx.tree, &config_dir.join("config"), MAX_LOCK_BYTES)
            .and_then(|config| configured_bundle_path(&config));
        let bundle_paths = [Some("vendor/bundle".to_string()), configured];
        for bundle_path in bundle_paths.into_iter().flatten() {
            for home in bundle_homes(cx.tree, &normalize(&dir.join(bundle_path))) {
                self.gems.add_home(cx.tree, &home);
            }
        }
        for lock in ["Gemfile.lock", "gems.locked"].map(|name| dir.join(name)) {
            let Some(text) = read_text(cx.tree, &lock, MAX_LOCK_BYTES) else {
                continue;
            };
            wants.push(Want::Path(lock));
            for (name, version) in lockfile_gems(&text) {
                self.keep_named_gem(cx, &name, version.as_deref(), wants);
            }
        }
    }

    /// Reads the Ruby file `path` and keeps what it loads.
    fn follow(&mut self, cx: &RuleContext, path: &Path, wants: &mut Vec<Want>) {
        let Some(text) = read_text(cx.tree, path, MAX_SOURCE_BYTES) else {
            return;
        };
        let loads = scan(&text);
        let dir = path.parent().unwrap_or(Path::new("/"));
        // `$LOAD_PATH` is global: what one file adds, later requires search.
        for lib in &loads.lib_dirs {
            let lib = self.place(dir, lib);
            if is_dir(cx.tree, &lib) && !self.load_path.contains(&lib) {
                self.load_path.insert(0, lib);
                self.looked_up.clear();
            }
        }
        for feature in std::mem::take(&mut self.preloads) {
            self.require(cx, &feature, wants);
        }
        for target in &loads.requires {
            match target {
                Target::Feature(feature) => self.require(cx, feature, wants),
                Target::Relative(name) => {
                    if let Some(file) = first_file(cx.tree, &normalize(&dir.join(name))) {
                        self.load_file(cx.tree, file, wants);
                    }
                }
            }
        }
        for target in &loads.loads {
            let found = match target {
                Target::Relative(name) => Some(normalize(&dir.join(name))),
                Target::Feature(name) => std::iter::once(normalize(&self.workdir.join(name)))
                    .chain(self.load_path.iter().map(|d| d.join(name)))
                    .find(|p| is_file(cx.tree, p)),
            };
            if let Some(file) = found.filter(|p| is_file(cx.tree, p)) {
                self.load_file(cx.tree, file, wants);
            }
        }
        for gem in &loads.gems {
            self.keep_named_gem(cx, gem, None, wants);
        }
        if loads.computed {
            self.computed(cx, path, &loads, wants);
        }
    }

    /// Where a `Target` naming a directory is.
    fn place(&self, dir: &Path, target: &Target) -> PathBuf {
        match target {
            Target::Feature(name) => normalize(&self.workdir.join(name)),
            Target::Relative(name) => normalize(&dir.join(name)),
        }
    }

    /// For a file that requires computed names: the literal directories
    /// they start in, or else the file's own directory; and its listed words.
    fn computed(&mut self, cx: &RuleContext, path: &Path, loads: &Loads, wants: &mut Vec<Want>) {
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut dirs: Vec<PathBuf> = Vec::new();
        for target in &loads.computed_dirs {
            match target {
                Target::Feature(name) => {
                    dirs.extend(self.load_path.iter().map(|d| d.join(name)));
                }
                Target::Relative(name) => dirs.push(normalize(&dir.join(name))),
            }
        }
        dirs.retain(|d| is_dir(cx.tree, d));
        if dirs.is_empty() {
            let stem = path.with_extension("");
            let in_load_path = self
                .load_path
                .iter()
                .find_map(|l| stem.strip_prefix(l).ok().map(Path::to_path_buf));
            match in_load_path {
                Some(relative) => dirs.extend(self.load_path.iter().map(|d| d.join(&relative))),
                None => dirs.push(stem),
            }
            dirs.retain(|d| is_dir(cx.tree, d));
        }
        wants.extend(dirs.into_iter().map(Want::Tree));
        for word in &loads.words {
            let feature_like = word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-/".contains(c));
            if feature_like {
                wants.extend(self.in_load_path(cx.tree, word).map(Want::Path));
            }
        }
    }
}

/// The first file `require_relative` would load for `path`.
fn first_file(tree: &dyn FsTree, path: &Path) -> Option<PathBuf> {
    let text = path.to_string_lossy();
    feature_files(&text)
        .into_iter()
        .map(PathBuf::from)
        .find(|p| is_file(tree, p))
}

fn read_text(tree: &dyn FsTree, path: &Path, limit: u64) -> Option<String> {
    let found = resolve(tree, path)?;
    match tree.kind(&found.path)? {
        NodeKind::File { size } if size <= limit => tree
            .read(&found.path, size)
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        _ => None,
    }
}

impl RuntimeRule for RubyRule {
    fn name(&self) -> &'static str {
        "ruby"
    }

    fn reason(&self) -> Reason {
        Reason::Ruby
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut wants = Vec::new();
        let mut bundles = Vec::new();
        let mut sources = Vec::new();
        for path in newly {
            let Some(NodeKind::File { .. }) = cx.tree.kind(path) else {
                continue;
            };
            wants.extend(encoding_wants(cx.tree, path));
            match kind_of(cx.tree, path) {
                Some(Kind::Source) => sources.push(path),
                Some(Kind::Gemfile) => {
                    bundles.push(path);
                    sources.push(path);
                }
                Some(Kind::Lockfile) => bundles.push(path),
                None => {}
            }
        }
        if sources.is_empty() && bundles.is_empty() {
            return wants;
        }
        let ruby = self.ruby.get_or_insert_with(|| Ruby::new(cx));
        // Bundles first: they add the gem homes the sources' requires search.
        for path in bundles {
            if ruby.worth_reading(path) {
                ruby.bundle(cx, path, &mut wants);
            }
        }
        for path in sources {
            if ruby.worth_reading(path) && ruby.read.insert(path.clone()) {
                ruby.follow(cx, path, &mut wants);
            }
        }
        wants
    }
}
