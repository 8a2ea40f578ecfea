//! The one JSON document of a run, for pipelines.
//!
//! `build --json`, `xray --json` and `lint --json` each print exactly one
//! document on stdout, whatever happens: the command's report, or, when it
//! failed before it had one, an error document. Every document carries
//! `schema_version`; every run that exits non-zero carries `error` with the
//! exit code, so `jq .error` tells a pipeline what happened. docs/report.md
//! describes the build's, docs/report.schema.json is its JSON Schema.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{ExitKind, Failure, Result};

/// The version of the documents' shape. Raised when a field is removed or
/// changes meaning; new fields may appear without a raise.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a run exited non-zero.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The process's exit code (README, "Exit codes").
    pub exit_code: u8,
    /// The exit code's stable name: `verify-failed`, `app-failed`, …
    pub kind: &'static str,
    /// What `rslim: error:` says on stderr.
    pub message: String,
    /// The stage that was running, for build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'static str>,
}

impl ErrorInfo {
    pub fn new(failure: &Failure, stage: Option<&'static str>) -> ErrorInfo {
        ErrorInfo {
            exit_code: failure.kind.code(),
            kind: failure.kind.name(),
            message: failure.to_string(),
            stage,
        }
    }
}

/// A run that failed before it had a report: which input, and the error.
#[derive(Debug, Serialize)]
pub struct FailureDocument<'a> {
    pub schema_version: u32,
    /// build: the image as named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_image: Option<&'a str>,
    /// xray: the image or archive as named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    /// lint: the Dockerfile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<&'a str>,
    pub error: ErrorInfo,
}

impl<'a> FailureDocument<'a> {
    pub fn new(error: ErrorInfo) -> FailureDocument<'a> {
        FailureDocument {
            schema_version: SCHEMA_VERSION,
            source_image: None,
            source: None,
            file: None,
            error,
        }
    }
}

/// Prints `document` on stdout, pretty, with a final newline. A reader that
/// went away (`rslim … --json | head`) is not an error.
pub fn print(document: &impl Serialize) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut stdout, document)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(stdout))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(ExitKind::Internal, e)),
    }
}

/// Writes `document` to `path` (`--report FILE`): to a temp name beside it,
/// then renamed, so a reader never sees half a report.
pub fn write(path: &Path, document: &impl Serialize) -> Result<()> {
    let cannot = |e: &dyn std::fmt::Display| {
        Failure::msg(
            ExitKind::Usage,
            format!("cannot write the report to {}: {e}", path.display()),
        )
    };
    let json = serde_json::to_vec_pretty(document).map_err(|e| cannot(&e))?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".rslim-report-")
        .suffix(".tmp")
        .tempfile_in(directory)
        .map_err(|e| cannot(&e))?;
    // A temp file is 0600; a report is as readable as any file written.
    use std::os::unix::fs::PermissionsExt;
    file.write_all(&json)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| {
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .map_err(|e| cannot(&e))?;
    file.persist(path).map_err(|e| cannot(&e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_document_names_the_exit_code() {
        let failure = Failure::msg(ExitKind::AppFailed, "the app exited with code 3");
        let mut document = FailureDocument::new(ErrorInfo::new(&failure, Some("stop")));
        document.source_image = Some("app:1");
        let value = serde_json::to_value(&document).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "schema_version": SCHEMA_VERSION,
                "source_image": "app:1",
                "error": {
                    "exit_code": 6,
                    "kind": "app-failed",
                    "message": "the app exited with code 3",
                    "stage": "stop",
                },
            })
        );
    }

    #[test]
    fn the_report_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old").unwrap();
        write(&path, &serde_json::json!({"a": 1})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\n  \"a\": 1\n}\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temp file was left behind");
    }

    #[test]
    fn an_unwritable_report_path_is_a_usage_error() {
        let failure = write(Path::new("/nonexistent/dir/report.json"), &1).unwrap_err();
        assert_eq!(failure.kind, ExitKind::Usage);
        assert!(failure.to_string().contains("/nonexistent/dir/report.json"));
    }
}
