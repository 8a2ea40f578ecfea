//! `rslim prune`: removes what killed rslim runs left behind (see
//! [`crate::leftovers`]); `--all` removes every container, volume, temporary
//! tag and temp dir of rslim's, whoever owns it. One line per removal on
//! stdout; what was kept, and why, on stderr.

use std::process::ExitCode;

use crate::cli::PruneArgs;
use crate::docker::Docker;
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::leftovers::{self, Scope};
use crate::report::progress;

pub fn run(args: PruneArgs) -> Result<ExitCode> {
    let scope = match args.all {
        true => Scope::All,
        false => Scope::DeadOwners,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .fail_with(ExitKind::Internal)?;
    let swept = runtime.block_on(async {
        let docker = Docker::connect().await?;
        Ok::<_, Failure>(leftovers::sweep(&docker, scope, args.dry_run).await)
    })?;
    let verb = match args.dry_run {
        true => "would remove",
        false => "removed",
    };
    for item in &swept.removed {
        println!("{verb} {} {} ({})", item.kind, item.name, item.owner);
    }
    for item in &swept.kept {
        progress::say(format_args!(
            "rslim: kept {} {} ({})",
            item.kind, item.name, item.owner
        ));
    }
    if !swept.kept.is_empty() {
        progress::say(
            "rslim: `rslim prune --all` removes those too, and fails the builds they belong to",
        );
    }
    for problem in &swept.problems {
        progress::warn(problem);
    }
    match swept.problems.len() {
        0 => Ok(ExitCode::SUCCESS),
        n => Err(Failure::msg(
            ExitKind::Internal,
            format!("{n} leftover(s) could not be removed or listed (see the warnings above)"),
        )),
    }
}
