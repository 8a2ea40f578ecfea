use std::process::ExitCode;

use crate::cli::XrayArgs;
use crate::error::{ExitKind, Failure, Result};

pub fn run(_args: XrayArgs) -> Result<ExitCode> {
    Err(Failure::msg(ExitKind::Internal, "not implemented yet"))
}
