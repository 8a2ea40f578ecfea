//! The rule over small Node images laid out on disk, each test its own tree.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;
use crate::image::config::RunConfig;
use crate::resolve::closure::LibraryResolver;
use crate::resolve::packages::PackageDb;
use crate::resolve::tree::HostTree;

fn write(root: &Path, path: &str, text: &str) {
    let at = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::write(at, text).unwrap();
}

fn link(root: &Path, path: &str, target: &str) {
    let at = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    symlink(target, at).unwrap();
}

fn run_config(env: &[&str]) -> RunConfig {
    RunConfig {
        env: Some(env.iter().map(|kv| kv.to_string()).collect()),
        ..RunConfig::default()
    }
}

/// One batch through `rule` over the tree at `root`.
fn expand_with(rule: &mut NodeRule, root: &Path, run: &RunConfig, newly: &[&str]) -> Vec<Want> {
    let tree = HostTree::new(root);
    let packages = PackageDb::default();
    let libraries = LibraryResolver::new(&tree, None);
    let cx = RuleContext {
        tree: &tree,
        run,
        packages: &packages,
        libraries: &libraries,
        observed: &Default::default(),
    };
    let newly: Vec<PathBuf> = newly.iter().map(PathBuf::from).collect();
    rule.expand(&cx, &newly)
}

/// One batch through a fresh rule, the image's ENV being `env`.
fn expand(root: &Path, env: &[&str], newly: &[&str]) -> Vec<Want> {
    expand_with(&mut NodeRule::default(), root, &run_config(env), newly)
}

fn path(p: &str) -> Want {
    Want::Path(PathBuf::from(p))
}

fn tree(p: &str) -> Want {
    Want::Tree(PathBuf::from(p))
}

fn set(wants: &[Want]) -> BTreeSet<Want> {
    wants.iter().cloned().collect()
}

fn assert_has(wants: &[Want], expected: &[Want]) {
    for want in expected {
        assert!(wants.contains(want), "{want:?} missing from {wants:#?}");
    }
}

fn assert_lacks(wants: &[Want], unexpected: &[Want]) {
    for want in unexpected {
        assert!(!wants.contains(want), "{want:?} in {wants:#?}");
    }
}

/// No want names `prefix` or anything below it.
fn assert_nothing_under(wants: &[Want], prefix: &str) {
    for want in wants {
        let (Want::Path(p) | Want::Tree(p)) = want;
        assert!(!p.starts_with(prefix), "{want:?} is under {prefix}");
    }
}

#[test]
fn relative_specifiers_try_extensions_then_directory_main_and_index() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/app/package.json", r#"{"type": "commonjs"}"#);
    write(
        r,
        "/app/routes/server.js",
        r#"
        require('../a');
        require('../data');
        require('../addon');
        import '../esm';
        require('../cjs-only');
        require('../both');
        require('../exact.js');
        require('../lib');
        require('../plain');
        require('../broken-main');
        require('/opt/abs/mod');
        require('./missing');
        require('..');
        "#,
    );
    for file in [
        "/app/a.js",
        "/app/data.json",
        "/app/addon.node",
        "/app/esm.mjs",
        "/app/cjs-only.cjs",
        "/app/both.js",
        "/app/both.json",
        "/app/exact.js",
        "/app/exact.js.js",
        "/app/lib/src/start.js",
        "/app/lib/index.js",
        "/app/plain/index.js",
        "/app/plain/index.json",
        "/app/broken-main/index.js",
        "/app/index.js",
        "/opt/abs/mod.js",
    ] {
        write(r, file, "");
    }
    write(r, "/app/lib/package.json", r#"{"main": "./src/start"}"#);
    write(r, "/app/broken-main/package.json", r#"{"main": "gone.js"}"#);

    let wants = expand(r, &[], &["/app/routes/server.js"]);
    let expected = [
        "/app/a.js",
        "/app/data.json",
        "/app/addon.node",
        "/app/esm.mjs",
        "/app/cjs-only.cjs",
        "/app/both.js",
        "/app/exact.js",
        "/app/lib/src/start.js",
        "/app/lib/package.json",
        "/app/plain/index.js",
        "/app/broken-main/index.js",
        "/app/broken-main/package.json",
        "/opt/abs/mod.js",
        "/app/index.js",
        // The importer's package scope.
        "/app/package.json",
    ];
    assert_eq!(set(&wants), expected.iter().map(|p| path(p)).collect());
    assert!(wants.is_sorted(), "{wants:?}");
}

#[test]
fn bare_specifiers_walk_up_through_every_node_modules() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/src/deep/file.js",
        "require('outer'); require('near'); require('dup'); require('rootlevel'); require('inner');",
    );
    write(r, "/app/src/deep/node_modules/near/index.js", "");
    write(r, "/app/src/node_modules/dup/index.js", "");
    write(r, "/app/node_modules/dup/index.js", "");
    write(
        r,
        "/app/node_modules/outer/package.json",
        r#"{"main": "main.js"}"#,
    );
    write(
        r,
        "/app/node_modules/outer/main.js",
        "require('inner'); require('./lib/helper')",
    );
    write(r, "/app/node_modules/outer/lib/helper.js", "require('dup')");
    write(r, "/app/node_modules/outer/node_modules/inner/index.js", "");
    write(r, "/node_modules/rootlevel.js", "");

    let wants = expand(r, &[], &["/app/src/deep/file.js"]);
    assert_has(
        &wants,
        &[
            path("/app/src/deep/node_modules/near/index.js"),
            // The nearer of two wins.
            path("/app/src/node_modules/dup/index.js"),
            path("/app/node_modules/outer/main.js"),
            path("/app/node_modules/outer/package.json"),
            path("/node_modules/rootlevel.js"),
        ],
    );
    assert_lacks(&wants, &[path("/app/node_modules/dup/index.js")]);
    // `inner` is outer's, out of the app's reach.
    assert_nothing_under(&wants, "/app/node_modules/outer/node_modules");

    // From inside outer, its own node_modules comes first, and
    // `…/node_modules/node_modules` is never searched.
    write(r, "/app/node_modules/node_modules/dup/index.js", "");
    let wants = expand(
        r,
        &[],
        &[
            "/app/node_modules/outer/main.js",
            "/app/node_modules/outer/lib/helper.js",
        ],
    );
    assert_has(
        &wants,
        &[
            path("/app/node_modules/outer/node_modules/inner/index.js"),
            path("/app/node_modules/dup/index.js"),
            path("/app/node_modules/outer/lib/helper.js"),
        ],
    );
    assert_nothing_under(&wants, "/app/node_modules/node_modules");
}

#[test]
fn scoped_packages_and_their_subpaths() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/index.js",
        "require('@org/tool'); require('@org/tool/extra'); require('@org'); require('@org/');",
    );
    write(
        r,
        "/app/node_modules/@org/tool/package.json",
        r#"{"main": "lib/entry"}"#,
    );
    write(r, "/app/node_modules/@org/tool/lib/entry.js", "");
    write(r, "/app/node_modules/@org/tool/extra.js", "");
    write(r, "/app/node_modules/@org/index.js", "");

    let wants = expand(r, &[], &["/app/index.js"]);
    assert_eq!(
        set(&wants),
        set(&[
            path("/app/node_modules/@org/tool/lib/entry.js"),
            path("/app/node_modules/@org/tool/extra.js"),
            path("/app/node_modules/@org/tool/package.json"),
            tree("/app/node_modules/@org/tool"),
        ])
    );
}

#[test]
fn exports_take_precedence_over_main_with_every_condition() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/index.mjs",
        "import s from 'str'; import c from 'cond'; import f from 'cond/feature';\n\
         import w from 'wild/a/b'; import u from 'wild/utils/str'; import 'cond/internal/x';\n\
         import 'cond/unlisted';",
    );
    write(
        r,
        "/app/node_modules/str/package.json",
        r#"{"main": "old.js", "exports": "./new.js"}"#,
    );
    write(
        r,
        "/app/node_modules/cond/package.json",
        r#"{"exports": {
            ".": {"import": "./esm/index.mjs", "require": "./cjs/index.cjs", "default": "./fallback.js"},
            "./feature": {"node": {"import": "./feature.mjs", "default": "./feature.cjs"}},
            "./internal/*": null
        }}"#,
    );
    write(
        r,
        "/app/node_modules/wild/package.json",
        r#"{"exports": {"./*": "./dist/*.js", "./utils/*": "./dist/utils/*/index.js"}}"#,
    );
    for file in [
        "/app/node_modules/str/old.js",
        "/app/node_modules/str/new.js",
        "/app/node_modules/cond/esm/index.mjs",
        "/app/node_modules/cond/cjs/index.cjs",
        "/app/node_modules/cond/fallback.js",
        "/app/node_modules/cond/feature.mjs",
        "/app/node_modules/cond/feature.cjs",
        "/app/node_modules/cond/internal/x.js",
        "/app/node_modules/wild/dist/a/b.js",
        "/app/node_modules/wild/dist/utils/str/index.js",
        "/app/node_modules/wild/dist/utils/str.js",
    ] {
        write(r, file, "");
    }

    let wants = expand(r, &[], &["/app/index.mjs"]);
    assert_has(
        &wants,
        &[
            path("/app/node_modules/str/new.js"),
            path("/app/node_modules/cond/esm/index.mjs"),
            path("/app/node_modules/cond/cjs/index.cjs"),
            path("/app/node_modules/cond/fallback.js"),
            path("/app/node_modules/cond/feature.mjs"),
            path("/app/node_modules/cond/feature.cjs"),
            path("/app/node_modules/wild/dist/a/b.js"),
            path("/app/node_modules/wild/dist/utils/str/index.js"),
            tree("/app/node_modules/str"),
            tree("/app/node_modules/cond"),
            tree("/app/node_modules/wild"),
        ],
    );
    assert_lacks(
        &wants,
        &[
            path("/app/node_modules/str/old.js"),
            path("/app/node_modules/wild/dist/utils/str.js"),
            // Excluded by `null`, and not exported at all.
            path("/app/node_modules/cond/internal/x.js"),
        ],
    );
}

#[test]
fn node_path_home_and_debian_global_folders_are_searched_after_node_modules() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/index.js",
        "require('both'); require('fromnodepath'); require('relative'); require('homepkg');\n\
         require('archpkg'); require('sharedpkg'); require('libpkg'); require('globalpkg');\n\
         require('locallib'); require('prefixpkg'); require('absent');",
    );
    write(r, "/app/node_modules/both/index.js", "");
    write(r, "/opt/mods/both/index.js", "");
    write(r, "/opt/mods/fromnodepath.js", "");
    write(r, "/srv/rel/relative/index.js", "");
    write(r, "/home/app/.node_libraries/homepkg/index.js", "");
    write(
        r,
        "/usr/lib/x86_64-linux-gnu/nodejs/archpkg/package.json",
        "{}",
    );
    write(r, "/usr/lib/x86_64-linux-gnu/nodejs/archpkg/index.js", "");
    write(
        r,
        "/usr/share/nodejs/sharedpkg/package.json",
        r#"{"main": "lib"}"#,
    );
    write(r, "/usr/share/nodejs/sharedpkg/lib/index.js", "");
    write(r, "/usr/share/nodejs/sharedpkg/locale/fr.json", "{}");
    write(r, "/usr/lib/nodejs/libpkg.js", "");
    write(r, "/usr/local/share/nodejs/locallib/index.js", "");
    write(r, "/usr/local/lib/node_modules/globalpkg/index.js", "");
    write(r, "/usr/lib/node/prefixpkg/index.js", "");
    // Debian links the multiarch folder's packages into /usr/share/nodejs.
    link(
        r,
        "/usr/share/nodejs/archpkg",
        "../../lib/x86_64-linux-gnu/nodejs/archpkg",
    );

    let mut run = run_config(&["NODE_PATH=/opt/mods::rel", "HOME=/home/app"]);
    run.working_dir = Some("/srv".into());
    let wants = expand_with(&mut NodeRule::default(), r, &run, &["/app/index.js"]);
    assert_eq!(
        set(&wants),
        set(&[
            path("/app/node_modules/both/index.js"),
            path("/opt/mods/fromnodepath.js"),
            path("/srv/rel/relative/index.js"),
            path("/home/app/.node_libraries/homepkg/index.js"),
            path("/usr/lib/x86_64-linux-gnu/nodejs/archpkg/index.js"),
            path("/usr/lib/x86_64-linux-gnu/nodejs/archpkg/package.json"),
            tree("/usr/lib/x86_64-linux-gnu/nodejs/archpkg"),
            path("/usr/share/nodejs/sharedpkg/lib/index.js"),
            path("/usr/share/nodejs/sharedpkg/package.json"),
            tree("/usr/share/nodejs/sharedpkg"),
            path("/usr/lib/nodejs/libpkg.js"),
            path("/usr/local/share/nodejs/locallib/index.js"),
            path("/usr/local/lib/node_modules/globalpkg/index.js"),
            path("/usr/lib/node/prefixpkg/index.js"),
        ])
    );
}

#[test]
fn home_comes_from_the_image_user_when_home_is_unset() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n",
    );
    write(r, "/home/node/.node_modules/mine/index.js", "");
    write(r, "/root/.node_modules/roots/index.js", "");
    write(r, "/app/index.js", "require('mine'); require('roots');");
    for user in ["node", "1000:1000"] {
        let mut run = run_config(&[]);
        run.user = Some(user.into());
        let wants = expand_with(&mut NodeRule::default(), r, &run, &["/app/index.js"]);
        assert_eq!(
            wants,
            [path("/home/node/.node_modules/mine/index.js")],
            "user {user}"
        );
    }
    let wants = expand(r, &[], &["/app/index.js"]);
    assert_eq!(wants, [path("/root/.node_modules/roots/index.js")]);
}

#[test]
fn a_package_is_kept_whole_without_its_nested_node_modules() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let big = "/app/node_modules/big";
    for file in [
        "package.json",
        "index.js",
        "locales/en.json",
        "locales/de.json",
        "lib/render.js",
        "lib/templates/page.html",
        "lib/node_modules/vendored/index.js",
        "node_modules/dep/package.json",
        "node_modules/dep/index.js",
    ] {
        write(r, &format!("{big}/{file}"), "{}");
    }
    write(r, "/app/node_modules/small/package.json", "{}");
    write(r, "/app/node_modules/small/index.js", "");
    write(r, "/app/node_modules/.bin/tool", "");
    write(r, "/app/node_modules/loose/index.js", "");

    // Profiling saw one locale read.
    let wants = expand(r, &[], &[&format!("{big}/locales/en.json")]);
    assert_eq!(
        set(&wants),
        set(&[
            path(big),
            path(&format!("{big}/package.json")),
            path(&format!("{big}/index.js")),
            tree(&format!("{big}/locales")),
            path(&format!("{big}/lib")),
            path(&format!("{big}/lib/render.js")),
            tree(&format!("{big}/lib/templates")),
        ])
    );

    // Found by resolution, a package without nested node_modules is one Tree;
    // a directory without package.json is not a package.
    write(r, "/app/main.js", "require('small'); require('loose');");
    let wants = expand(r, &[], &["/app/main.js", "/app/node_modules/.bin/tool"]);
    assert_eq!(
        set(&wants),
        set(&[
            path("/app/node_modules/small/index.js"),
            path("/app/node_modules/small/package.json"),
            tree("/app/node_modules/small"),
            path("/app/node_modules/loose/index.js"),
        ])
    );
}

#[test]
fn addons_and_json_are_kept_as_files_and_not_read_as_sources() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/index.js",
        "const addon = require('./build/Release/addon.node'); const c = require('./config');",
    );
    // Bytes that would count if these were read as JavaScript.
    write(
        r,
        "/app/build/Release/addon.node",
        "\x7fELF require('./nope')",
    );
    write(r, "/app/config.json", r#"{"x": "require('./nope')"}"#);
    write(r, "/app/nope.js", "");
    let wants = expand(
        r,
        &[],
        &[
            "/app/index.js",
            "/app/build/Release/addon.node",
            "/app/config.json",
        ],
    );
    assert_eq!(
        wants,
        [
            path("/app/build/Release/addon.node"),
            path("/app/config.json")
        ]
    );
}

#[test]
fn builtins_and_urls_keep_nothing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/index.js",
        "require('fs'); require('node:fs'); require('fs/promises'); require('node:test');\n\
         import('https://example.com/x.js'); import('data:text/javascript,1');\n\
         require('events'); require('file:///app/viaurl.js');",
    );
    // Same names on disk: the builtin wins anyway.
    write(r, "/app/node_modules/fs/index.js", "");
    write(r, "/app/node_modules/events/index.js", "");
    write(r, "/app/node_modules/test/index.js", "");
    write(r, "/app/viaurl.js", "");
    let wants = expand(r, &[], &["/app/index.js"]);
    assert_eq!(wants, [path("/app/viaurl.js")]);
}

#[test]
fn package_imports_and_self_references_resolve_through_the_own_package_json() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/package.json",
        r##"{"name": "myapp",
            "imports": {"#db": "./src/db.js", "#util/*": "./src/util/*.js", "#dep": "dep", "#out": "../etc/x.js"},
            "exports": {"./api": "./src/api.js"}}"##,
    );
    write(
        r,
        "/app/src/index.js",
        "require('#db'); require('#util/str'); require('#dep'); require('#out'); require('#none');\n\
         require('myapp/api');",
    );
    for file in [
        "/app/src/db.js",
        "/app/src/util/str.js",
        "/app/src/api.js",
        "/app/node_modules/dep/index.js",
        "/etc/x.js",
    ] {
        write(r, file, "");
    }
    let wants = expand(r, &[], &["/app/src/index.js"]);
    assert_eq!(
        set(&wants),
        set(&[
            path("/app/package.json"),
            path("/app/src/db.js"),
            path("/app/src/util/str.js"),
            path("/app/src/api.js"),
            path("/app/node_modules/dep/index.js"),
        ])
    );
}

#[test]
fn node_shebang_scripts_are_read_and_huge_sources_are_not() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/app/bin/www", "#!/usr/bin/env node\nrequire('../app');");
    write(r, "/app/bin/run.sh", "#!/bin/sh\n# require('../shell')\n");
    write(r, "/app/README", "require('../readme')");
    write(r, "/app/app.js", "");
    write(r, "/shell.js", "");
    write(r, "/readme.js", "");
    write(r, "/app/a.js", "");
    write(r, "/app/package.json", "{}");
    let huge = r.join("app/huge.js");
    std::fs::write(&huge, "require('./a');\n").unwrap();
    std::fs::File::options()
        .append(true)
        .open(&huge)
        .unwrap()
        .set_len(MAX_SOURCE_BYTES + 1)
        .unwrap();
    let wants = expand(
        r,
        &[],
        &[
            "/app/bin/www",
            "/app/bin/run.sh",
            "/app/README",
            "/app/huge.js",
        ],
    );
    assert_eq!(
        set(&wants),
        set(&[path("/app/app.js"), path("/app/package.json")])
    );

    // Just under the limit, the same file is read.
    std::fs::File::options()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(MAX_SOURCE_BYTES)
        .unwrap();
    let wants = expand(r, &[], &["/app/huge.js"]);
    assert!(wants.contains(&path("/app/a.js")), "{wants:?}");
}

#[test]
fn symlinked_packages_keep_the_links_name_and_the_real_package() {
    // pnpm's layout: every package real under .pnpm, its dependencies linked beside it.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let store = "/app/node_modules/.pnpm";
    write(r, "/app/index.js", "require('foo')");
    write(
        r,
        &format!("{store}/foo@1.0.0/node_modules/foo/package.json"),
        "{}",
    );
    write(
        r,
        &format!("{store}/foo@1.0.0/node_modules/foo/index.js"),
        "require('bar')",
    );
    write(
        r,
        &format!("{store}/bar@2.0.0/node_modules/bar/package.json"),
        "{}",
    );
    write(
        r,
        &format!("{store}/bar@2.0.0/node_modules/bar/index.js"),
        "",
    );
    link(
        r,
        "/app/node_modules/foo",
        ".pnpm/foo@1.0.0/node_modules/foo",
    );
    link(
        r,
        &format!("{store}/foo@1.0.0/node_modules/bar"),
        "../../bar@2.0.0/node_modules/bar",
    );

    let mut rule = NodeRule::default();
    let run = run_config(&[]);
    let wants = expand_with(&mut rule, r, &run, &["/app/index.js"]);
    assert_eq!(
        set(&wants),
        set(&[
            path("/app/node_modules/foo/index.js"),
            path("/app/node_modules/foo/package.json"),
            tree(&format!("{store}/foo@1.0.0/node_modules/foo")),
        ])
    );
    // The caller hands back the real path; bar is found beside foo.
    let real_foo = format!("{store}/foo@1.0.0/node_modules/foo/index.js");
    let wants = expand_with(&mut rule, r, &run, &[&real_foo]);
    assert_eq!(
        set(&wants),
        set(&[
            path(&format!("{store}/foo@1.0.0/node_modules/bar/index.js")),
            path(&format!("{store}/foo@1.0.0/node_modules/bar/package.json")),
            tree(&format!("{store}/bar@2.0.0/node_modules/bar")),
            // foo's own package.json by its real path: its package scope.
            path(&format!("{store}/foo@1.0.0/node_modules/foo/package.json")),
        ])
    );
}

#[test]
fn repeated_batches_return_only_what_is_new_and_answers_are_deterministic() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/app/a.js", "require('./c'); require('./shared')");
    write(r, "/app/b.js", "require('./shared'); require('./d')");
    for file in ["/app/c.js", "/app/d.js", "/app/shared.js"] {
        write(r, file, "");
    }
    let run = run_config(&[]);
    let mut rule = NodeRule::default();
    let first = expand_with(&mut rule, r, &run, &["/app/a.js"]);
    assert_eq!(first, [path("/app/c.js"), path("/app/shared.js")]);
    assert!(expand_with(&mut rule, r, &run, &["/app/a.js"]).is_empty());
    assert_eq!(
        expand_with(&mut rule, r, &run, &["/app/b.js"]),
        [path("/app/d.js")]
    );

    let fresh = expand(r, &[], &["/app/b.js", "/app/a.js"]);
    assert_eq!(fresh, expand(r, &[], &["/app/a.js", "/app/b.js"]));
    assert_eq!(
        fresh,
        [path("/app/c.js"), path("/app/d.js"), path("/app/shared.js")]
    );
}

#[test]
fn rule_identity() {
    let rule = NodeRule::default();
    assert_eq!(rule.name(), "node");
    assert_eq!(rule.reason(), Reason::Node);
}

/// Runs the rule to a fixed point the way the caller does: a `Path` is
/// kept with the symlinks on its way, a `Tree` with everything below it,
/// and what is new makes the next batch. Returns every kept real path.
fn close(root: &Path, run: &RunConfig, start: &[&str]) -> BTreeSet<PathBuf> {
    let tree = HostTree::new(root);
    let mut rule = NodeRule::default();
    let mut kept: BTreeSet<PathBuf> = BTreeSet::new();
    let mut batch: Vec<String> = start.iter().map(|s| s.to_string()).collect();
    while !batch.is_empty() {
        let newly: Vec<&str> = batch.iter().map(String::as_str).collect();
        let wants = expand_with(&mut rule, root, run, &newly);
        let mut next = BTreeSet::new();
        for want in wants {
            let (Want::Path(p) | Want::Tree(p)) = &want;
            let mut found = vec![p.clone()];
            if let Want::Tree(dir) = &want {
                let mut pending = vec![dir.clone()];
                while let Some(dir) = pending.pop() {
                    for entry in tree.list(&dir) {
                        pending.push(entry.clone());
                        found.push(entry);
                    }
                }
            }
            for path in found {
                let Some(real) = resolve(&tree, &path) else {
                    continue;
                };
                for path in real.symlinks.into_iter().chain([real.path]) {
                    if kept.insert(path.clone()) {
                        next.insert(path.display().to_string());
                    }
                }
            }
        }
        batch = next.into_iter().collect();
    }
    kept
}

#[test]
fn the_closure_follows_packages_into_the_packages_they_require() {
    // Like tests/fixtures/nodeapp: an app whose handlers load a Debian
    // packaged module (which needs two more), an ES module, and a vendored
    // package through `exports`.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/srv/app/package.json",
        r#"{"name": "app", "main": "server.js"}"#,
    );
    write(
        r,
        "/srv/app/server.js",
        "const http = require('http');\n\
         const routes = { report: () => require('./lib/report'),\n\
                          esm: async () => import('./lib/helper.mjs'),\n\
                          slug: () => require('tidy-slug') };",
    );
    write(
        r,
        "/srv/app/lib/report.js",
        "const semver = require('semver'); require('./format');",
    );
    write(r, "/srv/app/lib/format.js", "module.exports = {};");
    write(
        r,
        "/srv/app/lib/helper.mjs",
        "import { titleCase } from './text.mjs';",
    );
    write(r, "/srv/app/lib/text.mjs", "export function titleCase() {}");
    write(
        r,
        "/srv/app/node_modules/tidy-slug/package.json",
        r#"{"exports": {".": {"require": "./lib/index.js"}}}"#,
    );
    write(
        r,
        "/srv/app/node_modules/tidy-slug/lib/index.js",
        "require('./fold')",
    );
    write(r, "/srv/app/node_modules/tidy-slug/lib/fold.js", "");
    write(r, "/srv/app/node_modules/tidy-slug/lib/table.json", "{}");
    write(r, "/srv/app/node_modules/unused/package.json", "{}");
    write(r, "/srv/app/node_modules/unused/index.js", "");
    write(
        r,
        "/usr/share/nodejs/semver/package.json",
        r#"{"main": "index.js"}"#,
    );
    write(
        r,
        "/usr/share/nodejs/semver/index.js",
        "require('./classes/range')",
    );
    write(
        r,
        "/usr/share/nodejs/semver/classes/range.js",
        "const LRU = require('lru-cache')",
    );
    write(
        r,
        "/usr/share/nodejs/semver/bin/semver.js",
        "#!/usr/bin/env node\n",
    );
    write(r, "/usr/share/nodejs/lru-cache/package.json", "{}");
    write(
        r,
        "/usr/share/nodejs/lru-cache/index.js",
        "const Yallist = require('yallist')",
    );
    write(r, "/usr/share/nodejs/yallist/package.json", "{}");
    write(r, "/usr/share/nodejs/yallist/yallist.js", "");
    write(
        r,
        "/usr/share/nodejs/yallist/index.js",
        "require('./yallist.js')",
    );
    write(r, "/usr/share/nodejs/unrelated/package.json", "{}");
    write(r, "/usr/share/nodejs/unrelated/index.js", "");

    let kept = close(r, &run_config(&[]), &["/srv/app/server.js"]);
    for path in [
        "/srv/app/package.json",
        "/srv/app/lib/report.js",
        "/srv/app/lib/format.js",
        "/srv/app/lib/helper.mjs",
        "/srv/app/lib/text.mjs",
        "/srv/app/node_modules/tidy-slug/lib/fold.js",
        "/srv/app/node_modules/tidy-slug/lib/table.json",
        "/usr/share/nodejs/semver/classes/range.js",
        "/usr/share/nodejs/semver/bin/semver.js",
        "/usr/share/nodejs/lru-cache/index.js",
        "/usr/share/nodejs/yallist/yallist.js",
    ] {
        assert!(kept.contains(Path::new(path)), "{path} not kept: {kept:#?}");
    }
    for path in [
        "/srv/app/node_modules/unused",
        "/usr/share/nodejs/unrelated",
    ] {
        assert!(
            !kept.iter().any(|k| k.starts_with(path)),
            "{path} kept: {kept:#?}"
        );
    }
}
