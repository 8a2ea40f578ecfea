//! Runs the real `rslim lint` binary over tests/lint-corpus: every
//! `name.Dockerfile` must produce exactly the `line id` pairs listed in
//! `name.expected`, and exit codes must follow `--fail-on`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const LINT_FINDINGS: i32 = 10;
const USAGE: i32 = 2;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint-corpus")
}

fn corpus(name: &str) -> PathBuf {
    corpus_dir().join(format!("{name}.Dockerfile"))
}

fn rslim_lint(dockerfile: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rslim"))
        .arg("lint")
        .arg(dockerfile)
        .args(extra)
        .output()
        .expect("run rslim")
}

fn json_findings(dockerfile: &Path) -> Vec<Value> {
    let output = rslim_lint(dockerfile, &["--json", "--fail-on", "never"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}: {}",
        dockerfile.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let document: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!(document["schema_version"], 1, "{document}");
    assert_eq!(document["file"], dockerfile.display().to_string());
    assert!(document.get("error").is_none(), "{document}");
    document["findings"]
        .as_array()
        .expect("the findings are an array")
        .clone()
}

fn line_and_id(finding: &Value) -> (u64, String) {
    (
        finding["line"].as_u64().expect("line"),
        finding["id"].as_str().expect("id").to_string(),
    )
}

fn expected(path: &Path) -> Vec<(u64, String)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (number, id) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?} in {}", path.display()));
            (number.parse().expect("line number"), id.trim().to_string())
        })
        .collect()
}

#[test]
fn every_corpus_file_yields_exactly_its_expected_findings() {
    let mut dockerfiles: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read corpus")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "Dockerfile"))
        .collect();
    dockerfiles.sort();
    assert!(
        dockerfiles.len() >= 15,
        "corpus has only {} Dockerfiles",
        dockerfiles.len()
    );
    let mut mismatches = Vec::new();
    for dockerfile in &dockerfiles {
        let mut found: Vec<_> = json_findings(dockerfile).iter().map(line_and_id).collect();
        let mut wanted = expected(&dockerfile.with_extension("expected"));
        found.sort();
        wanted.sort();
        if found != wanted {
            mismatches.push(format!(
                "{}:\n  found    {found:?}\n  expected {wanted:?}",
                dockerfile.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn json_findings_carry_every_field() {
    let findings = json_findings(&corpus("metadata"));
    let broken = findings
        .iter()
        .find(|f| f["id"] == "RS002")
        .expect("RS002 in metadata");
    assert_eq!(broken["severity"], "error");
    assert_eq!(broken["line"], 5);
    assert_eq!(broken["instruction"], "CMD");
    assert_eq!(broken["source"], "CMD ['/app', '--serve']");
    assert!(broken["message"].as_str().unwrap().contains("JSON"));
    assert!(!broken["fix"].as_str().unwrap().is_empty());
}

#[test]
fn best_practice_file_has_no_warnings_or_errors() {
    let findings = json_findings(&corpus("clean-multistage"));
    let serious: Vec<_> = findings
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(serious.is_empty(), "{serious:?}");
    let output = rslim_lint(&corpus("clean-multistage"), &["--fail-on", "info"]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn exit_code_follows_fail_on() {
    // metadata has an error; shell-form-cmd only warnings; onbuild only info.
    let cases: &[(&str, &[&str], i32)] = &[
        ("metadata", &[], LINT_FINDINGS),
        ("metadata", &["--fail-on", "never"], 0),
        ("shell-form-cmd", &[], 0),
        ("shell-form-cmd", &["--fail-on", "warning"], LINT_FINDINGS),
        ("onbuild", &["--fail-on", "warning"], 0),
        ("onbuild", &["--fail-on", "info"], LINT_FINDINGS),
        ("onbuild", &["--json", "--fail-on", "info"], LINT_FINDINGS),
    ];
    for (name, args, code) in cases {
        let output = rslim_lint(&corpus(name), args);
        assert_eq!(output.status.code(), Some(*code), "{name} {args:?}");
    }
    // A run that fails on its findings says so in its document too.
    let output = rslim_lint(&corpus("onbuild"), &["--json", "--fail-on", "info"]);
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["error"]["exit_code"], LINT_FINDINGS, "{document}");
    assert_eq!(document["error"]["kind"], "lint-findings");
    assert!(!document["findings"].as_array().unwrap().is_empty());
}

#[test]
fn text_output_names_file_line_rule_and_fix() {
    let path = corpus("expose-host-port");
    let output = rslim_lint(&path, &[]);
    let text = String::from_utf8(output.stdout).unwrap();
    let header = format!(
        "{}:2 RS025 error: EXPOSE takes container ports only: 8080:80 publishes a host port",
        path.display()
    );
    assert!(text.contains(&header), "{text}");
    assert!(text.contains("     2 | EXPOSE 8080:80"), "{text}");
    assert!(text.contains("  fix: EXPOSE 80"), "{text}");
    assert!(text.ends_with("3 findings\n"), "{text}");
}

#[test]
fn unreadable_and_unparsable_files_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("Nope.Dockerfile");
    let output = rslim_lint(&missing, &[]);
    assert_eq!(output.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Nope.Dockerfile"));

    let broken = dir.path().join("Dockerfile");
    std::fs::write(&broken, "FROM debian:12\nRUN <<EOF\necho never closed\n").unwrap();
    let output = rslim_lint(&broken, &["--json"]);
    assert_eq!(output.status.code(), Some(USAGE));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Dockerfile: line 2: heredoc <<EOF is never closed"),
        "{stderr}"
    );
    // The pipeline still gets one document, saying the same.
    let document: Value = serde_json::from_slice(&output.stdout).expect("an error document");
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["file"], broken.display().to_string());
    assert_eq!(document["error"]["exit_code"], USAGE);
    assert_eq!(document["error"]["kind"], "usage");
    assert!(document["error"]["message"]
        .as_str()
        .unwrap()
        .contains("heredoc <<EOF is never closed"));
}

#[test]
fn dockerignore_next_to_the_dockerfile_silences_context_copy() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::copy(corpus("copy-context"), &dockerfile).unwrap();
    let ids = |path: &Path| {
        json_findings(path)
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(ids(&dockerfile).contains(&"RS027".to_string()));
    std::fs::write(dir.path().join(".dockerignore"), ".git\nnode_modules\n").unwrap();
    assert!(!ids(&dockerfile).contains(&"RS027".to_string()));
}
