//! `--continue-after`: when profiling ends once the probes are done.

use std::fmt;
use std::time::Duration;

use crate::docker::Docker;
use crate::error::Result;
use crate::sensor::ProfilingContainer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContinueAfter {
    /// As soon as the probes are done.
    Probe,
    /// When the app exits by itself (batch jobs).
    Exit,
    /// This many seconds after the probes are done.
    Seconds(u64),
    /// When rslim receives SIGUSR1.
    Signal,
    /// When a line arrives on stdin.
    Enter,
}

impl ContinueAfter {
    pub fn parse(text: &str) -> anyhow::Result<ContinueAfter> {
        Ok(match text {
            "probe" => ContinueAfter::Probe,
            "exit" => ContinueAfter::Exit,
            "signal" => ContinueAfter::Signal,
            "enter" => ContinueAfter::Enter,
            seconds => ContinueAfter::Seconds(seconds.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--continue-after takes probe, exit, signal, enter or a number of seconds, not {seconds:?}"
                )
            })?),
        })
    }

    /// Waits as asked. Returns true when the app exited meanwhile.
    pub async fn wait(self, docker: &Docker, container: &ProfilingContainer) -> Result<bool> {
        let app_exit = async {
            docker.wait_container(&container.id).await?;
            Ok(true)
        };
        let until = async {
            match self {
                ContinueAfter::Probe => {}
                ContinueAfter::Exit => std::future::pending::<()>().await,
                ContinueAfter::Seconds(n) => tokio::time::sleep(Duration::from_secs(n)).await,
                ContinueAfter::Signal => {
                    crate::report::progress::say(format_args!(
                        "rslim: profiling; send SIGUSR1 to rslim (pid {}) to finish",
                        std::process::id()
                    ));
                    match tokio::signal::unix::signal(
                        tokio::signal::unix::SignalKind::user_defined1(),
                    ) {
                        Ok(mut usr1) => {
                            usr1.recv().await;
                        }
                        Err(_) => std::future::pending::<()>().await,
                    }
                }
                ContinueAfter::Enter => {
                    crate::report::progress::say("rslim: profiling; press Enter to finish");
                    let mut line = String::new();
                    let stdin = tokio::io::stdin();
                    let mut reader = tokio::io::BufReader::new(stdin);
                    let _ = tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line).await;
                }
            }
            Ok(false)
        };
        if self == ContinueAfter::Probe {
            return Ok(!container.is_running(docker).await?);
        }
        tokio::select! {
            exited = app_exit => exited,
            waited = until => waited,
        }
    }
}

impl fmt::Display for ContinueAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContinueAfter::Probe => write!(f, "the probes are done"),
            ContinueAfter::Exit => write!(f, "the app exits"),
            ContinueAfter::Seconds(n) => write!(f, "{n}s after the probes"),
            ContinueAfter::Signal => write!(f, "SIGUSR1"),
            ContinueAfter::Enter => write!(f, "Enter is pressed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(ContinueAfter::parse("probe").unwrap(), ContinueAfter::Probe);
        assert_eq!(ContinueAfter::parse("exit").unwrap(), ContinueAfter::Exit);
        assert_eq!(
            ContinueAfter::parse("12").unwrap(),
            ContinueAfter::Seconds(12)
        );
        assert_eq!(
            ContinueAfter::parse("signal").unwrap(),
            ContinueAfter::Signal
        );
        assert_eq!(ContinueAfter::parse("enter").unwrap(), ContinueAfter::Enter);
        let error = ContinueAfter::parse("soon").unwrap_err().to_string();
        assert!(error.contains("\"soon\""), "{error}");
    }
}
