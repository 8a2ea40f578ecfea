//! The checks behind the rule table, grouped by what they look at.

pub mod commands;
mod downloads;
pub mod layers;
pub mod metadata;
pub mod packages;
pub mod stages;

use super::model::{Analysis, Stage, Step};
use super::shell::Word;

/// Every step of every stage.
fn all_steps<'s, 'a>(
    analysis: &'s Analysis<'a>,
) -> impl Iterator<Item = (&'s Stage<'a>, &'s Step<'a>)> {
    analysis
        .stages
        .iter()
        .flat_map(|stage| stage.steps.iter().map(move |step| (stage, step)))
}

/// Steps of stages whose layers end up in the final image: only there does
/// leftover cache cost image size.
fn shipped_steps<'s, 'a>(analysis: &'s Analysis<'a>) -> impl Iterator<Item = &'s Step<'a>> {
    all_steps(analysis)
        .filter(|(stage, _)| stage.ships)
        .map(|(_, step)| step)
}

const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".zip", ".gz",
    ".xz", ".bz2", ".zst", ".deb", ".rpm", ".apk",
];

fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ARCHIVE_SUFFIXES
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// `path` made absolute against `workdir`, with `.` parts and trailing `/` removed.
fn absolute(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{workdir}/{path}")
    };
    let parts: Vec<&str> = joined
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Whether removing `target` (absolute, may hold `*` and `?` globs) deletes
/// `path`: the path is the target or lies below it.
fn removes(target: &str, path: &str) -> bool {
    let target_parts: Vec<&str> = target.split('/').filter(|part| !part.is_empty()).collect();
    let path_parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    path_parts.len() >= target_parts.len()
        && target_parts
            .iter()
            .zip(&path_parts)
            .all(|(pattern, part)| glob_matches(pattern.as_bytes(), part.as_bytes()))
}

/// Shell wildcard match of one path component (`*` and `?`).
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_matches(&pattern[1..], name)
                || (!name.is_empty() && glob_matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_matches(&pattern[1..], &name[1..]),
        (Some(expected), Some(actual)) if expected == actual => {
            glob_matches(&pattern[1..], &name[1..])
        }
        _ => false,
    }
}

/// The working directory after `step`, starting from `current`.
fn next_workdir(current: &str, step: &Step) -> String {
    let path = step.instruction.args.text.trim().trim_matches('"');
    if step.instruction.is("WORKDIR") && !path.contains('$') {
        absolute(current, path)
    } else {
        current.to_string()
    }
}

/// What the `rm` commands of a step delete, made absolute against `workdir`.
fn removed_paths<'s>(step: &'s Step, workdir: &str) -> Vec<(String, &'s Word)> {
    step.commands_of(&["rm"])
        .flat_map(|command| command.operands())
        .filter(|word| !word.text.contains('$'))
        .map(|word| (absolute(workdir, &word.text), word))
        .collect()
}

/// Whether some `rm` in the step deletes `path` (absolute).
fn step_removes(step: &Step, workdir: &str, path: &str) -> bool {
    removed_paths(step, workdir)
        .iter()
        .any(|(target, _)| removes(target, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_and_match_removals() {
        assert_eq!(absolute("/app", "./dist/"), "/app/dist");
        assert_eq!(absolute("/app", "/tmp/x"), "/tmp/x");
        assert!(removes("/tmp", "/tmp/x.tgz"));
        assert!(removes("/tmp/*.tgz", "/tmp/x.tgz"));
        assert!(!removes("/tmp/other", "/tmp/x.tgz"));
        assert!(!removes("/tm", "/tmp/x.tgz"));
        assert!(is_archive("Go1.22.Linux-amd64.TAR.GZ"));
        assert!(!is_archive("app.jar"));
        assert!(removes("/*.deb", "/pkg.deb"));
        assert!(!removes("/*.deb", "/tmp/go.tar.gz"));
        assert!(removes(
            "/var/lib/apt/lists/*",
            "/var/lib/apt/lists/partial"
        ));
        assert!(!removes("/var/lib/apt/lists/*", "/var/lib/apt/lists"));
        assert!(removes("/app/b?ild", "/app/build/cache"));
    }
}
