//! `run` steps: a fresh container of the image for each step, started as
//! `docker run IMAGE ARGS...` would (the args replace CMD, the ENTRYPOINT
//! stays) and waited for until it exits. While profiling the container runs
//! under the sensor, which confines the command like the app and records
//! what it touches; when verifying, a plain container of the slim image (and,
//! for verify-only steps, of the original) gets the same args. The answer is
//! the exit code and the output, stdout and stderr as the engine logged them.

use std::time::Instant;

use rslim_sensor::{AppOutcome, Findings};

use super::answer::Answer;
use super::expect::command_unmet;
use super::plan::{self, PlannedStep, ProbeFailure, StepRecord};
use super::script::{RunStep, Step};
use super::steps::{Outcome, STEP_TIMEOUT};
use crate::docker::{ContainerSpec, CreatedContainers, Docker, LoggedOutput};
use crate::error::{ExitKind, Failure, Result};
use crate::image::ImageConfig;
use crate::sensor::container::{container_name, Launch};
use crate::sensor::{ProfilingContainer, ProfilingOptions};

/// Runs one after another, as the other steps: a run's 60 s timeout must
/// not count time it spent waiting for another run's container.
const RUNS_AT_ONCE: usize = 1;
/// Output kept per run; past it the answer says how much more there was.
const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// What the sensor itself writes to the container's stderr (its start line,
/// and warnings): not the command's output, and absent from a plain run.
const SENSOR_PREFIX: &[u8] = b"rslim-sensor: ";

/// Containers being removed in the background, off the critical path;
/// `created.remove_all` still covers them if rslim fails first.
#[derive(Default)]
pub struct Removals(Vec<tokio::task::JoinHandle<Result<()>>>);

impl Removals {
    pub fn start(&mut self, docker: &Docker, id: &str) {
        let (docker, id) = (docker.clone(), id.to_string());
        self.0.push(tokio::spawn(
            async move { docker.remove_container(&id).await },
        ));
    }

    pub fn extend(&mut self, other: Removals) {
        self.0.extend(other.0);
    }

    /// Waits for every removal; a failed one is a warning.
    pub async fn finish(self) {
        for removal in self.0 {
            if let Ok(Err(e)) = removal.await {
                crate::report::progress::warn(format_args!("{e}"));
            }
        }
    }
}

/// Where run steps start their containers while profiling.
#[derive(Clone)]
pub struct Runner {
    pub docker: Docker,
    pub created: CreatedContainers,
    /// The original image (its id).
    pub image: String,
    pub config: ImageConfig,
    pub options: ProfilingOptions,
}

/// What the run steps gave while profiling.
#[derive(Debug, Default)]
pub struct Profiled {
    pub records: Vec<StepRecord>,
    /// What the sensor saw in each run's container, to merge.
    pub findings: Vec<Findings>,
    /// Missed expectations under `--probe-failure warn`, sensor errors.
    pub notes: Vec<String>,
}

/// Runs the steps one after another, each in a container of its own under
/// the sensor. A missed expectation fails (or warns) as other steps do.
pub async fn profile_all(
    runner: Runner,
    steps: Vec<PlannedStep>,
    on_failure: ProbeFailure,
) -> Result<Profiled> {
    use futures_util::StreamExt;
    let mut done = Profiled::default();
    let mut removals = Removals::default();
    let mut ran = futures_util::stream::iter(steps.into_iter().map(|planned| {
        let runner = runner.clone();
        async move {
            let mut removals = Removals::default();
            let result = match &planned.step {
                Step::Run(step) => profile(&runner, step, &mut removals).await,
                _ => Err(Failure::msg(ExitKind::Internal, "not a run step")),
            };
            (planned, result, removals)
        }
    }))
    .buffered(RUNS_AT_ONCE);
    while let Some((planned, result, more)) = ran.next().await {
        removals.extend(more);
        let (outcome, findings) = result?;
        if let Some(note) = plan::judge(on_failure, &planned, outcome.unmet.as_deref())? {
            done.notes.push(note);
        }
        if findings.overflows > 0 {
            done.notes.push(format!(
                "the sensor's event queue overflowed {} times in the container of {}: some \
                 file accesses were lost",
                findings.overflows,
                planned.title()
            ));
        }
        let title = planned.title();
        done.notes.extend(
            findings
                .errors
                .iter()
                .map(|e| format!("sensor ({title}): {e}")),
        );
        done.findings.push(findings);
        done.records.push(StepRecord {
            origin: planned.origin.clone(),
            step: planned.step.describe(),
            answer: outcome.answer,
            unmet: outcome.unmet,
            ms: outcome.ms,
            planned: Some(planned),
        });
    }
    removals.finish().await;
    Ok(done)
}

/// One run under the sensor: its outcome, and what it touched.
async fn profile(
    runner: &Runner,
    step: &RunStep,
    removals: &mut Removals,
) -> Result<(Outcome, Findings)> {
    let started = Instant::now();
    let launch = Launch {
        args: (!step.args.is_empty()).then(|| step.args.clone()),
        env: step.env_pairs(),
        publish: false,
    };
    let name = container_name("run");
    let mut container = ProfilingContainer::create_with(
        &runner.docker,
        &runner.created,
        &runner.image,
        &name,
        &runner.config,
        &runner.options,
        &launch,
    )
    .await?;
    let watched = watch(runner, &mut container).await;
    removals.start(&runner.docker, &container.id);
    let (answer, findings) = watched?;
    let unmet = command_unmet(&step.expect, &answer);
    let ms = started.elapsed().as_millis();
    Ok((Outcome { answer, unmet, ms }, findings))
}

async fn watch(runner: &Runner, container: &mut ProfilingContainer) -> Result<(Answer, Findings)> {
    let docker = &runner.docker;
    container.start(docker, &[]).await?;
    let ended = tokio::time::timeout(STEP_TIMEOUT, docker.wait_container(&container.id)).await;
    let stop_signal = runner.config.run.stop_signal.clone();
    let signal = match &ended {
        Ok(_) => None,
        Err(_) => Some(
            stop_signal
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("SIGTERM"),
        ),
    };
    // The output is complete once the container exited; read it meanwhile.
    let output = async {
        match signal {
            None => docker
                .output(&container.id, MAX_OUTPUT_BYTES)
                .await
                .map(Some),
            Some(_) => Ok(None),
        }
    };
    let collected = container.stop_and_collect(docker, signal, &runner.options);
    let (findings, output) = tokio::join!(collected, output);
    let findings = findings?;
    if findings.abandoned {
        return Err(Failure::msg(
            ExitKind::SensorFailed,
            "the sensor of a run step's container stopped its command because rslim's \
             heartbeat did not reach it (see --heartbeat-timeout)",
        ));
    }
    let (exit, output) = match (ended, output?) {
        (Ok(exit), Some(output)) => (exit?, output),
        _ => return Ok((timed_out(), findings)),
    };
    let answer = match &findings.app {
        AppOutcome::NotStarted { error } => Answer::NoAnswer {
            error: format!("the command did not start: {error}"),
        },
        _ => Answer::Command {
            exit,
            output: output_text(&output, true),
        },
    };
    Ok((answer, findings))
}

fn timed_out() -> Answer {
    Answer::NoAnswer {
        error: format!("still running after {}s; stopped", STEP_TIMEOUT.as_secs()),
    }
}

/// One run in a plain container of `image` (no sensor), as `docker run
/// IMAGE ARGS` would: for `--verify`. A container that cannot start is an
/// answer (the slim image lacks its program); the daemon failing is an error.
pub async fn plain(
    docker: &Docker,
    created: &CreatedContainers,
    image: &str,
    config: &ImageConfig,
    step: &RunStep,
    purpose: &str,
    removals: &mut Removals,
) -> Result<Outcome> {
    let started = Instant::now();
    let spec = ContainerSpec {
        name: container_name(purpose),
        image: image.to_string(),
        cmd: (!step.args.is_empty()).then(|| step.args.clone()),
        env: step.env_pairs(),
        volumes: config.run.volume_paths(),
        ..ContainerSpec::default()
    };
    let id = created.create(docker, &spec).await?;
    let answer = plain_answer(docker, &id).await;
    removals.start(docker, &id);
    let answer = answer?;
    let unmet = command_unmet(&step.expect, &answer);
    Ok(Outcome {
        answer,
        unmet,
        ms: started.elapsed().as_millis(),
    })
}

async fn plain_answer(docker: &Docker, id: &str) -> Result<Answer> {
    if let Err(e) = docker.start_container(id).await {
        if e.kind == ExitKind::DaemonUnreachable {
            return Err(e);
        }
        return Ok(Answer::NoAnswer {
            error: format!("the container did not start: {e}"),
        });
    }
    match tokio::time::timeout(STEP_TIMEOUT, docker.wait_container(id)).await {
        Ok(exit) => Ok(Answer::Command {
            exit: exit?,
            output: output_text(&docker.output(id, MAX_OUTPUT_BYTES).await?, false),
        }),
        Err(_) => Ok(timed_out()),
    }
}

/// The logged output as one text, without the sensor's own lines; a note
/// of how much more there was past [`MAX_OUTPUT_BYTES`].
fn output_text(logged: &LoggedOutput, under_sensor: bool) -> String {
    let mut bytes = Vec::with_capacity(logged.kept);
    let mut dropped = 0;
    for (from_stderr, chunk) in &logged.chunks {
        if under_sensor && *from_stderr && chunk.starts_with(SENSOR_PREFIX) {
            dropped += chunk.len();
            continue;
        }
        bytes.extend_from_slice(chunk);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if logged.total > logged.kept {
        text += &format!(
            "\n… ({} bytes of output in all, the first {} kept)",
            logged.total - dropped,
            logged.kept - dropped
        );
    }
    text
}

/// `--run-args 'ARGS'`: the words of ARGS as a POSIX shell splits them
/// (blanks separate, '…' and "…" quote, \ escapes), with no expansion of any
/// kind. What would make a shell do more than split (`$`, backquotes,
/// unquoted `| & ; < > ( )`) is refused rather than passed on literally.
pub fn one_liner(text: &str) -> Result<RunStep> {
    let args = split_words(text)
        .map_err(|why| Failure::msg(ExitKind::Usage, format!("--run-args {text:?}: {why}")))?;
    Ok(RunStep {
        args,
        ..RunStep::default()
    })
}

fn split_words(text: &str) -> std::result::Result<Vec<String>, String> {
    let no_shell = |c: char| {
        format!(
            "`{c}` would need a shell, and the args are not run by one: quote it, or run \
             one yourself (`sh -c '…'`)"
        )
    };
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a ' is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a \" is not closed".into()),
                        },
                        Some(c @ ('$' | '`')) => return Err(no_shell(c)),
                        Some(c) => word.push(c),
                        None => return Err("a \" is not closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("it ends with a lone \\".into()),
            },
            '$' | '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' => return Err(no_shell(c)),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn splits_args_as_a_shell_would_without_expanding() {
        let words = |text: &str| split_words(text).unwrap();
        assert_eq!(words("report --format=json"), ["report", "--format=json"]);
        assert_eq!(
            words(r#"  check '/a file'  "b \"c\"" d\ e '' "#),
            ["check", "/a file", "b \"c\"", "d e", ""]
        );
        assert_eq!(words(r#"'$HOME' "\$x" a\;b"#), ["$HOME", "$x", "a;b"]);
        assert_eq!(words(r#""a\nb""#), ["a\\nb"]);
        assert!(words("").is_empty());
        for refused in ["echo $HOME", "a | b", "a; b", "x > y", "\"$(id)\"", "`id`"] {
            let error = split_words(refused).unwrap_err();
            assert!(error.contains("would need a shell"), "{refused}: {error}");
        }
        assert!(split_words("'open").unwrap_err().contains("not closed"));
        assert!(split_words("\"open").unwrap_err().contains("not closed"));
        assert!(split_words("end\\").unwrap_err().contains("lone"));
        let failure = one_liner("a 'b").unwrap_err();
        assert_eq!(failure.kind, ExitKind::Usage);
        assert!(failure.to_string().starts_with("--run-args \"a 'b\""));
    }

    #[test]
    fn output_keeps_the_commands_lines_in_order_and_not_the_sensors() {
        let chunk = |stderr, text: &str| (stderr, Bytes::from(text.to_string()));
        let chunks = vec![
            chunk(
                true,
                "rslim-sensor: watching with a filesystem mark after 0.1 ms\n",
            ),
            chunk(false, "out 1\n"),
            chunk(true, "err 1\n"),
            chunk(false, "rslim-sensor: printed by the app on stdout\n"),
        ];
        let total = chunks.iter().map(|(_, b)| b.len()).sum();
        let logged = LoggedOutput {
            chunks,
            kept: total,
            total,
        };
        assert_eq!(
            output_text(&logged, true),
            "out 1\nerr 1\nrslim-sensor: printed by the app on stdout\n"
        );
        // A plain container has no sensor: every line is the command's.
        assert!(output_text(&logged, false).starts_with("rslim-sensor: watching"));
        let cut = LoggedOutput {
            chunks: vec![chunk(false, "abc")],
            kept: 3,
            total: 10,
        };
        assert_eq!(
            output_text(&cut, false),
            "abc\n… (10 bytes of output in all, the first 3 kept)"
        );
    }
}
