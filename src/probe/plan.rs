//! The probe steps of one build, gathered from `--probe` files and the
//! one-liner flags before any container starts, run while profiling, and
//! recorded with their answers so that `--verify` can ask the slim image the
//! very same things.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::answer::{http_answer, Answer};
use super::crawl::{crawl, CrawlLimits};
use super::script::{self, CommandExpect, CommandStep, HttpStep, Ignore, Step};
use super::steps::{run_step, Endpoint};
use super::PortProbe;
use crate::error::{ExitKind, Failure, Result};

/// What a missed expectation while profiling does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProbeFailure {
    /// Stop the build (exit code 7)
    #[default]
    Fail,
    /// Print a warning, note it in the report and go on
    Warn,
}

/// Where the steps come from; the flags of `rslim build` that feed a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanSources {
    pub probe_files: Vec<PathBuf>,
    pub verify_probe_files: Vec<PathBuf>,
    pub http_cmds: Vec<String>,
    pub exec: Vec<String>,
    pub host_exec: Vec<String>,
    /// `--run-args`: each a `run` step.
    pub run_args: Vec<String>,
    pub crawl: Option<CrawlLimits>,
    pub on_failure: ProbeFailure,
    pub verify: bool,
}

#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// `probes/app.json step 2`, `--exec`, `crawl`, `default probe`.
    pub origin: String,
    pub step: Step,
    pub ignore: Arc<Ignore>,
}

impl PlannedStep {
    pub fn title(&self) -> String {
        format!("{}: {}", self.origin, self.step.describe())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Run in the profiling container (and again when verifying).
    pub steps: Vec<PlannedStep>,
    /// `run` steps: each in a container of its own (run.rs), after the
    /// profiling container started, one at a time.
    pub runs: Vec<PlannedStep>,
    /// Run only when verifying, against the original and the slim image.
    pub verify_only: Vec<PlannedStep>,
    pub crawl: Option<CrawlLimits>,
    pub on_failure: ProbeFailure,
    pub verify: bool,
}

/// A step run while profiling, with the original image's answer.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub origin: String,
    pub step: String,
    pub answer: Answer,
    /// The expectation the answer missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmet: Option<String>,
    pub ms: u128,
    #[serde(skip)]
    pub planned: Option<PlannedStep>,
}

impl Plan {
    /// Reads and checks every probe file and one-liner against the image's
    /// exposed ports: any error is a usage error, raised before anything runs.
    pub fn load(sources: &PlanSources, exposed: &[u16]) -> Result<Plan> {
        let (mut runs, mut steps): (Vec<_>, Vec<_>) = files(&sources.probe_files, exposed)?
            .into_iter()
            .partition(|planned| matches!(planned.step, Step::Run(_)));
        let plain = Arc::new(Ignore::default());
        for text in &sources.http_cmds {
            steps.push(PlannedStep {
                origin: "--http-probe-cmd".into(),
                step: Step::Http(script::http_one_liner(text, exposed)?),
                ignore: plain.clone(),
            });
        }
        let shell = |text: &String| CommandStep {
            cmd: vec!["sh".into(), "-c".into(), text.clone()],
            expect: CommandExpect::default(),
        };
        for (flag, list, make) in [
            (
                "--exec",
                &sources.exec,
                Step::Exec as fn(CommandStep) -> Step,
            ),
            ("--host-exec", &sources.host_exec, Step::HostExec),
        ] {
            for text in list {
                steps.push(PlannedStep {
                    origin: flag.into(),
                    step: make(shell(text)),
                    ignore: plain.clone(),
                });
            }
        }
        for text in &sources.run_args {
            runs.push(PlannedStep {
                origin: "--run-args".into(),
                step: Step::Run(super::run::one_liner(text)?),
                ignore: plain.clone(),
            });
        }
        if sources.crawl.is_some() && exposed.is_empty() {
            return Err(Failure::msg(
                ExitKind::Usage,
                "--http-probe-crawl needs an exposed TCP port, and the image exposes none",
            ));
        }
        Ok(Plan {
            steps,
            runs,
            verify_only: files(&sources.verify_probe_files, exposed)?,
            crawl: sources.crawl,
            on_failure: sources.on_failure,
            verify: sources.verify || !sources.verify_probe_files.is_empty(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.crawl.is_none() && !self.verify
    }

    /// Runs the plan against the profiling container: the default `GET /`
    /// again (recorded for `--verify`), the crawl, then every step. A missed
    /// expectation fails with [`ExitKind::ProbeFailed`], or becomes a
    /// warning in `notes` with `--probe-failure warn`.
    pub async fn run_profiling(
        &self,
        at: &Endpoint<'_>,
        default_probes: &[PortProbe],
        notes: &mut Vec<String>,
    ) -> Result<Vec<StepRecord>> {
        let http_ports: Vec<u16> = default_probes
            .iter()
            .filter(|p| p.protocol == "http")
            .map(|p| p.port)
            .collect();
        let mut planned = Vec::new();
        if self.verify {
            planned.extend(http_ports.iter().map(|&port| PlannedStep {
                origin: "default probe".into(),
                step: Step::Http(HttpStep::get("/", port)),
                ignore: Arc::new(Ignore::default()),
            }));
        }
        let mut records = Vec::new();
        if let Some(limits) = self.crawl {
            for &port in &http_ports {
                records.extend(crawl_port(at, port, limits).await);
            }
            if http_ports.is_empty() {
                let note = "--http-probe-crawl crawled nothing: no port answered the default HTTP probe (is --http-probe off?)";
                notes.push(note.to_string());
            }
        }
        planned.extend(self.steps.iter().cloned());
        for step in planned {
            let outcome = run_step(&step.step, &step.ignore, at).await;
            notes.extend(judge(self.on_failure, &step, outcome.unmet.as_deref())?);
            records.push(StepRecord {
                origin: step.origin.clone(),
                step: step.step.describe(),
                answer: outcome.answer,
                unmet: outcome.unmet,
                ms: outcome.ms,
                planned: Some(step),
            });
        }
        Ok(records)
    }
}

/// What a missed expectation does: the build fails with
/// [`ExitKind::ProbeFailed`] (`--probe-failure fail`), or a warning is
/// printed and returned as a note for the report (`warn`).
pub fn judge(
    on_failure: ProbeFailure,
    step: &PlannedStep,
    unmet: Option<&str>,
) -> Result<Option<String>> {
    let Some(unmet) = unmet else {
        return Ok(None);
    };
    let message = format!("probe step {} failed: {unmet}", step.title());
    match on_failure {
        ProbeFailure::Fail => Err(Failure::msg(
            ExitKind::ProbeFailed,
            format!("{message} (--probe-failure warn to go on)"),
        )),
        ProbeFailure::Warn => {
            crate::report::progress::warn(&message);
            Ok(Some(message))
        }
    }
}

async fn crawl_port(at: &Endpoint<'_>, port: u16, limits: CrawlLimits) -> Vec<StepRecord> {
    let Some(host_port) = at.host_port(port) else {
        return Vec::new();
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
    let plain = Arc::new(Ignore::default());
    crawl(addr, limits)
        .await
        .into_iter()
        .map(|(path, reply)| {
            let step = Step::Http(HttpStep::get(&path, port));
            StepRecord {
                origin: "crawl".into(),
                step: step.describe(),
                answer: http_answer(&reply, &plain),
                unmet: None,
                ms: 0,
                planned: Some(PlannedStep {
                    origin: "crawl".into(),
                    step,
                    ignore: plain.clone(),
                }),
            }
        })
        .collect()
}

fn files(paths: &[PathBuf], exposed: &[u16]) -> Result<Vec<PlannedStep>> {
    let mut steps = Vec::new();
    for path in paths {
        let file = script::load(path, exposed)?;
        let ignore = Arc::new(file.ignore);
        for (index, step) in file.steps.into_iter().enumerate() {
            steps.push(PlannedStep {
                origin: format!("{} step {}", path.display(), index + 1),
                step,
                ignore: ignore.clone(),
            });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_files_and_one_liners_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(
            &file,
            r#"{"steps": [{"http": {"path": "/json"}}], "ignore": {"headers": ["x-id"]}}"#,
        )
        .unwrap();
        let sources = PlanSources {
            probe_files: vec![file.clone()],
            verify_probe_files: vec![file.clone()],
            http_cmds: vec!["GET /db".into()],
            exec: vec!["ls /app".into()],
            host_exec: vec!["curl -s $RSLIM_URL/".into()],
            ..Default::default()
        };
        let plan = Plan::load(&sources, &[8000]).unwrap();
        let titles: Vec<String> = plan.steps.iter().map(PlannedStep::title).collect();
        assert_eq!(
            titles,
            [
                format!("{} step 1: GET /json (port 8000)", file.display()),
                "--http-probe-cmd: GET /db (port 8000)".to_string(),
                "--exec: exec sh -c ls /app".to_string(),
                "--host-exec: host-exec sh -c curl -s $RSLIM_URL/".to_string(),
            ]
        );
        assert_eq!(plan.steps[0].ignore.headers, ["x-id"]);
        assert_eq!(plan.verify_only.len(), 1);
        assert!(plan.verify, "--verify-probe implies --verify");
    }

    #[test]
    fn crawling_an_image_without_ports_is_a_usage_error() {
        let sources = PlanSources {
            crawl: Some(CrawlLimits { depth: 1, pages: 1 }),
            ..Default::default()
        };
        assert_eq!(Plan::load(&sources, &[]).unwrap_err().kind, ExitKind::Usage);
    }
}
