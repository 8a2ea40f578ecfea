//! Printing findings: `file:line ID severity: message`, the line, the fix.

use std::fmt::Write;

use super::Finding;
use crate::cli::Severity;
use crate::escape;

/// The lowercase name used in text and JSON output.
pub fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
        Severity::Never => "never",
    }
}

pub fn text(file: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let severity = label(finding.severity);
        // Writing to a String cannot fail.
        // The Dockerfile's own text is quoted escaped, control characters and all.
        let _ = writeln!(
            out,
            "{}:{} {} {severity}: {}",
            escape::text(file),
            finding.line,
            finding.id,
            escape::text(&finding.message)
        );
        let _ = writeln!(
            out,
            "  {:>4} | {}",
            finding.line,
            escape::text(&finding.source)
        );
        let _ = writeln!(out, "  fix: {}", escape::text(finding.fix));
    }
    let _ = writeln!(
        out,
        "{} finding{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    out
}
