use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::LintArgs;
use crate::error::{ExitKind, Failure, Result};
use crate::lint::{self, render, Finding, LintOptions};
use crate::report::document::{self, ErrorInfo, FailureDocument};

/// The `--json` document: the findings, and `error` when they fail the run.
#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    file: &'a str,
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorInfo>,
}

/// With `--json`, a Dockerfile that cannot be read or parsed prints its
/// error document on stdout too.
pub fn run(args: LintArgs) -> Result<ExitCode> {
    let outcome = check(&args);
    if let (Err(failure), true) = (&outcome, args.json) {
        let file = args.dockerfile.display().to_string();
        let mut document = FailureDocument::new(ErrorInfo::new(failure, None));
        document.file = Some(&file);
        document::print(&document)?;
    }
    outcome
}

fn check(args: &LintArgs) -> Result<ExitCode> {
    let path = &args.dockerfile;
    let text = std::fs::read_to_string(path).map_err(|error| {
        Failure::msg(
            ExitKind::Usage,
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    let options = LintOptions {
        has_dockerignore: has_dockerignore(path),
    };
    let findings = lint::lint(&text, options)
        .map_err(|error| Failure::msg(ExitKind::Usage, format!("{}: {error}", path.display())))?;
    let file = path.display().to_string();
    let fails = lint::fails(&findings, args.fail_on);
    if args.json {
        let failing = fails.then(|| {
            let failure = Failure::msg(
                ExitKind::LintFindings,
                format!(
                    "{file}: findings at or above --fail-on {}",
                    render::label(args.fail_on)
                ),
            );
            ErrorInfo::new(&failure, None)
        });
        document::print(&Report {
            schema_version: document::SCHEMA_VERSION,
            file: &file,
            findings: &findings,
            error: failing,
        })?;
    } else {
        print!("{}", render::text(&file, &findings));
    }
    match fails {
        true => Ok(ExitCode::from(ExitKind::LintFindings.code())),
        false => Ok(ExitCode::SUCCESS),
    }
}

/// BuildKit reads `<Dockerfile>.dockerignore` first, then `.dockerignore` in
/// the context; the context is usually the Dockerfile's directory.
fn has_dockerignore(dockerfile: &Path) -> bool {
    let directory = dockerfile
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut own = dockerfile.as_os_str().to_owned();
    own.push(".dockerignore");
    Path::new(&own).is_file() || directory.join(".dockerignore").is_file()
}
