//! What is generated from the command-line definitions (completions, manual
//! pages, the exit code table) and the pipeline examples' files, checked
//! without an engine: each against the source it must agree with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rslim::error::ExitKind;
use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

mod common;

use common::schema::{report_schema, validate};

fn rslim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args(args)
        .output()
        .expect("cannot run rslim")
}

fn stdout_of(args: &[&str]) -> String {
    let out = rslim(args);
    assert!(
        out.status.success(),
        "rslim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const SUBCOMMANDS: &[&str] = &["build", "xray", "lint", "completions", "man"];
const BUILD_FLAGS: &[&str] = &["--json", "--verify", "--push", "--report", "--output"];

// ---------------------------------------------------------------- completions, man

#[test]
fn bash_completion_parses_and_registers_itself() {
    let script = stdout_of(&["completions", "bash"]);
    for word in SUBCOMMANDS.iter().chain(BUILD_FLAGS).chain(&["--quiet"]) {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rslim.bash");
    std::fs::write(&path, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Sourced, it completes `rslim`.
    let sourced = Command::new("bash")
        .args(["-c", "source \"$1\" && complete -p rslim", "bash"])
        .arg(&path)
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&sourced.stdout);
    assert!(
        sourced.status.success() && registered.contains("rslim"),
        "{registered}{}",
        String::from_utf8_lossy(&sourced.stderr)
    );
}

#[test]
fn zsh_and_fish_completions_name_the_commands_and_flags() {
    let zsh = stdout_of(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef rslim"), "{}", &zsh[..80]);
    let fish = stdout_of(&["completions", "fish"]);
    assert!(fish.contains("complete -c rslim"));
    for script in [&zsh, &fish] {
        for word in SUBCOMMANDS {
            assert!(script.contains(word), "a completion lacks {word}");
        }
        // fish writes flags without their dashes (`-l json`)
        for flag in BUILD_FLAGS {
            assert!(
                script.contains(flag) || script.contains(&format!("-l {}", &flag[2..])),
                "a completion lacks {flag}"
            );
        }
    }
    let bad = rslim(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_cover_every_command_and_the_exit_codes() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH rslim 1"), "{}", &page[..200]);
    for command in SUBCOMMANDS {
        assert!(page.contains(command), "rslim(1) lacks {command}");
    }
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    for kind in ExitKind::ALL {
        let entry = format!(".TP\n\\fB{}\\fR\n", kind.code());
        assert!(page.contains(&entry), "rslim(1) lacks exit code {kind:?}");
    }
    let build = stdout_of(&["man", "build"]);
    assert!(build.contains(".TH rslim-build 1"), "{}", &build[..200]);
    assert!(
        build.contains("rslim build"),
        "the synopsis names `rslim build`"
    );
    for flag in BUILD_FLAGS.iter().chain(&["--quiet"]) {
        // roff escapes the dashes: \-\-json
        assert!(
            build.contains(&flag.replace('-', "\\-")),
            "rslim-build(1) lacks {flag}"
        );
    }
    let unknown = rslim(&["man", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("build, xray, lint"));

    let dir = tempfile::tempdir().unwrap();
    stdout_of(&["man", "--dir", dir.path().to_str().unwrap()]);
    for command in SUBCOMMANDS {
        let page = dir.path().join(format!("rslim-{command}.1"));
        assert!(page.is_file(), "{} was not written", page.display());
    }
    assert!(dir.path().join("rslim.1").is_file());
}

// ---------------------------------------------------------------- exit codes

/// The README's table is the one in `rslim --help`, row for row: both say
/// what src/error.rs says.
#[test]
fn the_exit_code_table_is_complete_and_agrees_with_the_code() {
    let readme = read("README.md");
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README has an Exit codes section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<(u8, String)> = section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let code = cells.first()?.trim().parse().ok()?;
            Some((code, cells.get(1)?.trim().replace('`', "")))
        })
        .collect();
    let mut expected = vec![(0, "success".to_string())];
    expected.extend(
        ExitKind::ALL
            .iter()
            .map(|kind| (kind.code(), kind.meaning().to_string())),
    );
    assert_eq!(rows, expected, "README's exit code table");

    let help = stdout_of(&["--help"]);
    assert!(help.contains(&ExitKind::table()), "{help}");
    for kind in ExitKind::ALL {
        assert!(help.contains(kind.meaning()), "--help lacks {kind:?}");
    }
}

#[test]
fn a_bad_command_line_with_json_still_prints_a_document() {
    let out = rslim(&["build", "some:image", "--json", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let document: Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(document["error"]["kind"], "usage");
    assert!(document["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--no-such-flag"));
    assert!(validate(&report_schema(), &document).is_empty());
    // Without --json, stdout stays empty.
    let out = rslim(&["build", "some:image", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    // --help is no error.
    let out = rslim(&["build", "--help", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("schema_version"));
}

// ---------------------------------------------------------------- the schema checker

/// The hand-written checker of tests/common/schema.rs refuses what the
/// schema forbids (else a passing validation would prove nothing).
#[test]
fn the_schema_checker_refuses_what_the_schema_forbids() {
    let schema = report_schema();
    let good = json!({
        "schema_version": 1,
        "source_image": "app:1",
        "error": {"exit_code": 6, "kind": "app-failed", "message": "m", "stage": "stop"},
    });
    assert_eq!(validate(&schema, &good), Vec::<String>::new());
    let broken = [
        ("/schema_version", json!(2)),
        ("/error/exit_code", json!(0)),
        ("/error/kind", json!("AppFailed")),
        ("/error/stage", json!("profiling")),
        ("/error/message", json!(3)),
        ("/source_image", json!(null)),
    ];
    for (pointer, value) in broken {
        let mut document = good.clone();
        *document.pointer_mut(pointer).unwrap() = value.clone();
        assert!(
            !validate(&schema, &document).is_empty(),
            "{pointer} = {value} passed"
        );
    }
    let mut extra = good.clone();
    extra["surprise"] = json!(1);
    assert!(!validate(&schema, &extra).is_empty());
    let mut missing = good.clone();
    missing["error"].as_object_mut().unwrap().remove("message");
    assert!(!validate(&schema, &missing).is_empty());
    assert!(!validate(&schema, &json!([])).is_empty());
}

#[test]
#[should_panic(expected = "does not implement")]
fn the_schema_checker_refuses_keywords_it_does_not_know() {
    let schema = json!({"type": "string", "pattern": "^sha256:"});
    validate(&schema, &json!("x"));
}

// ---------------------------------------------------------------- CI examples

/// Every string in a YAML document, depth first.
fn strings(yaml: &Yaml, out: &mut Vec<String>) {
    match yaml {
        Yaml::String(text) => out.push(text.clone()),
        Yaml::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Yaml::Hash(map) => map.iter().for_each(|(key, value)| {
            strings(key, out);
            strings(value, out);
        }),
        _ => {}
    }
}

fn parse_yaml(name: &str, text: &str) -> Vec<Yaml> {
    let documents =
        YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    assert!(!documents.is_empty(), "{name} is empty");
    documents
}

/// The `--flags` of every `rslim build` command in `texts`.
fn build_flags(texts: &[String]) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for text in texts {
        for command in text.split("rslim build").skip(1) {
            // the command ends at the end of its line or at a redirection
            let command = command.split(['\n', '>', '|']).next().unwrap_or_default();
            flags.extend(
                command
                    .split_whitespace()
                    .filter(|word| word.starts_with("--"))
                    .map(str::to_string),
            );
        }
    }
    flags
}

/// The flags examples/ci/slim-and-push.sh gives rslim build.
fn script_flags() -> BTreeSet<String> {
    read("examples/ci/slim-and-push.sh")
        .lines()
        .filter(|line| line.trim_start().starts_with("flags"))
        .flat_map(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|word| {
            word.trim_start_matches("flags+=(")
                .trim_start_matches("flags=(")
                .trim_end_matches(')')
                .to_string()
        })
        .filter(|word| word.starts_with("--"))
        .collect()
}

#[test]
fn the_ci_examples_parse_and_use_the_scripts_flags() {
    let script = script_flags();
    let expected: BTreeSet<String> = [
        "--verify",
        "--tag",
        "--push",
        "--json",
        "--insecure-registry",
    ]
    .map(String::from)
    .into();
    assert_eq!(script, expected);
    let script_syntax = Command::new("bash")
        .arg("-n")
        .arg(repo("examples/ci/slim-and-push.sh"))
        .output()
        .unwrap();
    assert!(script_syntax.status.success());

    // The same flags, less the one a real registry never needs.
    let mut pipeline = script.clone();
    pipeline.remove("--insecure-registry");
    for name in [
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
    ] {
        let mut texts = Vec::new();
        for document in parse_yaml(name, &read(name)) {
            strings(&document, &mut texts);
        }
        assert_eq!(build_flags(&texts), pipeline, "{name}");
        let all = texts.join("\n");
        assert!(all.contains("rslim-report.json"), "{name} keeps no report");
    }
    // And each flag is one rslim build takes.
    let help = stdout_of(&["build", "--help"]);
    for flag in &script {
        assert!(help.contains(flag.as_str()), "rslim build has no {flag}");
    }
}

#[test]
fn docs_fleet_yaml_parses_and_its_jq_recipe_is_the_example_file() {
    let doc = read("docs/fleet.md");
    let blocks = |language: &str| -> Vec<String> {
        doc.split(&format!("```{language}\n"))
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap().to_string())
            .collect()
    };
    let yaml = blocks("yaml");
    assert_eq!(
        yaml.len(),
        3,
        "the GitHub matrix, GitLab's, the Kubernetes Job"
    );
    let help = stdout_of(&["build", "--help"]);
    for (index, block) in yaml.iter().enumerate() {
        let mut texts = Vec::new();
        for document in parse_yaml(&format!("docs/fleet.md yaml block {index}"), block) {
            strings(&document, &mut texts);
        }
        let mut flags = build_flags(&texts);
        // The Job passes its arguments as a list: flags are list items.
        flags.extend(texts.iter().filter(|t| t.starts_with("--")).cloned());
        assert!(flags.contains("--verify"), "block {index}: {flags:?}");
        for flag in flags
            .iter()
            .filter(|f| !f.starts_with("--host=") && !f.starts_with("--authfile"))
        {
            assert!(
                help.contains(flag.as_str()),
                "block {index}: rslim build has no {flag}"
            );
        }
    }
    let job = &yaml[2];
    for needed in [
        "privileged: true",
        "drop: [ALL]",
        "runAsNonRoot: true",
        "--report",
    ] {
        assert!(job.contains(needed), "the Job template lacks {needed}");
    }
    assert_eq!(blocks("jq"), vec![read("examples/ci/fleet-table.jq")]);
}

/// Every `docs/<page>.md` the code, the help text, the tests and the docs
/// point readers to exists (the help once named docs/packages.md before it
/// was written).
#[test]
fn every_docs_page_referred_to_exists() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "rs" || e == "md" || e == "sh")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in [
        "src",
        "sensor/src",
        "docs",
        "tests",
        "benches",
        "scripts",
        "examples",
    ] {
        walk(&repo(dir), &mut files);
    }
    files.extend(
        [
            "README.md",
            "scripts/fuzz",
            "scripts/setup",
            "fuzz/Cargo.toml",
        ]
        .map(repo),
    );
    let mut missing = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (at, _) in text.match_indices("docs/") {
            let name: String = text[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
                .collect();
            let Some(page) = name.strip_suffix(".md").or_else(|| {
                name.find(".md")
                    .filter(|i| !name[i + 3..].starts_with(|c: char| c.is_alphanumeric()))
                    .map(|i| &name[..i])
            }) else {
                continue;
            };
            if !repo(&format!("docs/{page}.md")).exists() {
                missing.insert(format!("docs/{page}.md (in {})", file.display()));
            }
        }
    }
    assert!(missing.is_empty(), "missing pages: {missing:#?}");
}
