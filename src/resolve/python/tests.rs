//! The rule over small image trees on disk, and once over the host's own
//! standard library.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;
use crate::resolve::rules::test_support::{context_with_env, write};

const LIB: &str = "/usr/local/lib/python3.11";
const SITE: &str = "/usr/local/lib/python3.11/site-packages";
const PYTHON: &str = "/usr/local/bin/python3.11";

/// A python:3.11-like layout under /usr/local: a few stdlib modules,
/// extension modules in lib-dynload, and site-packages with metadata.
fn python_image(root: &Path) {
    let lib = |p: &str| format!("{LIB}/{p}");
    let site = |p: &str| format!("{SITE}/{p}");
    write(root, PYTHON, "\x7fELF");
    write(
        root,
        &lib("os.py"),
        "import abc\nimport sys\nfrom posixpath import join\n",
    );
    write(root, &lib("abc.py"), "from _abc import get_cache_token\n");
    write(root, &lib("posixpath.py"), "import genericpath\n");
    write(root, &lib("genericpath.py"), "import stat\n");
    write(root, &lib("stat.py"), "");
    write(root, &lib("site.py"), "import os\nimport builtins\n");
    write(root, &lib("codecs.py"), "import builtins\n");
    write(root, &lib("unused.py"), "import never_imported\n");
    write(root, &lib("hashlib.py"), "def f():\n    import _hashlib\n");
    write(root, &lib("textwrap.py"), "import re\n");
    write(root, &lib("re/__init__.py"), "from . import _compiler\n");
    write(root, &lib("re/_compiler.py"), "import _sre\n");
    write(
        root,
        &lib("json/__init__.py"),
        "from .decoder import JSONDecoder\n",
    );
    write(root, &lib("json/decoder.py"), "import re\n");
    write(root, &lib("json/tool.py"), "import argparse\n");
    write(root, &lib("encodings/__init__.py"), "import codecs\n");
    write(root, &lib("encodings/cp1252.py"), "import codecs\n");
    write(
        root,
        &lib("encodings/euc_jp.py"),
        "import _codecs_jp, codecs\n",
    );
    write(
        root,
        &lib("_sysconfigdata__linux_x86_64-linux-gnu.py"),
        "build_time_vars = {}\n",
    );
    for ext in ["_hashlib", "_codecs_jp", "_ssl"] {
        write(
            root,
            &lib(&format!(
                "lib-dynload/{ext}.cpython-311-x86_64-linux-gnu.so"
            )),
            "ELF",
        );
    }
    write(
        root,
        &site("requests/__init__.py"),
        "from . import api\nimport json\n",
    );
    write(
        root,
        &site("requests/api.py"),
        "from .sessions import Session\n",
    );
    write(root, &site("requests/sessions.py"), "");
    write(root, &site("requests/cacert.pem"), "CERT");
    write(
        root,
        &site("requests-2.31.0.dist-info/top_level.txt"),
        "requests\n",
    );
    write(
        root,
        &site("requests-2.31.0.dist-info/METADATA"),
        "Name: requests\n",
    );
    write(root, &site("yaml/__init__.py"), "from .loader import *\n");
    write(root, &site("yaml/loader.py"), "");
    write(
        root,
        &site("PyYAML-6.0.1.dist-info/top_level.txt"),
        "_yaml\nyaml\n",
    );
    write(root, &site("attr/__init__.py"), "");
    write(
        root,
        &site("attrs-23.1.0.dist-info/RECORD"),
        "attr/__init__.py,sha256=abc,10\nattrs-23.1.0.dist-info/METADATA,,\n../../../bin/x,,\n",
    );
    write(root, &site("six.py"), "import textwrap\n");
    write(root, &site("six-1.16.0.dist-info/METADATA"), "Name: six\n");
    write(root, &site("unrelated/__init__.py"), "import hashlib\n");
    write(
        root,
        &site("unrelated-1.0.dist-info/METADATA"),
        "Name: unrelated\n",
    );
    write(
        root,
        &site("extra.pth"),
        "# a comment\n/opt/extra\n\nimport pthhook; pthhook.go()\n",
    );
    write(root, &site("pthhook.py"), "");
    write(root, "/opt/extra/extramod.py", "");
}

fn run(root: &Path, env: &[&str], kept: &[&str]) -> Vec<Want> {
    let fixture = context_with_env(root, env);
    let newly: Vec<PathBuf> = kept.iter().map(PathBuf::from).collect();
    PythonRule::default().expand(&fixture.context(), &newly)
}

/// Everything wanted, as `path` for a single path and `path/**` for a tree.
fn wanted(wants: &[Want]) -> BTreeSet<String> {
    wants
        .iter()
        .map(|want| match want {
            Want::Path(path) => path.display().to_string(),
            Want::Tree(path) => format!("{}/**", path.display()),
        })
        .collect()
}

#[track_caller]
fn assert_has(wanted: &BTreeSet<String>, expected: &[&str]) {
    for path in expected {
        assert!(
            wanted.contains(*path),
            "{path} not wanted; wanted: {wanted:#?}"
        );
    }
}

#[track_caller]
fn assert_lacks(wanted: &BTreeSet<String>, unexpected: &[&str]) {
    for path in unexpected {
        assert!(!wanted.contains(*path), "{path} wanted but should not be");
    }
}

#[test]
fn imports_at_any_depth_keep_their_stdlib_closure_and_package_inits() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    write(
        r,
        "/app/main.py",
        "import sys\n\ndef handler():\n    if True:\n        import hashlib\n    try:\n        \
         from json import loads\n    except ImportError:\n        pass\n",
    );
    let wanted = wanted(&run(r, &[], &[PYTHON, "/app/main.py"]));
    assert_has(
        &wanted,
        &[
            "/usr/local/lib/python3.11/hashlib.py",
            "/usr/local/lib/python3.11/lib-dynload/_hashlib.cpython-311-x86_64-linux-gnu.so",
            "/usr/local/lib/python3.11/json/__init__.py",
            "/usr/local/lib/python3.11/json/decoder.py",
            // json.decoder imports re, a package: its __init__ and what that imports.
            "/usr/local/lib/python3.11/re/__init__.py",
            "/usr/local/lib/python3.11/re/_compiler.py",
        ],
    );
    assert_lacks(
        &wanted,
        &[
            "/usr/local/lib/python3.11/unused.py",
            "/usr/local/lib/python3.11/json/tool.py",
            "/usr/local/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
        ],
    );
}

#[test]
fn an_interpreter_keeps_what_python_needs_to_start() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    let wants = run(r, &[], &[PYTHON]);
    let wanted = wanted(&wants);
    assert_has(
        &wanted,
        &[
            // The landmarks that locate the prefix, as runtime.rs kept them.
            "/usr/local/lib/python3.11/os.py",
            "/usr/local/lib/python3.11/lib-dynload",
            // What os imports, and site.
            "/usr/local/lib/python3.11/posixpath.py",
            "/usr/local/lib/python3.11/stat.py",
            "/usr/local/lib/python3.11/site.py",
            // Codecs by name, and the extension modules they import.
            "/usr/local/lib/python3.11/encodings/**",
            "/usr/local/lib/python3.11/codecs.py",
            "/usr/local/lib/python3.11/lib-dynload/_codecs_jp.cpython-311-x86_64-linux-gnu.so",
            "/usr/local/lib/python3.11/_sysconfigdata__linux_x86_64-linux-gnu.py",
            // The .pth file, its import line and the directory it adds.
            "/usr/local/lib/python3.11/site-packages/extra.pth",
            "/usr/local/lib/python3.11/site-packages/pthhook.py",
        ],
    );
    assert_lacks(&wanted, &["/usr/local/lib/python3.11/json/__init__.py"]);
    let mut sorted = wants.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(wants, sorted, "wants are sorted and without duplicates");
}

#[test]
fn a_kept_stdlib_file_keeps_the_landmarks() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/usr/lib/python3.11/os.py", "");
    write(r, "/usr/lib/python3.11/encodings/__init__.py", "");
    std::fs::create_dir_all(r.join("usr/lib/python3.11/lib-dynload")).unwrap();
    write(r, "/usr/lib/python3/dist-packages/x.py", "");
    let from_stdlib = wanted(&run(r, &[], &["/usr/lib/python3.11/encodings/__init__.py"]));
    assert_has(
        &from_stdlib,
        &[
            "/usr/lib/python3.11/os.py",
            "/usr/lib/python3.11/lib-dynload",
            "/usr/lib/python3.11/encodings/**",
        ],
    );
    // Debian's shared dist-packages is a site dir, but nothing imports x.
    assert_lacks(&from_stdlib, &["/usr/lib/python3/dist-packages/x.py"]);

    // A file in Debian's dist-packages alone names no standard library.
    let from_site = wanted(&run(r, &[], &["/usr/lib/python3/dist-packages/x.py"]));
    assert_lacks(&from_site, &["/usr/lib/python3.11/os.py"]);
    assert_has(&from_site, &["/usr/lib/python3/dist-packages/x.py"]);
}

#[test]
fn strings_and_comments_that_mention_import_import_nothing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    write(
        r,
        "/app/main.py",
        "# import unused\ns = 'import unused'\nd = \"\"\"\nimport unused\n\"\"\"\n\
         f = f\"{s!r} import unused {{import unused}}\"\nb = rb'\\' import unused'\nimport stat\n",
    );
    let wanted = wanted(&run(r, &[], &[PYTHON, "/app/main.py"]));
    assert_has(&wanted, &["/usr/local/lib/python3.11/stat.py"]);
    assert_lacks(&wanted, &["/usr/local/lib/python3.11/unused.py"]);
}

#[test]
fn relative_imports_resolve_in_the_importing_files_package() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/app/pkg/__init__.py", "");
    write(
        r,
        "/app/pkg/sub/mod.py",
        "from . import sibling\nfrom .other import thing\nfrom ..top import y\n\
         from .. import peer\nfrom ...outside import z\n",
    );
    write(r, "/app/pkg/sub/__init__.py", "");
    write(r, "/app/pkg/sub/sibling.py", "");
    write(r, "/app/pkg/sub/other.py", "");
    write(r, "/app/pkg/sub/thing.py", "");
    write(r, "/app/pkg/top.py", "");
    write(r, "/app/pkg/peer/__init__.py", "from .inner import q\n");
    write(r, "/app/pkg/peer/inner.py", "");
    write(r, "/app/pkg/unrelated.py", "");
    write(r, "/app/outside.py", "");
    write(r, "/sibling.py", "");
    let wanted = wanted(&run(r, &[], &["/app/pkg/sub/mod.py"]));
    assert_has(
        &wanted,
        &[
            "/app/pkg/sub/sibling.py",
            "/app/pkg/sub/other.py",
            // `from .other import thing`: thing is an attribute of other, not a file of sub.
            "/app/pkg/top.py",
            "/app/pkg/peer/__init__.py",
            "/app/pkg/peer/inner.py",
            "/app/outside.py",
        ],
    );
    assert_lacks(
        &wanted,
        &[
            "/app/pkg/sub/thing.py",
            "/app/pkg/unrelated.py",
            "/sibling.py",
        ],
    );
}

#[test]
fn submodules_namespace_packages_and_extension_modules_are_found() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/main.py",
        "import a.b.c\nfrom tools import helper, not_a_module\nimport fast, fast2, fast3\n\
         import ns.part\nimport ns2\nimport sys, builtins, posix, nowhere.to.be.found\n",
    );
    write(r, "/app/a/__init__.py", "");
    write(r, "/app/a/b/__init__.py", "");
    write(r, "/app/a/b/c.py", "");
    write(r, "/app/a/unrelated.py", "");
    write(r, "/app/tools/__init__.py", "");
    write(r, "/app/tools/helper.py", "");
    write(r, "/app/fast.cpython-311-x86_64-linux-gnu.so", "ELF");
    write(r, "/app/fast2.abi3.so", "ELF");
    write(r, "/app/fast3.so", "ELF");
    write(r, "/app/fastest.so", "ELF");
    write(r, "/app/ns/part.py", "");
    write(r, "/app/ns2/inner.py", "");
    let wanted = wanted(&run(r, &[], &["/app/main.py"]));
    assert_has(
        &wanted,
        &[
            "/app/a/__init__.py",
            "/app/a/b/__init__.py",
            "/app/a/b/c.py",
            "/app/tools/__init__.py",
            "/app/tools/helper.py",
            "/app/fast.cpython-311-x86_64-linux-gnu.so",
            "/app/fast2.abi3.so",
            "/app/fast3.so",
            "/app/ns/part.py",
            // A namespace package is its directory.
            "/app/ns2",
        ],
    );
    assert_lacks(
        &wanted,
        &[
            "/app/a/unrelated.py",
            "/app/fastest.so",
            "/app/ns2/inner.py",
        ],
    );
}

#[test]
fn third_party_packages_are_kept_whole_with_their_metadata() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    write(
        r,
        "/app/main.py",
        "import requests\nimport yaml\nimport attr\nimport six\n",
    );
    let wanted = wanted(&run(r, &[], &[PYTHON, "/app/main.py"]));
    assert_has(
        &wanted,
        &[
            "/usr/local/lib/python3.11/site-packages/requests/**",
            // By top_level.txt, by name, by RECORD.
            "/usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/**",
            "/usr/local/lib/python3.11/site-packages/yaml/**",
            "/usr/local/lib/python3.11/site-packages/PyYAML-6.0.1.dist-info/**",
            "/usr/local/lib/python3.11/site-packages/attr/**",
            "/usr/local/lib/python3.11/site-packages/attrs-23.1.0.dist-info/**",
            "/usr/local/lib/python3.11/site-packages/six.py",
            "/usr/local/lib/python3.11/site-packages/six-1.16.0.dist-info/**",
            // What the packages' own files import from the standard library.
            "/usr/local/lib/python3.11/json/decoder.py",
            "/usr/local/lib/python3.11/textwrap.py",
        ],
    );
    assert_lacks(
        &wanted,
        &[
            "/usr/local/lib/python3.11/site-packages/unrelated/**",
            "/usr/local/lib/python3.11/site-packages/unrelated-1.0.dist-info/**",
            "/usr/local/lib/python3.11/hashlib.py",
        ],
    );
}

#[test]
fn a_kept_file_in_a_venv_keeps_its_package() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let site = "/opt/venv/lib/python3.12/site-packages";
    write(
        r,
        &format!("{site}/flask/__init__.py"),
        "from .app import Flask\n",
    );
    write(r, &format!("{site}/flask/app.py"), "import click\n");
    write(r, &format!("{site}/flask/templates/x.html"), "");
    write(
        r,
        &format!("{site}/flask/tests/test_app.py"),
        "import pytest\n",
    );
    write(r, &format!("{site}/click/__init__.py"), "");
    write(r, &format!("{site}/pytest/__init__.py"), "");
    write(
        r,
        &format!("{site}/flask-3.0.0.dist-info/METADATA"),
        "Name: Flask\n",
    );
    let from_flask = wanted(&run(r, &[], &[&format!("{site}/flask/app.py")]));
    assert_has(
        &from_flask,
        &[
            &format!("{site}/flask/**"),
            &format!("{site}/flask-3.0.0.dist-info/**"),
            &format!("{site}/click/**"),
        ],
    );
    // Kept with flask, but a test suite's imports are not followed.
    assert_lacks(&from_flask, &[&format!("{site}/pytest/**")]);

    // The venv's pyvenv.cfg, read at start-up, names its site dir too.
    write(r, "/opt/venv/pyvenv.cfg", "home = /usr/local/bin\n");
    write(r, "/app/main.py", "import click\n");
    let from_venv = wanted(&run(r, &[], &["/app/main.py", "/opt/venv/pyvenv.cfg"]));
    assert_has(&from_venv, &[&format!("{site}/click/**")]);
    assert_lacks(&from_venv, &[&format!("{site}/flask/**")]);
}

#[test]
fn a_nested_site_dir_is_not_kept_with_its_package() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, &format!("{SITE}/tool/__init__.py"), "");
    write(r, &format!("{SITE}/tool/data.txt"), "");
    write(
        r,
        &format!("{SITE}/tool/env/site-packages/big/__init__.py"),
        "",
    );
    let wanted = wanted(&run(r, &[], &[&format!("{SITE}/tool/__init__.py")]));
    assert_has(
        &wanted,
        &[
            &format!("{SITE}/tool"),
            &format!("{SITE}/tool/data.txt"),
            &format!("{SITE}/tool/env"),
        ],
    );
    assert_lacks(
        &wanted,
        &[
            &format!("{SITE}/tool/**"),
            &format!("{SITE}/tool/env/site-packages"),
            &format!("{SITE}/tool/env/site-packages/big/__init__.py"),
        ],
    );
}

#[test]
fn pythonpath_pth_dirs_and_the_scripts_own_dir_are_searched() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    write(r, "/srv/lib/shared.py", "");
    write(r, "/work/rel/relmod.py", "");
    symlink("/srv/lib", r.join("linked")).unwrap();
    write(r, "/app/helpers.py", "");
    write(
        r,
        "/app/main.py",
        "import shared, relmod, helpers, extramod\n",
    );
    let env = ["PYTHONPATH=/linked:rel"];
    let fixture = context_with_env(r, &env);
    let mut config = fixture.run.clone();
    config.working_dir = Some("/work".into());
    let cx = RuleContext {
        run: &config,
        ..fixture.context()
    };
    let newly = [PathBuf::from(PYTHON), PathBuf::from("/app/main.py")];
    let wanted = wanted(&PythonRule::default().expand(&cx, &newly));
    assert_has(
        &wanted,
        &[
            // As named through the link, so the caller keeps the link too.
            "/linked/shared.py",
            "/work/rel/relmod.py",
            "/app/helpers.py",
            "/opt/extra/extramod.py",
        ],
    );
}

#[test]
fn python_dash_m_searches_the_working_directory() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/srv/app/server.py", "import routes\n");
    write(r, "/srv/app/routes.py", "");
    let fixture = context_with_env(r, &[]);
    let mut config = fixture.run.clone();
    config.working_dir = Some("/srv/app".into());
    config.cmd = Some(vec!["python3".into(), "-m".into(), "server".into()]);
    let cx = RuleContext {
        run: &config,
        ..fixture.context()
    };
    let wanted = wanted(&PythonRule::default().expand(&cx, &[]));
    assert_has(&wanted, &["/srv/app/server.py", "/srv/app/routes.py"]);

    let module = |argv: &[&str]| {
        module_run_by_python(&argv.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(
        module(&[
            "/usr/bin/python3",
            "-u",
            "-X",
            "dev",
            "-m",
            "app.main",
            "-m"
        ]),
        Some("app.main".to_string())
    );
    assert_eq!(module(&["python", "app.py", "-m", "x"]), None);
    assert_eq!(module(&["python", "-c", "import x", "-m", "x"]), None);
    assert_eq!(module(&["gunicorn", "-m", "x"]), None);
}

#[test]
fn debian_dist_packages_and_user_sites_are_searched() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/usr/bin/python3.11", "\x7fELF");
    write(r, "/usr/lib/python3.11/os.py", "");
    write(r, "/usr/lib/python3/dist-packages/apt/__init__.py", "");
    write(
        r,
        "/usr/local/lib/python3.11/dist-packages/localpkg/__init__.py",
        "",
    );
    write(
        r,
        "/home/app/.local/lib/python3.11/site-packages/userpkg/__init__.py",
        "",
    );
    write(
        r,
        "/root/.local/lib/python3.11/site-packages/rootpkg.py",
        "",
    );
    write(
        r,
        "/app/main.py",
        "import apt, localpkg, userpkg, rootpkg, json\n",
    );
    // Another version's standard library, which python3.11 does not use.
    write(r, "/usr/lib/python3.12/os.py", "");
    write(r, "/usr/lib/python3.12/json/__init__.py", "");
    let wanted = wanted(&run(
        r,
        &["HOME=/home/app"],
        &["/app/main.py", "/usr/bin/python3.11"],
    ));
    assert_has(
        &wanted,
        &[
            "/usr/lib/python3/dist-packages/apt/**",
            "/usr/local/lib/python3.11/dist-packages/localpkg/**",
            "/home/app/.local/lib/python3.11/site-packages/userpkg/**",
            "/root/.local/lib/python3.11/site-packages/rootpkg.py",
        ],
    );
    assert_lacks(&wanted, &["/usr/lib/python3.12/json/__init__.py"]);
}

#[test]
fn byte_code_keeps_its_source_and_the_source_is_read() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/app/__pycache__/main.cpython-311.pyc", "PYC");
    write(r, "/app/main.py", "import helpers\n");
    write(r, "/app/helpers.py", "");
    write(r, "/app/__pycache__/gone.cpython-311.pyc", "PYC");
    let wanted = wanted(&run(
        r,
        &[],
        &[
            "/app/__pycache__/gone.cpython-311.pyc",
            "/app/__pycache__/main.cpython-311.pyc",
        ],
    ));
    assert_has(&wanted, &["/app/main.py", "/app/helpers.py"]);
    assert_lacks(&wanted, &["/app/gone.py"]);
}

#[test]
fn scripts_with_a_python_shebang_are_read() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/usr/local/bin/app",
        "#!/usr/bin/env python3\nimport appcore\n",
    );
    write(r, "/usr/local/bin/appcore.py", "");
    write(r, "/usr/local/bin/tool", "#!/bin/sh\nimport shellmod\n");
    write(r, "/usr/local/bin/shellmod.py", "");
    let wanted = wanted(&run(r, &[], &["/usr/local/bin/app", "/usr/local/bin/tool"]));
    assert_has(&wanted, &["/usr/local/bin/appcore.py"]);
    assert_lacks(&wanted, &["/usr/local/bin/shellmod.py"]);
}

#[test]
fn literal_dynamic_imports_are_followed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "/app/plugins/__init__.py",
        "import importlib\nfrom importlib import import_module as load\n\
         def get(name):\n    importlib.import_module('.csv_out', __package__)\n    \
         load('plugins.json_out')\n    __import__('xml_out')\n    \
         importlib.import_module(f'plugins.{name}')\n",
    );
    write(r, "/app/plugins/csv_out.py", "");
    write(r, "/app/plugins/json_out.py", "");
    write(r, "/app/plugins/other.py", "");
    write(r, "/app/main.py", "import plugins\n");
    write(r, "/app/plugins/xml_out.py", "");
    let wanted = wanted(&run(r, &[], &["/app/main.py"]));
    assert_has(
        &wanted,
        &[
            "/app/plugins/csv_out.py",
            "/app/plugins/json_out.py",
            // Absolute, found in the importing file's own directory.
            "/app/plugins/xml_out.py",
        ],
    );
    assert_lacks(&wanted, &["/app/plugins/other.py"]);
}

#[test]
fn names_read_before_a_root_is_known_are_looked_up_in_it() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    write(r, "/app/main.py", "import textwrap\n");
    let fixture = context_with_env(r, &[]);
    let mut rule = PythonRule::default();
    let first = rule.expand(&fixture.context(), &[PathBuf::from("/app/main.py")]);
    assert!(
        !wanted(&first).contains("/usr/local/lib/python3.11/textwrap.py"),
        "no standard library is known yet"
    );
    let second = wanted(&rule.expand(&fixture.context(), &[PathBuf::from(PYTHON)]));
    assert_has(&second, &["/usr/local/lib/python3.11/textwrap.py"]);
    // A batch of paths already looked at costs nothing and adds nothing.
    let again = rule.expand(
        &fixture.context(),
        &[PathBuf::from(PYTHON), PathBuf::from("/app/main.py")],
    );
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn odd_sources_do_not_stop_the_rule() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut latin1 = b"s = '\xe9t\xe9'\n".to_vec();
    latin1.extend_from_slice(b"import helpers\n");
    std::fs::create_dir_all(r.join("app")).unwrap();
    std::fs::write(r.join("app/latin1.py"), latin1).unwrap();
    write(r, "/app/helpers.py", "");
    let mut huge = b"import bloat\n".to_vec();
    huge.resize(MAX_SOURCE as usize + 1, b'#');
    std::fs::write(r.join("app/huge.py"), huge).unwrap();
    write(r, "/app/bloat.py", "");
    write(
        r,
        "/app/broken.py",
        "s = 'unterminated\nimport helpers2\nf'{x\n",
    );
    write(r, "/app/helpers2.py", "");
    let wanted = wanted(&run(
        r,
        &[],
        &[
            "/app/broken.py",
            "/app/huge.py",
            "/app/latin1.py",
            "/app/missing.py",
        ],
    ));
    assert_has(&wanted, &["/app/helpers.py", "/app/helpers2.py"]);
    assert_lacks(&wanted, &["/app/bloat.py"]);
}

#[test]
fn the_same_batches_give_the_same_answer() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    write(r, "/app/main.py", "import requests, json, hashlib\n");
    let kept = [PYTHON, "/app/main.py"];
    let first = run(r, &[], &kept);
    assert!(!first.is_empty());
    assert_eq!(first, run(r, &[], &kept));
}

/// The host's CPython 3.11 standard library, if it has one.
fn host_stdlib() -> Option<(PathBuf, PathBuf)> {
    [
        ("/usr/bin/python3.11", "/usr/lib/python3.11"),
        (
            "/root/.pyenv/versions/3.11.7/bin/python3.11",
            "/root/.pyenv/versions/3.11.7/lib/python3.11",
        ),
    ]
    .into_iter()
    .map(|(python, lib)| (PathBuf::from(python), PathBuf::from(lib)))
    .find(|(python, lib)| {
        python.is_file() && !python.is_symlink() && lib.join("http/server.py").is_file()
    })
}

#[test]
fn closure_of_http_server_over_the_host_standard_library() {
    let Some((python, lib)) = host_stdlib() else {
        eprintln!("skipped: no CPython 3.11 standard library on this host");
        return;
    };
    let app = tempfile::tempdir().unwrap();
    let main = std::fs::canonicalize(app.path()).unwrap().join("main.py");
    std::fs::write(&main, "import http.server\n").unwrap();
    let fixture = context_with_env(Path::new("/"), &[]);
    let started = std::time::Instant::now();
    let wants = PythonRule::default().expand(&fixture.context(), &[python, main]);
    let took = started.elapsed();
    eprintln!("closure of http.server: {} wants in {took:?}", wants.len());
    let wanted = wanted(&wants);
    let expected: Vec<String> = [
        "http/__init__.py",
        "http/server.py",
        "http/client.py",
        "email/utils.py",
        "email/parser.py",
        "socketserver.py",
        "html/__init__.py",
        "mimetypes.py",
        "urllib/parse.py",
        "encodings/**",
    ]
    .iter()
    .map(|p| lib.join(p).display().to_string())
    .collect();
    assert_has(
        &wanted,
        &expected.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let unexpected = [lib.join("tkinter/__init__.py"), lib.join("idlelib/idle.py")];
    assert_lacks(
        &wanted,
        &unexpected
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect::<Vec<_>>(),
    );
    // A guard against a runaway closure, not a benchmark: CI machines are
    // loaded, and this takes about 0.35 s in a debug build here.
    assert!(took.as_secs_f64() < 30.0, "took {took:?}");
}

#[test]
fn developer_tools_are_followed_from_the_app_but_not_from_the_stdlib() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    python_image(r);
    let lib = |p: &str| format!("{LIB}/{p}");
    write(
        r,
        &lib("_sitebuiltins.py"),
        "def help():\n    import pydoc\n",
    );
    write(r, &lib("pydoc.py"), "import pydoc_data.topics\n");
    write(r, &lib("pydoc_data/__init__.py"), "");
    write(r, &lib("pydoc_data/topics.py"), "");
    write(
        r,
        &lib("multiprocessing/util.py"),
        "def f():\n    from test import support\n",
    );
    write(r, &lib("test/__init__.py"), "");
    write(r, &lib("test/support/__init__.py"), "");
    write(
        r,
        "/app/main.py",
        "def handler():\n    import _sitebuiltins\n",
    );
    let from_stdlib = wanted(&run(
        r,
        &[],
        &["/app/main.py", &lib("multiprocessing/util.py")],
    ));
    assert_has(&from_stdlib, &[&lib("_sitebuiltins.py")]);
    assert_lacks(
        &from_stdlib,
        &[
            &lib("pydoc.py"),
            &lib("test/__init__.py"),
            &lib("test/support/__init__.py"),
        ],
    );
    write(r, "/app/debug.py", "import pydoc\n");
    let from_app = wanted(&run(r, &[], &[PYTHON, "/app/debug.py"]));
    assert_has(&from_app, &[&lib("pydoc.py"), &lib("pydoc_data/topics.py")]);
}
