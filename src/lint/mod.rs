//! `rslim lint`: check a Dockerfile against image-size and hygiene best
//! practice.
//!
//! [`parse`] turns the text into instructions with their line numbers,
//! [`model`] groups them into stages and splits RUN commands, and every
//! entry of [`rules::RULES`] runs its check over that model. Nothing here
//! touches the filesystem: the caller says whether a `.dockerignore` exists.

mod checks;
pub mod instruction;
pub mod model;
pub mod parse;
pub mod render;
pub mod rules;
pub mod shell;
pub mod text;

use serde::Serialize;

use crate::cli::Severity;
pub use parse::{parse, Dockerfile, ParseError};
use rules::{Hits, RULES};

/// One rule violation, ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    /// The line of the offending part (the instruction's first line when
    /// the problem is the instruction as a whole).
    pub line: usize,
    /// The keyword of the instruction, e.g. `RUN`.
    pub instruction: String,
    pub message: String,
    pub fix: &'static str,
    /// The offending line as written, trimmed.
    pub source: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LintOptions {
    /// A `.dockerignore` applies to this Dockerfile's build context.
    pub has_dockerignore: bool,
}

/// Lints Dockerfile `text`. Findings come sorted by line, then rule id.
pub fn lint(text: &str, options: LintOptions) -> Result<Vec<Finding>, ParseError> {
    let dockerfile = parse(text)?;
    let analysis = model::Analysis::new(&dockerfile, options.has_dockerignore)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut findings = Vec::new();
    for rule in RULES {
        let mut hits = Hits::default();
        (rule.check)(&analysis, &mut hits);
        for hit in hits.0 {
            let message = match hit.detail {
                Some(detail) => format!("{}: {detail}", rule.reason),
                None => rule.reason.to_string(),
            };
            findings.push(Finding {
                id: rule.id,
                severity: rule.severity,
                line: hit.line,
                instruction: hit.keyword,
                message,
                fix: rule.fix,
                source: lines
                    .get(hit.line.wrapping_sub(1))
                    .map_or("", |line| line.trim())
                    .to_string(),
            });
        }
    }
    findings.sort_by(|a, b| (a.line, a.id).cmp(&(b.line, b.id)));
    findings.dedup_by(|a, b| a.line == b.line && a.id == b.id && a.message == b.message);
    Ok(findings)
}

/// Whether any finding is at or above `fail_on` (`Never` never fails).
pub fn fails(findings: &[Finding], fail_on: Severity) -> bool {
    fail_on != Severity::Never && findings.iter().any(|finding| finding.severity >= fail_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_point_at_the_offending_line_and_fail_by_severity() {
        let text = "FROM debian:12\nRUN apt-get update \\\n  && apt-get install curl \\\n  && rm -rf /var/lib/apt/lists/*\nUSER 1000\n";
        let findings = lint(text, LintOptions::default()).unwrap();
        let ids: Vec<(usize, &str)> = findings.iter().map(|f| (f.line, f.id)).collect();
        assert_eq!(ids, [(3, "RS009"), (3, "RS010")]);
        assert_eq!(findings[0].source, "&& apt-get install curl \\");
        assert_eq!(findings[0].instruction, "RUN");
        assert!(fails(&findings, Severity::Error));
        assert!(!fails(&findings, Severity::Never));
        assert!(!fails(&findings[1..], Severity::Error));
        assert!(fails(&findings[1..], Severity::Info));
    }

    /// Every prefix of every corpus file (cut at a line or mid-line) either
    /// lints or is a parse error: never a panic.
    #[test]
    fn truncated_corpus_files_never_panic() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint-corpus");
        let mut checked = 0;
        for entry in std::fs::read_dir(corpus).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "Dockerfile") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let cuts = text.char_indices().map(|(index, _)| index).step_by(7);
            for cut in cuts {
                let _ = lint(&text[..cut], LintOptions::default());
                checked += 1;
            }
        }
        assert!(checked > 100);
    }
}
