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
    if findings.abandoned {
        return Err(Failure::msg(
            ExitKind::SensorFailed,
            format!(
                "the sensor stopped the app because rslim's heartbeat did not reach it for \
                 {} s (was rslim suspended, or the engine too busy to copy a file into the \
                 container?); --heartbeat-timeout gives it longer",
                container.heartbeat_timeout().as_secs()
            ),
        ));
    }
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

/// What the profiling container and every `run` step's container touched,
/// as one set (each container's findings are sealed with its own key).
pub fn observed_all(main: &Findings, runs: &[Findings]) -> Observed {
    let mut all = observed_paths(main);
    for findings in runs {
        let more = observed_paths(findings);
        all.files.extend(more.files);
        all.dirs.extend(more.dirs);
        all.executed.extend(more.executed);
        all.looked_up.extend(more.looked_up);
    }
    for list in [
        &mut all.files,
        &mut all.dirs,
        &mut all.executed,
        &mut all.looked_up,
    ] {
        list.sort();
        list.dedup();
    }
    all
}

/// A slim image without its entrypoint program cannot start: rather than
/// write one that only fails at `docker run`, the build fails (exit 5).
pub fn check_entrypoint(
    run: &crate::image::config::RunConfig,
    keep: &crate::resolve::fileset::KeepSet,
) -> Result<()> {
    let argv = run.argv();
    let Some(program) = argv.first() else {
        return Ok(());
    };
    if keep
        .entrypoint
        .as_ref()
        .is_some_and(|path| keep.paths.contains_key(path))
    {
        return Ok(());
    }
    let looked = match program.contains('/') {
        true => format!(
            "as a path from the WORKDIR {:?}",
            run.working_dir.as_deref().unwrap_or("/")
        ),
        false => format!(
            "in PATH={}",
            run.env_var("PATH")
                .unwrap_or(crate::resolve::script::DEFAULT_PATH)
        ),
    };
    Err(Failure::msg(
        ExitKind::ImageNotRunnable,
        format!(
            "the image's command {program:?} is not in its filesystem (looked for {looked}): \
             a slim image without it could not start, so none was written"
        ),
    ))
}

#[cfg(test)]
mod entrypoint_tests {
    use std::path::PathBuf;

    use super::check_entrypoint;
    use crate::error::ExitKind;
    use crate::image::config::RunConfig;
    use crate::resolve::fileset::{KeepSet, Reason};

    #[test]
    fn a_kept_set_without_the_entrypoint_is_refused_with_exit_5() {
        let run = RunConfig {
            cmd: Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()]),
            ..RunConfig::default()
        };
        let mut keep = KeepSet::default();
        let failure = check_entrypoint(&run, &keep).unwrap_err();
        assert_eq!(failure.kind, ExitKind::ImageNotRunnable);
        let message = failure.to_string();
        assert!(
            message.contains("\"nginx\" is not in its filesystem"),
            "{message}"
        );
        assert!(message.contains("in PATH=/usr/local/sbin"), "{message}");
        keep.entrypoint = Some(PathBuf::from("/usr/sbin/nginx"));
        keep.paths
            .insert(PathBuf::from("/usr/sbin/nginx"), Reason::Entrypoint);
        assert!(check_entrypoint(&run, &keep).is_ok());
        assert!(check_entrypoint(&RunConfig::default(), &KeepSet::default()).is_ok());
    }
}
