//! Exit codes and the error type that carries them to `main`.
//!
//! Every failure a user can act on maps to its own exit code, so a release
//! pipeline can tell "your image is broken" from "your daemon is down".

use std::fmt;

/// Distinct process exit codes. Documented in docs/exit-codes.md.
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
    /// The image cannot be profiled as it is: no entrypoint and no cmd.
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
    pub fn code(self) -> u8 {
        self as u8
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
