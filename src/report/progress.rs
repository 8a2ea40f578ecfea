//! What people see on stderr while rslim works.
//!
//! Three modes, chosen once in `main`: on a terminal, one live line per
//! stage with a spinner and its elapsed time, left in place with a ✓ (or ✗)
//! when the stage ends; when stderr is a pipe or a file, the plain
//! `rslim: [stage] what` lines, one per stage; with `--quiet`, nothing but
//! errors. stdout is never written here: with `--json` it holds the document.
//!
//! stderr is one stream for the whole process, so the mode and the live line
//! are process-wide too. Anything else that prints for people goes through
//! [`say`] or [`warn`], which lift the live line out of the way first.

use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A terminal: live stage lines.
    Live = 0,
    /// A pipe or a file: one plain line as each stage starts.
    Plain = 1,
    /// `--quiet`: errors only.
    Quiet = 2,
}

/// Plain until `main` says otherwise: a library caller gets today's lines.
static MODE: AtomicU8 = AtomicU8::new(Mode::Plain as u8);

/// The live line of the running stage, so that [`say`] can lift it.
static LIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The mode for this process: `--quiet`, else whether stderr is a terminal
/// that can redraw a line (not `TERM=dumb`).
pub fn choose(quiet: bool) -> Mode {
    let dumb = std::env::var_os("TERM").is_some_and(|term| term == "dumb");
    match (quiet, std::io::stderr().is_terminal() && !dumb) {
        (true, _) => Mode::Quiet,
        (false, true) => Mode::Live,
        (false, false) => Mode::Plain,
    }
}

pub fn set_mode(mode: Mode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        0 => Mode::Live,
        2 => Mode::Quiet,
        _ => Mode::Plain,
    }
}

/// A line for people (a summary, a prompt, a note); nothing with `--quiet`.
pub fn say(line: impl Display) {
    if mode() != Mode::Quiet {
        print_above_live(&line.to_string());
    }
}

/// `rslim: warning: …`; nothing with `--quiet`.
pub fn warn(message: impl Display) {
    say(format_args!("rslim: warning: {message}"));
}

/// An error line: printed in every mode.
pub fn error(line: impl Display) {
    print_above_live(&line.to_string());
}

fn print_above_live(text: &str) {
    let text = text.strip_suffix('\n').unwrap_or(text);
    // Messages quote file names, app output and the sensor's words: no
    // control sequence reaches the terminal (the line breaks are rslim's).
    let text = crate::escape::lines(text);
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match live {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}

/// How a stage's line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Done,
    Failed,
}

/// The line of one stage, from its start to its end.
#[derive(Debug)]
pub struct StageLine {
    bar: Option<ProgressBar>,
}

impl StageLine {
    pub fn start(stage: &'static str, what: &str) -> StageLine {
        match mode() {
            Mode::Quiet => StageLine { bar: None },
            Mode::Plain => {
                eprintln!("{}", plain_line(stage, what));
                StageLine { bar: None }
            }
            Mode::Live => {
                // Drawn only once it has all its parts.
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
                bar.set_style(style(None));
                bar.set_prefix(stage);
                bar.set_message(what.to_string());
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(100));
                *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
                StageLine { bar: Some(bar) }
            }
        }
    }

    /// Leaves the line in place with a ✓ or ✗ and the stage's time.
    pub fn end(mut self, how: End) {
        self.finish(how);
    }

    fn finish(&mut self, how: End) {
        if let Some(bar) = self.bar.take() {
            LIVE.lock().unwrap_or_else(|e| e.into_inner()).take();
            bar.set_style(style(Some(how)));
            bar.finish();
        }
    }
}

impl Drop for StageLine {
    /// A line dropped without an end belongs to a stage that failed.
    fn drop(&mut self) {
        self.finish(End::Failed);
    }
}

/// The line of today's plain mode.
pub fn plain_line(stage: &str, what: &str) -> String {
    format!("rslim: [{stage}] {what}")
}

/// `rslim: ⠋ [probe] probing port(s) 80 …   1.3s`; the message is cut to the
/// terminal's width so that the line never wraps (a wrapped line cannot be
/// redrawn in place).
fn style(end: Option<End>) -> ProgressStyle {
    let mark = match end {
        None => "{spinner}",
        Some(End::Done) => "✓",
        Some(End::Failed) => "✗",
    };
    ProgressStyle::with_template(&format!("rslim: {mark} [{{prefix}}] {{wide_msg}} {{secs}}"))
        .expect("the template is valid")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
        .with_key(
            "secs",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.1}s", state.elapsed().as_secs_f64());
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_todays() {
        assert_eq!(
            plain_line("inspect", "inspecting nginx:latest"),
            "rslim: [inspect] inspecting nginx:latest"
        );
    }

    #[test]
    fn styles_parse() {
        for end in [None, Some(End::Done), Some(End::Failed)] {
            let _ = style(end);
        }
    }
}
