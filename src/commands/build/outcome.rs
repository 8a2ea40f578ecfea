//! How the profiled app ended, and what the user sees when it failed.

use std::path::PathBuf;

use rslim_sensor::{AppOutcome, Findings};

use crate::docker::Docker;
use crate::error::{ExitKind, Failure, Result};
use crate::resolve::fileset::Observed;
use crate::sensor::ProfilingContainer;

/// An app that failed on its own (not because we stopped it) fails the build.
pub async fn check_outcome(
    docker: &Docker,
    container: &ProfilingContainer,
    findings: &Findings,
) -> Result<()> {
    let failure = match &findings.app {
        AppOutcome::NotStarted { error } => Failure::msg(
            ExitKind::AppFailed,
            format!("the app did not start: {error}"),
        ),
        AppOutcome::Exited { code: 0 } => return Ok(()),
        _ if findings.stop_requested => return Ok(()),
        outcome => Failure::msg(
            ExitKind::AppFailed,
            format!("the app {} while being profiled", describe_outcome(outcome)),
        ),
    };
    Err(with_logs(docker, container, failure).await)
}

pub fn describe_outcome(outcome: &AppOutcome) -> String {
    match outcome {
        AppOutcome::Exited { code } => format!("exited with code {code}"),
        AppOutcome::Signaled { signal } => format!("was killed by signal {signal}"),
        AppOutcome::NotStarted { error } => format!("did not start ({error})"),
    }
}

/// Adds the app's last log lines to a failure, for the user to see why.
pub async fn with_logs(
    docker: &Docker,
    container: &ProfilingContainer,
    failure: Failure,
) -> Failure {
    let excerpt = docker.log_excerpt(&container.id).await;
    if excerpt.is_empty() {
        return failure;
    }
    Failure::new(failure.kind, anyhow::anyhow!("{failure}{excerpt}"))
}

pub fn observed_paths(findings: &Findings) -> Observed {
    let convert = |list: &[rslim_sensor::WirePath]| -> Vec<PathBuf> {
        list.iter()
            .map(|p| p.to_path_buf())
            .filter(|p| !p.starts_with(rslim_sensor::SENSOR_DIR))
            .collect()
    };
    Observed {
        files: convert(&findings.files),
        dirs: convert(&findings.dirs),
        executed: convert(&findings.executed),
        looked_up: convert(&findings.looked_up),
    }
}
