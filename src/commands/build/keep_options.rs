//! The resolve stage's options from the command line: `--include-path-file`
//! read, globs checked, so a bad value fails before anything is created.

use std::path::PathBuf;

use crate::cli::BuildArgs;
use crate::error::{ExitKind, Failure, Result};
use crate::resolve::fileset::{KeepOptions, KeepSet};
use crate::resolve::glob::{is_glob, Glob};

/// The options `keep_set` gets; `Err` (exit 2) for an unreadable
/// `--include-path-file` or a malformed pattern.
pub fn from_args(args: &BuildArgs) -> Result<KeepOptions> {
    let mut include_paths: Vec<String> = args.include_paths.clone();
    for file in &args.include_path_files {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Failure::msg(
                ExitKind::Usage,
                format!("--include-path-file {}: {e}", file.display()),
            )
        })?;
        include_paths.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string),
        );
    }
    for (flag, pattern) in include_paths
        .iter()
        .filter(|p| is_glob(p))
        .map(|p| ("--include-path", p))
        .chain(
            args.exclude_patterns
                .iter()
                .map(|p| ("--exclude-pattern", p)),
        )
    {
        Glob::new(pattern).map_err(|e| Failure::msg(ExitKind::Usage, format!("{flag} {e}")))?;
    }
    Ok(KeepOptions {
        include_shell: args.include_shell,
        include_paths: include_paths.iter().map(PathBuf::from).collect(),
        include_bins: args.include_bins.iter().map(PathBuf::from).collect(),
        include_exes: args.include_exes.clone(),
        include_certs: args.include_certs,
        include_zoneinfo: args.include_zoneinfo,
        include_locales: args.include_locales.clone(),
        exclude_patterns: args.exclude_patterns.clone(),
        app_files: args.keep_app_files,
        keep: args.keep,
        disabled_rules: args.no_runtime_rules.iter().cloned().collect(),
    })
}

/// `--exclude-pattern` may not remove the image's own command: the slim
/// image could not start (exit 2, with the pattern to change).
pub fn check_exclusions(args: &BuildArgs, keep: &KeepSet) -> Result<()> {
    let Some(entrypoint) = &keep.entrypoint else {
        return Ok(());
    };
    if keep.excluded.iter().any(|(path, _)| path == entrypoint) {
        return Err(Failure::msg(
            ExitKind::Usage,
            format!(
                "--exclude-pattern {} removes the image's command {}: a slim image without it \
                 could not start, so none was written",
                args.exclude_patterns.join(" --exclude-pattern "),
                entrypoint.display()
            ),
        ));
    }
    Ok(())
}
