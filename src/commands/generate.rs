//! `rslim completions SHELL` and `rslim man`: generated from the clap
//! definitions in `cli.rs`, so they name exactly the flags the parser takes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{ExitKind, Failure, Result};

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "rslim", &mut script);
    emit(&script)
}

pub fn man(args: ManArgs) -> Result<ExitCode> {
    // Built, each subcommand knows its page name (`rslim-build`) and its
    // synopsis (`rslim build`). `help` gets no page, as in clap_mangen.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    if let Some(dir) = &args.dir {
        return write_pages(&command, dir).map(|()| ExitCode::SUCCESS);
    }
    match &args.command {
        None => emit(&top_page(&command)?),
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => emit(&sub_page(sub)?),
            None => {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                Err(Failure::msg(
                    ExitKind::Usage,
                    format!("no command {name}; the commands are {}", names.join(", ")),
                ))
            }
        },
    }
}

/// rslim.1, rslim-build.1, … into `dir`.
fn write_pages(command: &clap::Command, dir: &Path) -> Result<()> {
    let cannot = |e: &dyn std::fmt::Display| {
        Failure::msg(
            ExitKind::OutputFailed,
            format!("cannot write the manual pages to {}: {e}", dir.display()),
        )
    };
    let mut pages = vec![("rslim.1".to_string(), top_page(command)?)];
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("{}.1", sub.get_display_name().unwrap_or(sub.get_name()));
        pages.push((name, sub_page(sub)?));
    }
    for (name, page) in pages {
        std::fs::write(dir.join(name), page).map_err(|e| cannot(&e))?;
    }
    Ok(())
}

fn sub_page(command: &clap::Command) -> Result<Vec<u8>> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut roff)
        .map_err(|e| Failure::new(ExitKind::Internal, e))?;
    Ok(roff)
}

/// rslim(1), with the exit codes as an EXIT STATUS section of their own
/// rather than clap_mangen's EXTRA section of the help's plain text.
fn top_page(command: &clap::Command) -> Result<Vec<u8>> {
    let without_table = command.clone().after_long_help(None::<&str>);
    let page = String::from_utf8(sub_page(&without_table)?)
        .map_err(|e| Failure::new(ExitKind::Internal, e))?;
    let mut status = String::from(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nsuccess\n");
    for kind in ExitKind::ALL {
        status += &format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            kind.code(),
            roff_text(kind.meaning())
        );
    }
    let page = match page.find(".SH VERSION") {
        Some(at) => format!("{}{status}{}", &page[..at], &page[at..]),
        None => page + &status,
    };
    Ok(page.into_bytes())
}

/// Text as roff shows it literally: escaped backslashes, dashes and quotes
/// (`\*(Aq` is the apostrophe string clap_mangen's preamble defines).
fn roff_text(text: &str) -> String {
    text.replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq")
}

fn emit(bytes: &[u8]) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::new(ExitKind::Internal, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_shows_dashes_and_quotes_literally() {
        assert_eq!(
            roff_text("--verify: it's a\\b"),
            "\\-\\-verify: it\\*(Aqs a\\eb"
        );
    }
}
