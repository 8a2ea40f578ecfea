//! Exit codes and the error type that carries them to `main`.
//!
//! Every failure a user can act on maps to its own exit code, so a release
//! pipeline can tell "your image is broken" from "your daemon is down".

use std::fmt;

/// Distinct process exit codes. Documented in the README's table and in
/// `rslim --help` (both from [`ExitKind::ALL`]; a test holds the README to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Anything not covered below: a bug, an I/O error on the host.
    Internal = 1,
    /// Bad command line or bad input file (probe file, Dockerfile, a missing archive path).
    Usage = 2,
    /// The Docker daemon is down or unreachable.
    DaemonUnreachable = 3,
    /// The image is not present locally (or in the archive).
    ImageNotFound = 4,
    /// The image cannot be profiled as it is (no entrypoint and no cmd), or
    /// its command's program is not in it, so a slim image could not start.
    ImageNotRunnable = 5,
    /// The application exited non-zero or crashed while being profiled.
    AppFailed = 6,
    /// A probe failed: a port never answered, or an expectation did not hold.
    ProbeFailed = 7,
    /// The sensor failed inside the container (fanotify unavailable, overflow).
    SensorFailed = 8,
    /// `--verify`: the slim image does not answer like the original.
    VerifyFailed = 9,
    /// `lint --fail-on`: findings at or above the chosen severity.
    LintFindings = 10,
    /// An input image archive or OCI layout is malformed, truncated, or does
    /// not match its own digests (docs/output.md, "Archives in").
    InvalidArchive = 11,
    /// An `--output` could not be written (a missing or unwritable directory,
    /// a full disk); nothing partial is left at the target.
    OutputFailed = 12,
    /// `--push`: the registry could not be reached, refused the credentials,
    /// or failed a step of the upload (docs/output.md, "Pushing to a registry").
    PushFailed = 13,
    /// Interrupted by SIGINT/SIGTERM; everything created was removed.
    Interrupted = 130,
}

impl ExitKind {
    /// Every kind, in code order: the exit code table is made from this.
    pub const ALL: [ExitKind; 14] = [
        ExitKind::Internal,
        ExitKind::Usage,
        ExitKind::DaemonUnreachable,
        ExitKind::ImageNotFound,
        ExitKind::ImageNotRunnable,
        ExitKind::AppFailed,
        ExitKind::ProbeFailed,
        ExitKind::SensorFailed,
        ExitKind::VerifyFailed,
        ExitKind::LintFindings,
        ExitKind::InvalidArchive,
        ExitKind::OutputFailed,
        ExitKind::PushFailed,
        ExitKind::Interrupted,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The stable name of the kind, as `--json` error documents give it.
    pub fn name(self) -> &'static str {
        match self {
            ExitKind::Internal => "internal",
            ExitKind::Usage => "usage",
            ExitKind::DaemonUnreachable => "engine-unreachable",
            ExitKind::ImageNotFound => "image-not-found",
            ExitKind::ImageNotRunnable => "image-not-runnable",
            ExitKind::AppFailed => "app-failed",
            ExitKind::ProbeFailed => "probe-failed",
            ExitKind::SensorFailed => "sensor-failed",
            ExitKind::VerifyFailed => "verify-failed",
            ExitKind::LintFindings => "lint-findings",
            ExitKind::InvalidArchive => "invalid-archive",
            ExitKind::OutputFailed => "output-failed",
            ExitKind::PushFailed => "push-failed",
            ExitKind::Interrupted => "interrupted",
        }
    }

    /// One line for the exit code table (README, `rslim --help`).
    pub fn meaning(self) -> &'static str {
        match self {
            ExitKind::Internal => "internal error (a bug, or a host I/O error)",
            ExitKind::Usage => {
                "bad command line or bad input file (Dockerfile, probe file, a missing archive path)"
            }
            ExitKind::DaemonUnreachable => {
                "the engine (Docker daemon, Podman service) is down or unreachable"
            }
            ExitKind::ImageNotFound => "the image is not present locally (or in the archive)",
            ExitKind::ImageNotRunnable => {
                "the image has neither ENTRYPOINT nor CMD, or its command's program (argv[0]) is not in the image, so a slim image could not start"
            }
            ExitKind::AppFailed => {
                "the app exited non-zero or crashed while profiled (its last log lines are shown)"
            }
            ExitKind::ProbeFailed => {
                "a probe failed: a port never answered within --ready-timeout, or a probe step's expectation did not hold"
            }
            ExitKind::SensorFailed => {
                "the sensor failed in the container (fanotify unavailable, a rootless engine, no findings)"
            }
            ExitKind::VerifyFailed => "--verify: the slim image does not answer like the original",
            ExitKind::LintFindings => "lint: findings at or above --fail-on",
            ExitKind::InvalidArchive => {
                "an input archive or OCI layout is invalid: truncated, a missing blob, a digest or media type that does not check out, a name that leaves the archive"
            }
            ExitKind::OutputFailed => {
                "an --output could not be written (nothing partial is left at its path)"
            }
            ExitKind::PushFailed => {
                "--push: the registry could not be reached, refused the credentials, or failed a step of the upload"
            }
            ExitKind::Interrupted => {
                "interrupted by SIGINT or SIGTERM; what rslim created was removed"
            }
        }
    }

    /// The table of exit codes, as plain text lines `  CODE  meaning`.
    pub fn table() -> String {
        let mut text = String::from("Exit codes:\n   0  success\n");
        for kind in ExitKind::ALL {
            text += &format!("{:>4}  {}\n", kind.code(), kind.meaning());
        }
        text
    }
}

/// An error that knows which exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    pub kind: ExitKind,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(kind: ExitKind, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            kind,
            error: error.into(),
        }
    }

    pub fn msg(kind: ExitKind, message: impl fmt::Display) -> Self {
        Failure::new(kind, anyhow::anyhow!("{message}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` prints the whole context chain on one line: "a: b: c".
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Failure {}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        match error.downcast::<Failure>() {
            Ok(failure) => failure,
            Err(error) => Failure {
                kind: ExitKind::Internal,
                error,
            },
        }
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Attach an exit kind to any error, keeping its message.
pub trait FailWith<T> {
    fn fail_with(self, kind: ExitKind) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> FailWith<T> for std::result::Result<T, E> {
    fn fail_with(self, kind: ExitKind) -> Result<T> {
        self.map_err(|e| Failure::new(kind, e))
    }
}

#[cfg(test)]
mod tests {
    use super::ExitKind;

    /// Where each kind sits in [`ExitKind::ALL`]: a new variant fails to
    /// compile here until it is placed in the table.
    fn position(kind: ExitKind) -> usize {
        match kind {
            ExitKind::Internal => 0,
            ExitKind::Usage => 1,
            ExitKind::DaemonUnreachable => 2,
            ExitKind::ImageNotFound => 3,
            ExitKind::ImageNotRunnable => 4,
            ExitKind::AppFailed => 5,
            ExitKind::ProbeFailed => 6,
            ExitKind::SensorFailed => 7,
            ExitKind::VerifyFailed => 8,
            ExitKind::LintFindings => 9,
            ExitKind::InvalidArchive => 10,
            ExitKind::OutputFailed => 11,
            ExitKind::PushFailed => 12,
            ExitKind::Interrupted => 13,
        }
    }

    #[test]
    fn the_table_lists_every_kind_once_in_code_order() {
        for (index, kind) in ExitKind::ALL.iter().enumerate() {
            assert_eq!(position(*kind), index, "{kind:?}");
        }
        let codes: Vec<u8> = ExitKind::ALL.iter().map(|k| k.code()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert!(!codes.contains(&0));
        let mut names: Vec<&str> = ExitKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ExitKind::ALL.len());
    }
}
