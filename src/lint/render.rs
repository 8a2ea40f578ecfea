//! Printing findings: `file:line ID severity: message`, the line, the fix.

use std::fmt::Write;

use super::Finding;

pub fn text(file: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let severity = serde_json::to_value(finding.severity)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{file}:{} {} {severity}: {}",
            finding.line, finding.id, finding.message
        );
        let _ = writeln!(out, "  {:>4} | {}", finding.line, finding.source);
        let _ = writeln!(out, "  fix: {}", finding.fix);
    }
    let _ = writeln!(
        out,
        "{} finding{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    out
}

pub fn json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).expect("findings serialize to JSON")
}
