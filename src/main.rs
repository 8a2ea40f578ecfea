use std::process::ExitCode;

use clap::Parser;
use rslim::cli::{Cli, Command};
use rslim::commands;
use rslim::error::ExitKind;
use rslim::report::document::{self, ErrorInfo, FailureDocument};
use rslim::report::progress;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => bad_command_line(error),
    };
    progress::set_mode(progress::choose(cli.quiet));
    rslim::docker::choose_engine(cli.engine);
    // Each command prints its own --json document, failures included.
    let outcome = match cli.command {
        Command::Build(args) => commands::build::run(args),
        Command::Xray(args) => commands::xray::run(args),
        Command::Lint(args) => commands::lint::run(args),
        Command::Completions(args) => commands::generate::completions(args),
        Command::Man(args) => commands::generate::man(args),
        Command::Prune(args) => commands::prune::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            progress::error(format_args!("rslim: error: {failure}"));
            ExitCode::from(failure.kind.code())
        }
    }
}

/// clap's own message and exit (2, or 0 for --help and --version); a run
/// that asked for --json gets its error document on stdout too, so that
/// every run prints one.
fn bad_command_line(error: clap::Error) -> ! {
    if error.use_stderr() && std::env::args_os().skip(1).any(|arg| arg == "--json") {
        let rendered = error.to_string();
        let message = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        let failure = rslim::error::Failure::msg(ExitKind::Usage, message);
        let _ = document::print(&FailureDocument::new(ErrorInfo::new(&failure, None)));
    }
    error.exit()
}
