//! `--verify`: start the slim image the way the original runs (a plain
//! container, its ports published on 127.0.0.1, no sensor), ask it the very
//! same things the original was asked while profiling, and compare the
//! answers. Steps given for verification only are asked of a plain
//! container of the original image at the same time.

pub mod compare;
mod container;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::docker::Docker;
use crate::error::{ExitKind, Failure};
use crate::image::ImageConfig;
use crate::probe::answer::Answer;
use crate::probe::plan::{PlannedStep, StepRecord};
use crate::probe::run;
use crate::probe::script::Step;
use crate::probe::steps::run_step;
use container::Plain;

/// Differing steps shown on stderr; the report has them all.
const SHOWN_DIFFERENCES: usize = 10;
const DIFF_LINES: usize = 8;

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub passed: bool,
    pub slim_image: String,
    /// Why the slim container could not be verified at all (it did not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Wall time of the whole verification.
    pub ms: u128,
    /// Of which: until the slim container's ports answered.
    pub start_ms: u128,
    pub steps: Vec<StepComparison>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepComparison {
    pub origin: String,
    pub step: String,
    pub same: bool,
    /// Answered by the original image.
    pub original: Answer,
    pub slim: Answer,
    /// The expectation the slim image's answer missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmet: Option<String>,
}

/// What verification needs to know about the build.
pub struct VerifyRequest<'a> {
    pub original_image: &'a str,
    pub slim_image: &'a str,
    pub config: &'a ImageConfig,
    pub recorded: &'a [StepRecord],
    pub verify_only: &'a [PlannedStep],
    pub ready_timeout: Duration,
    /// The original's exit code, when it ran to its end while profiling
    /// (a batch job): compared with the slim image's for images without ports.
    pub original_exit: Option<i64>,
    /// Names each container before it is created, for cleanup on interrupt.
    pub created: &'a crate::docker::CreatedContainers,
}

/// The original's exit code when its command ended by itself while
/// profiling (not stopped by rslim): a batch job's result.
pub fn ran_to_its_end(findings: &rslim_sensor::Findings) -> Option<i64> {
    match findings.app {
        rslim_sensor::AppOutcome::Exited { code } if !findings.stop_requested => Some(code.into()),
        _ => None,
    }
}

/// Runs the verification; errors only when the daemon fails us. A slim
/// image that does not start or answers differently is a failed
/// [`Verification`], not an error, so the report still gets written.
pub async fn verify(
    docker: &Docker,
    request: &VerifyRequest<'_>,
) -> crate::error::Result<Verification> {
    let started = Instant::now();
    let mut verification = Verification {
        passed: false,
        slim_image: request.slim_image.to_string(),
        failure: None,
        ms: 0,
        start_ms: 0,
        steps: Vec::new(),
    };
    // `run` steps need no reference container: each starts its own.
    let reference_needed = request
        .verify_only
        .iter()
        .any(|planned| !matches!(planned.step, Step::Run(_)));
    let main = async {
        let slim = Plain::start(docker, request, request.slim_image, "verify");
        let original = async {
            match reference_needed {
                false => Ok(None),
                true => Plain::start(docker, request, request.original_image, "reference")
                    .await
                    .map(Some),
            }
        };
        let (slim, original) = tokio::join!(slim, original);
        let result = compare_all(
            docker,
            request,
            &slim,
            &original,
            &mut verification,
            started,
        )
        .await;
        for container in [slim.ok(), original.ok().flatten()].into_iter().flatten() {
            container.remove(docker).await;
        }
        result
    };
    // The runs' containers go meanwhile, one at a time (docs/probes.md).
    let (result, runs) = tokio::join!(main, compare_runs(docker, request));
    result?;
    verification.steps.extend(runs?);
    verification.ms = started.elapsed().as_millis();
    verification.passed =
        verification.failure.is_none() && verification.steps.iter().all(|s| s.same);
    Ok(verification)
}

async fn compare_all(
    docker: &Docker,
    request: &VerifyRequest<'_>,
    slim: &crate::error::Result<Plain>,
    original: &crate::error::Result<Option<Plain>>,
    verification: &mut Verification,
    started: Instant,
) -> crate::error::Result<()> {
    let slim = match slim {
        Ok(slim) => slim,
        Err(e) => {
            verification.failure = Some(format!("the slim container did not start: {e}"));
            return Ok(());
        }
    };
    let original = match original {
        Ok(original) => original.as_ref(),
        Err(e) => {
            return Err(Failure::msg(
                e.kind,
                format!("cannot start the original image to verify against: {e}"),
            ))
        }
    };
    if let Err(reason) = slim.wait_ready(docker, request.ready_timeout).await {
        verification.failure = Some(format!("the slim container {reason}"));
        return Ok(());
    }
    if let Some(original) = original {
        original
            .wait_ready(docker, request.ready_timeout)
            .await
            .map_err(|reason| {
                Failure::msg(
                    ExitKind::Internal,
                    format!("the original image, started to verify against, {reason}"),
                )
            })?;
    }
    verification.start_ms = started.elapsed().as_millis();
    let slim_endpoint = slim.endpoint(docker, request.config);
    for record in request.recorded {
        let Some(planned) = &record.planned else {
            continue;
        };
        if matches!(planned.step, Step::Run(_)) {
            continue;
        }
        let outcome = run_step(&planned.step, &planned.ignore, &slim_endpoint).await;
        verification.steps.push(StepComparison {
            origin: record.origin.clone(),
            step: record.step.clone(),
            same: compare::same(&record.answer, &outcome.answer),
            original: record.answer.clone(),
            slim: outcome.answer,
            unmet: outcome.unmet,
        });
    }
    if let Some(original) = original {
        let original_endpoint = original.endpoint(docker, request.config);
        for planned in request.verify_only {
            if matches!(planned.step, Step::Run(_)) {
                continue;
            }
            let fat = run_step(&planned.step, &planned.ignore, &original_endpoint).await;
            let thin = run_step(&planned.step, &planned.ignore, &slim_endpoint).await;
            verification.steps.push(StepComparison {
                origin: planned.origin.clone(),
                step: planned.step.describe(),
                same: compare::same(&fat.answer, &thin.answer) && thin.unmet.is_none(),
                original: fat.answer,
                slim: thin.answer,
                unmet: thin.unmet,
            });
        }
    }
    if let (true, Some(code)) = (slim.ports.is_empty(), request.original_exit) {
        verification
            .steps
            .push(compare_exit(docker, slim, code, request.ready_timeout).await);
    }
    Ok(())
}

/// Every `run` step again, each in a fresh plain container of the slim
/// image, compared with the original's answer: recorded while profiling, or
/// (verify-only steps) from a plain container of the original started at
/// the same time.
async fn compare_runs(
    docker: &Docker,
    request: &VerifyRequest<'_>,
) -> crate::error::Result<Vec<StepComparison>> {
    let mut removals = run::Removals::default();
    let mut compared = Vec::new();
    let result = async {
        for record in request.recorded {
            let Some(Step::Run(step)) = record.planned.as_ref().map(|p| &p.step) else {
                continue;
            };
            let slim = run::plain(
                docker,
                request.created,
                request.slim_image,
                request.config,
                step,
                "verify-run",
                &mut removals,
            )
            .await?;
            compared.push(StepComparison {
                origin: record.origin.clone(),
                step: record.step.clone(),
                same: compare::same(&record.answer, &slim.answer),
                original: record.answer.clone(),
                slim: slim.answer,
                unmet: slim.unmet,
            });
        }
        for planned in request.verify_only {
            let Step::Run(step) = &planned.step else {
                continue;
            };
            let (mut fat_removals, mut thin_removals) =
                (run::Removals::default(), run::Removals::default());
            let on_original = run::plain(
                docker,
                request.created,
                request.original_image,
                request.config,
                step,
                "reference-run",
                &mut fat_removals,
            );
            let on_slim = run::plain(
                docker,
                request.created,
                request.slim_image,
                request.config,
                step,
                "verify-run",
                &mut thin_removals,
            );
            let (fat, thin) = tokio::join!(on_original, on_slim);
            removals.extend(fat_removals);
            removals.extend(thin_removals);
            let (fat, thin) = (fat?, thin?);
            compared.push(StepComparison {
                origin: planned.origin.clone(),
                step: planned.step.describe(),
                same: compare::same(&fat.answer, &thin.answer) && thin.unmet.is_none(),
                original: fat.answer,
                slim: thin.answer,
                unmet: thin.unmet,
            });
        }
        Ok::<_, crate::error::Failure>(())
    }
    .await;
    removals.finish().await;
    result?;
    Ok(compared)
}

/// A job without ports is judged by how it ends: the same exit code.
async fn compare_exit(
    docker: &Docker,
    slim: &Plain,
    original: i64,
    timeout: Duration,
) -> StepComparison {
    let slim_answer = match tokio::time::timeout(timeout, docker.wait_container(&slim.id)).await {
        Ok(Ok(exit)) => Answer::Command {
            exit,
            output: String::new(),
        },
        Ok(Err(e)) => Answer::NoAnswer {
            error: e.to_string(),
        },
        Err(_) => Answer::NoAnswer {
            error: format!(
                "still running after {}s (see --ready-timeout)",
                timeout.as_secs()
            ),
        },
    };
    let original = Answer::Command {
        exit: original,
        output: String::new(),
    };
    StepComparison {
        origin: "app".into(),
        step: "exit code of the image's command".into(),
        same: compare::same(&original, &slim_answer),
        original,
        slim: slim_answer,
        unmet: None,
    }
}

impl Verification {
    /// One line for the summary when it passed.
    pub fn summary(&self) -> String {
        format!(
            "rslim: verified {}: {} step(s) answered the same ({:.2}s, of which {:.2}s to start)\n",
            self.slim_image,
            self.steps.len(),
            self.ms as f64 / 1000.0,
            self.start_ms as f64 / 1000.0
        )
    }

    /// The error to exit with when it failed: what differed, side by side.
    pub fn failure(&self) -> Failure {
        let keep = format!(
            "the slim image is kept as {} for inspection",
            self.slim_image
        );
        if let Some(reason) = &self.failure {
            // The reason may end with the container's log lines: keep them last.
            let (first, logs) = reason.split_once('\n').unwrap_or((reason, ""));
            let text = format!("verification failed: {first}; {keep}\n{logs}");
            return Failure::msg(ExitKind::VerifyFailed, text.trim_end());
        }
        let differing: Vec<&StepComparison> = self.steps.iter().filter(|s| !s.same).collect();
        let mut text = format!(
            "verification failed: {} of {} step(s) answered differently; {keep}",
            differing.len(),
            self.steps.len()
        );
        for step in differing.iter().take(SHOWN_DIFFERENCES) {
            text += &format!("\n  step {}: {} differs", step.origin, step.step);
            if let Some(unmet) = &step.unmet {
                text += &format!(" ({unmet})");
            }
            text += "\n";
            text += compare::side_by_side(&step.original, &step.slim, DIFF_LINES).trim_end();
        }
        if differing.len() > SHOWN_DIFFERENCES {
            text += &format!(
                "\n  … and {} more in the report",
                differing.len() - SHOWN_DIFFERENCES
            );
        }
        Failure::msg(ExitKind::VerifyFailed, text)
    }
}
