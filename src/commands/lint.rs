use std::process::ExitCode;

use crate::cli::LintArgs;
use crate::error::{ExitKind, Failure, Result};

pub fn run(_args: LintArgs) -> Result<ExitCode> {
    Err(Failure::msg(ExitKind::Internal, "not implemented yet"))
}
