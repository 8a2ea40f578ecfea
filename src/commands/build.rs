use std::process::ExitCode;

use crate::cli::BuildArgs;
use crate::error::{ExitKind, Failure, Result};

pub fn run(_args: BuildArgs) -> Result<ExitCode> {
    Err(Failure::msg(ExitKind::Internal, "not implemented yet"))
}
