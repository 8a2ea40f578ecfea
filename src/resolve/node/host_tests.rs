//! The rule against node itself, over the host's Node modules: the
//! specifiers found and where they lead must be what node's own parser
//! (acorn, bundled in node) and `require.resolve` say.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::resolver::{self, Manifests, Resolver};
use super::*;
use crate::image::config::RunConfig;
use crate::resolve::closure::LibraryResolver;
use crate::resolve::packages::PackageDb;
use crate::resolve::tree::HostTree;

/// Prints `file\tspecifier\tresolved` for each file named on stdin: the
/// specifiers acorn (bundled in node) finds, and where `require.resolve`
/// from that file leads (`builtin`, or `!` when it fails).
const NODE_ORACLE: &str = r#"
const acorn = require('internal/deps/acorn/acorn/dist/acorn');
const walk = require('internal/deps/acorn/acorn-walk/dist/walk');
const { createRequire, isBuiltin } = require('module');
const fs = require('fs');
const text = (n) => n && n.type === 'Literal' && typeof n.value === 'string' ? n.value
  : n && n.type === 'TemplateLiteral' && n.expressions.length === 0 ? n.quasis[0].value.cooked : null;
const named = (n, object, property) => n.type === 'MemberExpression' && !n.computed
  && n.property.name === property && (object === null ? n.object.type === 'MetaProperty'
  : n.object.type === 'Identifier' && n.object.name === object);
const out = [];
for (const file of fs.readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
  const source = fs.readFileSync(file, 'utf8');
  let ast = null;
  for (const sourceType of ['module', 'script']) {
    try {
      ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType, allowHashBang: true,
        allowReturnOutsideFunction: true, allowAwaitOutsideFunction: true });
      break;
    } catch (e) {}
  }
  if (!ast) { out.push(`${file}\t\t!parse`); continue; }
  const seen = new Set();
  const add = (s) => {
    if (s === null || seen.has(s)) return;
    seen.add(s);
    let to;
    try { to = isBuiltin(s) ? 'builtin' : createRequire(file).resolve(s); } catch (e) { to = '!'; }
    out.push(`${file}\t${s}\t${to}`);
  };
  walk.full(ast, (n) => {
    if (n.type === 'CallExpression') {
      const c = n.callee;
      if ((c.type === 'Identifier' && c.name === 'require') || named(c, 'require', 'resolve')
          || named(c, 'module', 'require') || named(c, null, 'resolve')) add(text(n.arguments[0]));
    } else if (n.type === 'ImportExpression' || n.type === 'ImportDeclaration'
        || n.type === 'ExportAllDeclaration' || n.type === 'ExportNamedDeclaration') {
      add(text(n.source));
    }
  });
}
process.stdout.write(out.join('\n'));
"#;

fn host_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let (path, Ok(kind)) = (entry.path(), entry.file_type()) else {
            continue;
        };
        let extension = path.extension().and_then(|e| e.to_str());
        if kind.is_dir() {
            host_sources(&path, out);
        } else if kind.is_file() && matches!(extension, Some("js" | "cjs" | "mjs")) {
            out.push(path);
        }
    }
}

/// Over the host's own Node modules (Debian's /usr/share/nodejs, or npm as
/// installed with node), the specifiers found and where they lead agree
/// with node's own parser and `require.resolve`.
#[test]
fn host_node_modules_agree_with_nodes_own_parser_and_resolver() {
    let roots: Vec<&Path> = ["/usr/share/nodejs", "/usr/lib/node_modules/npm"]
        .iter()
        .map(Path::new)
        .filter(|root| root.is_dir())
        .collect();
    if roots.is_empty() {
        eprintln!("skipped: the host has neither /usr/share/nodejs nor /usr/lib/node_modules/npm");
        return;
    }
    let mut files = Vec::new();
    for root in &roots {
        host_sources(root, &mut files);
    }
    files.sort();
    let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    let oracle = Command::new("node")
        .args(["--expose-internals", "-e", NODE_ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(list.as_bytes())?;
            child.wait_with_output()
        });
    let output = match oracle {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            let error = String::from_utf8_lossy(&output.stderr);
            eprintln!("skipped: node cannot run the acorn oracle: {error}");
            return;
        }
        Err(error) => {
            eprintln!("skipped: no node to compare with: {error}");
            return;
        }
    };

    let tree = HostTree::new("/");
    let (run, packages) = (RunConfig::default(), PackageDb::default());
    let libraries = LibraryResolver::new(&tree, None);
    let cx = RuleContext {
        tree: &tree,
        run: &run,
        packages: &packages,
        libraries: &libraries,
        observed: &Default::default(),
    };
    let folders = Folders::of(&cx);
    let mut manifests = Manifests::default();
    let mut expected: HashMap<PathBuf, Vec<(String, String)>> = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(file), Some(specifier), Some(to)) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("oracle line {line:?}");
        };
        expected
            .entry(PathBuf::from(file))
            .or_default()
            .push((specifier.to_string(), to.to_string()));
    }
    let (mut compared, mut failures) = (0, Vec::new());
    for file in &files {
        let answers = expected.get(file).cloned().unwrap_or_default();
        if answers.iter().any(|(_, to)| to == "!parse") {
            continue;
        }
        let source = std::fs::read(file).unwrap();
        let found = scan::specifiers(&source);
        let oracle_specifiers: Vec<&String> = answers.iter().map(|(s, _)| s).collect();
        if found.iter().collect::<Vec<_>>() != oracle_specifiers {
            failures.push(format!(
                "{}: found {found:?}, acorn {oracle_specifiers:?}",
                file.display()
            ));
            continue;
        }
        let dir = file.parent().unwrap();
        for (specifier, to) in &answers {
            let resolved =
                Resolver::new(&tree, &folders.search, &mut manifests).resolve(dir, specifier);
            let real: Vec<PathBuf> = resolved
                .files
                .iter()
                .filter_map(|f| resolve(&tree, f).map(|r| r.path))
                .collect();
            let agrees = match to.as_str() {
                "builtin" => resolver::is_builtin(specifier) && real.is_empty(),
                "!" => real.is_empty(),
                path => real.contains(&PathBuf::from(path)),
            };
            if !agrees {
                failures.push(format!(
                    "{}: {specifier} → node {to}, rslim {real:?}",
                    file.display()
                ));
            }
            compared += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        compared > 100,
        "only {compared} specifiers compared under {roots:?}"
    );
    eprintln!(
        "{compared} specifiers in {} files agree with node",
        files.len()
    );
}
