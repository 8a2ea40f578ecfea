//! The Ruby rule over temp trees laid out like Debian's ruby 3.1.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::resolve::rules::test_support::{context_for, context_with_env, touch, write, Fixture};

const RUBYLIB: &str = "/usr/lib/ruby/3.1.0";
const VENDOR: &str = "/usr/lib/ruby/vendor_ruby";
const ARCH: &str = "/usr/lib/x86_64-linux-gnu/ruby/3.1.0";
const GEMS: &str = "/var/lib/gems/3.1.0";

/// A small standard library: json (with its C extension), digest (which
/// requires its parts by computed names), time → date → date_core.so, set.
fn debian_ruby(root: &Path) {
    write(root, &format!("{RUBYLIB}/json.rb"),
        "require 'json/common'\n# require 'json/add/core'\n=begin\nrequire 'json/add/complex'\n=end\nbegin\n  require 'json/ext'\nrescue LoadError\n  require 'json/pure'\nend\n");
    write(
        root,
        &format!("{RUBYLIB}/json/common.rb"),
        "require 'json/version'\n",
    );
    touch(root, &format!("{RUBYLIB}/json/version.rb"));
    write(root, &format!("{RUBYLIB}/json/ext.rb"), "require 'json/common'\nmodule JSON\n  require 'json/ext/parser'\n  require 'json/ext/generator'\nend\n");
    touch(root, &format!("{RUBYLIB}/json/add/core.rb"));
    touch(root, &format!("{RUBYLIB}/json/add/complex.rb"));
    touch(root, &format!("{ARCH}/json/ext/parser.so"));
    touch(root, &format!("{ARCH}/json/ext/generator.so"));
    write(root, &format!("{RUBYLIB}/digest.rb"),
        "require 'digest/loader'\ndef self.const_missing(name)\n  lib = File.join('digest', name.to_s.downcase)\n  require lib\nend\n");
    write(
        root,
        &format!("{RUBYLIB}/digest/loader.rb"),
        "require 'digest.so'\n",
    );
    write(
        root,
        &format!("{RUBYLIB}/digest/sha2.rb"),
        "require 'digest'\nrequire 'digest/sha2/loader'\n",
    );
    write(
        root,
        &format!("{RUBYLIB}/digest/sha2/loader.rb"),
        "require 'digest/sha2.so'\n",
    );
    touch(root, &format!("{ARCH}/digest.so"));
    touch(root, &format!("{ARCH}/digest/sha2.so"));
    touch(root, &format!("{ARCH}/digest/md5.so"));
    write(root, &format!("{RUBYLIB}/time.rb"), "require 'date'\n");
    write(root, &format!("{RUBYLIB}/date.rb"), "require 'date_core'\n");
    touch(root, &format!("{ARCH}/date_core.so"));
    write(
        root,
        &format!("{RUBYLIB}/set.rb"),
        "autoload :SortedSet, \"#{__dir__}/set/sorted_set\"\n",
    );
    touch(root, &format!("{RUBYLIB}/set/sorted_set.rb"));
    touch(root, &format!("{RUBYLIB}/unused.rb"));
    touch(root, &format!("{VENDOR}/rubygems.rb"));
}

/// Runs the rule from `start` the way `keep_set` does: what it asks for is
/// kept (trees file by file) and fed back until nothing new comes.
fn closure(fixture: &Fixture, start: &[&str]) -> BTreeSet<PathBuf> {
    let mut rule = RubyRule::default();
    let mut kept: BTreeSet<PathBuf> = start.iter().map(PathBuf::from).collect();
    let mut newly: Vec<PathBuf> = kept.iter().cloned().collect();
    while !newly.is_empty() {
        let mut next = Vec::new();
        for want in rule.expand(&fixture.context(), &newly) {
            let paths = match want {
                Want::Path(path) => vec![resolve(fixture.tree, &path).unwrap().path],
                Want::Tree(dir) => files_below(fixture.tree, &dir),
            };
            next.extend(paths.into_iter().filter(|p| kept.insert(p.clone())));
        }
        next.sort();
        newly = next;
    }
    kept
}

fn files_below(tree: &dyn FsTree, dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.to_path_buf()];
    for entry in tree.list(dir) {
        match tree.kind(&entry) {
            Some(NodeKind::Dir) => files.extend(files_below(tree, &entry)),
            _ => files.push(entry),
        }
    }
    files
}

fn assert_kept(kept: &BTreeSet<PathBuf>, paths: &[String]) {
    for path in paths {
        assert!(kept.contains(Path::new(path)), "{path} not kept: {kept:#?}");
    }
}

fn assert_not_kept(kept: &BTreeSet<PathBuf>, paths: &[String]) {
    for path in paths {
        assert!(!kept.contains(Path::new(path)), "{path} kept: {kept:#?}");
    }
}

#[test]
fn handler_requires_keep_the_stdlib_closure_with_c_extensions() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    write(
        r,
        "/srv/app/app.rb",
        r#"require 'socket'
ROUTES = {
  '/json' => -> { require 'json'; JSON.generate({}) },
  '/digest' => lambda do
    require "digest/sha2"
  end,
  '/time' => proc { x = (require('time')) if true },
}
def set_route = require('set')
puts "require 'unused'" # require 'unused'
"#,
    );
    let kept = closure(&context_for(r), &["/srv/app/app.rb"]);
    assert_kept(
        &kept,
        &[
            format!("{RUBYLIB}/json.rb"),
            format!("{RUBYLIB}/json/common.rb"),
            format!("{RUBYLIB}/json/version.rb"),
            format!("{RUBYLIB}/json/ext.rb"),
            format!("{ARCH}/json/ext/parser.so"),
            format!("{ARCH}/json/ext/generator.so"),
            format!("{RUBYLIB}/digest/sha2.rb"),
            format!("{RUBYLIB}/digest.rb"),
            format!("{RUBYLIB}/digest/sha2/loader.rb"),
            format!("{ARCH}/digest/sha2.so"),
            format!("{ARCH}/digest.so"),
            format!("{RUBYLIB}/time.rb"),
            format!("{RUBYLIB}/date.rb"),
            format!("{ARCH}/date_core.so"),
            format!("{RUBYLIB}/set.rb"),
            format!("{RUBYLIB}/set/sorted_set.rb"),
        ],
    );
    // digest.rb requires `File.join('digest', name)`: the digest directories
    // come whole, in the library and the arch directory.
    assert_kept(&kept, &[format!("{ARCH}/digest/md5.so")]);
    // Named only in comments, =begin blocks and strings.
    assert_not_kept(
        &kept,
        &[
            format!("{RUBYLIB}/json/add/core.rb"),
            format!("{RUBYLIB}/json/add/complex.rb"),
            format!("{RUBYLIB}/unused.rb"),
        ],
    );
}

#[test]
fn rb_is_found_before_so_across_the_whole_load_path_and_site_dirs_first() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // `x.so` in the arch dir comes earlier in $LOAD_PATH than the library's
    // `x.rb`, which still wins; a vendor_ruby file shadows the library's.
    touch(r, &format!("{RUBYLIB}/both.rb"));
    touch(r, &format!("{ARCH}/both.so"));
    touch(r, "/usr/local/lib/site_ruby/3.1.0/both.so");
    touch(r, &format!("{VENDOR}/shadowed.rb"));
    touch(r, &format!("{RUBYLIB}/shadowed.rb"));
    write(r, "/app/main.rb", "require 'both'\nrequire 'shadowed'\n");
    let kept = closure(&context_for(r), &["/app/main.rb"]);
    assert_kept(
        &kept,
        &[
            format!("{RUBYLIB}/both.rb"),
            format!("{VENDOR}/shadowed.rb"),
        ],
    );
    assert_not_kept(
        &kept,
        &[
            format!("{ARCH}/both.so"),
            "/usr/local/lib/site_ruby/3.1.0/both.so".into(),
            format!("{RUBYLIB}/shadowed.rb"),
        ],
    );
}

/// A gem home with rack (depending on webrick), a gem with a C extension,
/// and an unused gem.
fn gem_home(root: &Path) {
    write(
        root,
        &format!("{GEMS}/gems/rack-2.2.8/lib/rack.rb"),
        "require 'rack/version'\n",
    );
    touch(root, &format!("{GEMS}/gems/rack-2.2.8/lib/rack/version.rb"));
    touch(
        root,
        &format!("{GEMS}/gems/rack-2.2.8/lib/rack/handler/puma.rb"),
    );
    write(
        root,
        &format!("{GEMS}/gems/rack-2.2.8/test/spec_rack.rb"),
        "require 'minitest/autorun'\n",
    );
    write(
        root,
        &format!("{GEMS}/gems/rack-2.2.8/Gemfile"),
        "gem 'minitest'\n",
    );
    write(root, &format!("{GEMS}/specifications/rack-2.2.8.gemspec"),
        "  s.add_runtime_dependency(%q<webrick>.freeze, [\">= 0\"])\n  s.add_development_dependency(%q<minitest>.freeze, [\">= 0\"])\n");
    touch(root, &format!("{GEMS}/gems/webrick-1.8.1/lib/webrick.rb"));
    touch(
        root,
        &format!("{GEMS}/specifications/webrick-1.8.1.gemspec"),
    );
    touch(
        root,
        &format!("{GEMS}/gems/minitest-5.15.0/lib/minitest/autorun.rb"),
    );
    touch(
        root,
        &format!("{GEMS}/specifications/minitest-5.15.0.gemspec"),
    );
    touch(
        root,
        &format!("{GEMS}/gems/nokogiri-1.15.4/lib/nokogiri.rb"),
    );
    touch(
        root,
        &format!("{GEMS}/specifications/nokogiri-1.15.4.gemspec"),
    );
    touch(
        root,
        &format!("{GEMS}/extensions/x86_64-linux/3.1.0/nokogiri-1.15.4/gem.build_complete"),
    );
    touch(
        root,
        &format!("{GEMS}/extensions/x86_64-linux/3.1.0/nokogiri-1.15.4/nokogiri/nokogiri.so"),
    );
    touch(root, &format!("{GEMS}/gems/bcrypt-3.1.19/lib/bcrypt.rb"));
    touch(
        root,
        &format!("{GEMS}/extensions/x86_64-linux/3.1.0/bcrypt-3.1.19/bcrypt_ext.so"),
    );
    touch(root, &format!("{GEMS}/gems/unused-1.0.0/lib/unused.rb"));
    touch(root, &format!("{GEMS}/specifications/unused-1.0.0.gemspec"));
}

#[test]
fn gems_are_kept_whole_with_gemspec_extensions_and_dependencies() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    gem_home(r);
    write(r, "/srv/app/config.ru",
        "require 'rack'\nrequire 'nokogiri/nokogiri'\nrequire 'bcrypt_ext'\nrun ->(env) { [200, {}, ['ok']] }\n");
    let kept = closure(&context_for(r), &["/srv/app/config.ru"]);
    assert_kept(
        &kept,
        &[
            format!("{GEMS}/gems/rack-2.2.8/lib/rack.rb"),
            format!("{GEMS}/gems/rack-2.2.8/lib/rack/handler/puma.rb"),
            format!("{GEMS}/gems/rack-2.2.8/test/spec_rack.rb"),
            format!("{GEMS}/specifications/rack-2.2.8.gemspec"),
            // A runtime dependency, from the gemspec.
            format!("{GEMS}/gems/webrick-1.8.1/lib/webrick.rb"),
            format!("{GEMS}/specifications/webrick-1.8.1.gemspec"),
            // Found through the extension dir; the gem and its build marker come along.
            format!("{GEMS}/gems/nokogiri-1.15.4/lib/nokogiri.rb"),
            format!("{GEMS}/extensions/x86_64-linux/3.1.0/nokogiri-1.15.4/gem.build_complete"),
            format!("{GEMS}/extensions/x86_64-linux/3.1.0/nokogiri-1.15.4/nokogiri/nokogiri.so"),
            format!("{GEMS}/extensions/x86_64-linux/3.1.0/bcrypt-3.1.19/bcrypt_ext.so"),
        ],
    );
    // Development dependencies, and what a gem's tests and Gemfile name, are not used.
    assert_not_kept(
        &kept,
        &[
            format!("{GEMS}/gems/minitest-5.15.0/lib/minitest/autorun.rb"),
            format!("{GEMS}/gems/unused-1.0.0/lib/unused.rb"),
        ],
    );
}

#[test]
fn a_newer_gem_of_a_default_gem_comes_with_the_stdlib_file() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    touch(
        r,
        "/usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec",
    );
    std::fs::create_dir_all(r.join("usr/lib/ruby/gems/3.1.0/gems/json-2.6.1")).unwrap();
    touch(r, &format!("{GEMS}/gems/json-2.7.1/lib/json.rb"));
    // Not a default gem: the load path's set.rb is what ruby loads.
    touch(r, &format!("{GEMS}/gems/set-shim-0.1.0/lib/set.rb"));
    write(r, "/app/main.rb", "require 'json'\nrequire 'set'\n");
    let kept = closure(&context_for(r), &["/app/main.rb"]);
    assert_kept(
        &kept,
        &[
            format!("{RUBYLIB}/json.rb"),
            format!("{GEMS}/gems/json-2.7.1/lib/json.rb"),
        ],
    );
    assert_not_kept(&kept, &[format!("{GEMS}/gems/set-shim-0.1.0/lib/set.rb")]);
}

#[test]
fn a_gemfile_keeps_named_and_locked_gems_from_the_bundle() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    let bundle = "/srv/app/vendor/bundle/ruby/3.1.0";
    write(
        r,
        "/srv/app/Gemfile",
        "source 'https://rubygems.org'\ngem 'sinatra', '~> 3.0'\n# gem 'commented'\n",
    );
    write(r, "/srv/app/Gemfile.lock",
        "GEM\n  remote: https://rubygems.org/\n  specs:\n    mustermann (3.0.0)\n    sinatra (3.1.0)\n      mustermann (~> 3.0)\n\nDEPENDENCIES\n  sinatra (~> 3.0)\n");
    touch(r, &format!("{bundle}/gems/sinatra-3.1.0/lib/sinatra.rb"));
    touch(r, &format!("{bundle}/specifications/sinatra-3.1.0.gemspec"));
    touch(
        r,
        &format!("{bundle}/gems/mustermann-3.0.0/lib/mustermann.rb"),
    );
    touch(r, &format!("{bundle}/gems/commented-1.0/lib/commented.rb"));
    touch(
        r,
        &format!("{bundle}/gems/mustermann-2.0.0/lib/mustermann.rb"),
    );
    let kept = closure(&context_for(r), &["/srv/app/Gemfile"]);
    assert_kept(
        &kept,
        &[
            "/srv/app/Gemfile.lock".into(),
            format!("{bundle}/gems/sinatra-3.1.0/lib/sinatra.rb"),
            format!("{bundle}/specifications/sinatra-3.1.0.gemspec"),
            format!("{bundle}/gems/mustermann-3.0.0/lib/mustermann.rb"),
        ],
    );
    // The lock pins mustermann 3.0.0.
    assert_not_kept(
        &kept,
        &[
            format!("{bundle}/gems/commented-1.0/lib/commented.rb"),
            format!("{bundle}/gems/mustermann-2.0.0/lib/mustermann.rb"),
        ],
    );
}

#[test]
fn command_line_env_relative_and_load_forms_are_followed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    write(r, "/srv/app/bin/server", "#!/usr/bin/env ruby\nrequire 'helper'\nrequire './config/boot'\nrequire_relative '../lib/routes'\nload 'tasks/seed.rb'\n$LOAD_PATH.unshift File.expand_path('../vendor', __dir__)\nrequire 'vendored'\n");
    touch(r, "/srv/app/lib/helper.rb");
    touch(r, "/srv/app/config/boot.rb");
    touch(r, "/srv/app/lib/routes.rb");
    touch(r, "/srv/app/tasks/seed.rb");
    touch(r, "/srv/app/vendor/vendored.rb");
    touch(r, "/opt/extra/extra.rb");
    write(
        r,
        "/srv/app/notes.sh",
        "#!/bin/sh\n# require 'set'\necho \"require 'set'\"\n",
    );
    let mut fixture = context_with_env(r, &["RUBYLIB=/opt/extra", "RUBYOPT=-rextra"]);
    fixture.run.cmd = Some(vec![
        "ruby".into(),
        "-Ilib".into(),
        "-rtime".into(),
        "bin/server".into(),
    ]);
    fixture.run.working_dir = Some("/srv/app".into());
    let kept = closure(&fixture, &["/srv/app/bin/server", "/srv/app/notes.sh"]);
    assert_kept(
        &kept,
        &[
            "/srv/app/lib/helper.rb".into(),
            "/srv/app/config/boot.rb".into(),
            "/srv/app/lib/routes.rb".into(),
            "/srv/app/tasks/seed.rb".into(),
            "/srv/app/vendor/vendored.rb".into(),
            "/opt/extra/extra.rb".into(),
            format!("{RUBYLIB}/time.rb"),
        ],
    );
    // A shell script's words are not Ruby.
    assert_not_kept(&kept, &[format!("{RUBYLIB}/set.rb")]);
}

#[test]
fn computed_names_keep_their_directory_and_listed_words() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    write(
        r,
        &format!("{RUBYLIB}/plugins.rb"),
        "%w[json set].each { |f| require f }\ndef load_one(n) = require(\"plugins/#{n}\")\n",
    );
    touch(r, &format!("{RUBYLIB}/plugins/alpha.rb"));
    write(
        r,
        &format!("{RUBYLIB}/bare.rb"),
        "def pick(lib) = require(lib)\n",
    );
    touch(r, &format!("{RUBYLIB}/bare/one.rb"));
    touch(r, &format!("{ARCH}/bare/two.so"));
    touch(r, &format!("{RUBYLIB}/bystander/three.rb"));
    write(r, "/app/main.rb", "require 'plugins'\nrequire 'bare'\n");
    let kept = closure(&context_for(r), &["/app/main.rb"]);
    assert_kept(
        &kept,
        &[
            format!("{RUBYLIB}/plugins/alpha.rb"),
            format!("{RUBYLIB}/json.rb"),
            format!("{RUBYLIB}/set.rb"),
            format!("{RUBYLIB}/bare/one.rb"),
            format!("{ARCH}/bare/two.so"),
        ],
    );
    assert_not_kept(&kept, &[format!("{RUBYLIB}/bystander/three.rb")]);
}

#[test]
fn encodings_come_with_the_encoding_database_and_transcoders_once_one_is_used() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for file in [
        "encdb.so",
        "iso_8859_1.so",
        "big5.so",
        "trans/transdb.so",
        "trans/big5.so",
        "trans/single_byte.so",
    ] {
        touch(r, &format!("{ARCH}/enc/{file}"));
    }
    touch(r, "/app/main.rb");
    let fixture = context_for(r);
    let kept = closure(
        &fixture,
        &[
            "/app/main.rb",
            &format!("{ARCH}/enc/encdb.so"),
            &format!("{ARCH}/enc/trans/transdb.so"),
        ],
    );
    assert_kept(
        &kept,
        &[
            format!("{ARCH}/enc/iso_8859_1.so"),
            format!("{ARCH}/enc/big5.so"),
        ],
    );
    assert_not_kept(&kept, &[format!("{ARCH}/enc/trans/big5.so")]);
    let kept = closure(&fixture, &[&format!("{ARCH}/enc/trans/single_byte.so")]);
    assert_kept(&kept, &[format!("{ARCH}/enc/trans/big5.so")]);
}

#[test]
fn nothing_happens_without_ruby_files() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    write(r, "/app/readme.txt", "require 'json'\n");
    let fixture = context_for(r);
    let mut rule = RubyRule::default();
    assert!(rule
        .expand(&fixture.context(), &["/app/readme.txt".into()])
        .is_empty());
    assert!(rule.ruby.is_none());
}

#[test]
fn the_prelude_is_read_only_where_the_app_requires_it() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    debian_ruby(r);
    // rubygems.rb, loaded by ruby itself, needs bundler only for RUBYGEMS_GEMDEPS.
    write(
        r,
        &format!("{VENDOR}/rubygems.rb"),
        "require 'rubygems/specification'\ndef self.use_gemdeps\n  require \"bundler\"\nend\n",
    );
    touch(r, &format!("{VENDOR}/rubygems/specification.rb"));
    write(
        r,
        &format!("{VENDOR}/rubygems/package.rb"),
        "require_relative 'security'\n",
    );
    touch(r, &format!("{VENDOR}/rubygems/security.rb"));
    touch(r, &format!("{RUBYLIB}/bundler.rb"));
    write(
        r,
        "/app/main.rb",
        "require 'rubygems'\nrequire 'rubygems/package'\n",
    );
    let kept = closure(
        &context_for(r),
        &[&format!("{VENDOR}/rubygems.rb"), "/app/main.rb"],
    );
    assert_kept(
        &kept,
        &[
            format!("{VENDOR}/rubygems/package.rb"),
            format!("{VENDOR}/rubygems/security.rb"),
        ],
    );
    assert_not_kept(
        &kept,
        &[
            format!("{RUBYLIB}/bundler.rb"),
            format!("{VENDOR}/rubygems/specification.rb"),
        ],
    );
}
