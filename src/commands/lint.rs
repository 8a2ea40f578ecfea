use std::path::Path;
use std::process::ExitCode;

use crate::cli::LintArgs;
use crate::error::{ExitKind, Failure, Result};
use crate::lint::{self, render, LintOptions};

pub fn run(args: LintArgs) -> Result<ExitCode> {
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
    if args.json {
        println!("{}", render::json(&findings));
    } else {
        print!("{}", render::text(&path.display().to_string(), &findings));
    }
    if lint::fails(&findings, args.fail_on) {
        Ok(ExitCode::from(ExitKind::LintFindings.code()))
    } else {
        Ok(ExitCode::SUCCESS)
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
