use std::process::ExitCode;

use clap::Parser;
use rslim::cli::{Cli, Command};
use rslim::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    rslim::docker::choose_engine(cli.engine);
    let outcome = match cli.command {
        Command::Build(args) => commands::build::run(args),
        Command::Xray(args) => commands::xray::run(args),
        Command::Lint(args) => commands::lint::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("rslim: error: {failure}");
            ExitCode::from(failure.kind.code())
        }
    }
}
