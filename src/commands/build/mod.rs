//! `rslim build IMAGE`: inspect → sensor → probe → resolve → write → report.
//!
//! The original filesystem is exported and indexed in the background while
//! the app runs under the sensor, so that work costs no wall time. Whatever
//! happens, every container rslim created is removed before returning.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::BuildArgs;
use crate::docker::{split_reference, CreatedContainers, CreatedImages, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::ImageConfig;
use crate::leftovers;
use crate::probe::plan::Plan;
use crate::probe::run::{self, Runner};
use crate::probe::steps::{image_user, Endpoint};
use crate::probe::{self, Interrupted, PortProbe, ProbeSettings, Target};
use crate::report::document::{self, ErrorInfo, FailureDocument};
use crate::report::{progress, BuildReport, Stages};
use crate::resolve::fileset::keep_set;
use crate::sensor::container::container_name;
use crate::sensor::{ProfilingContainer, ProfilingOptions};
use crate::space;
use crate::verify::{ran_to_its_end, verify, VerifyRequest};

mod continue_after;
mod input;
mod keep_options;
mod original;
mod outcome;
mod outputs;
mod write;

use original::{read_original, AbortOnDrop, Original};
use outcome::{check_outcome, describe_outcome, observed_all, with_logs};
use outputs::Outputs;
pub use write::SlimFiles;

pub use continue_after::ContinueAfter;

/// What the temp directory holds, for a full one's message (see [`space`]).
const READING: &str = "the image's files";
const WRITING: &str = "the slim image";

/// Label naming the image a slim image was made from.
pub const SOURCE_LABEL: &str = "io.rslim.source-image";

/// Builds, then tells: the summary on stderr, and the one JSON document
/// (`--json` on stdout, `--report FILE`), also when the build failed.
pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let mut failed_stage = None;
    let outcome = build_and_verify(&args, &mut failed_stage);
    match outcome {
        Ok((report, push_failure)) => tell(&args, report, push_failure),
        Err(failure) => {
            let mut document = FailureDocument::new(ErrorInfo::new(&failure, failed_stage));
            document.source_image = Some(&args.image);
            // The build's own failure says more than a report we could not write.
            if let Err(not_written) = emit(&args, &document) {
                progress::warn(not_written);
            }
            Err(failure)
        }
    }
}

/// A build that made its image: the summary, then the document; a failed
/// verification or push (or a report that cannot be written) is its `error`.
fn tell(
    args: &BuildArgs,
    mut report: BuildReport,
    push_failure: Option<Failure>,
) -> Result<ExitCode> {
    progress::say(report.summary());
    let failed_verification = report.verification.as_ref().filter(|v| !v.passed);
    let mut failure = match failed_verification {
        Some(verification) => Some((verification.failure(), "verify")),
        None => push_failure.map(|failure| (failure, "push")),
    }
    .map(|(failure, stage)| {
        report.error = Some(ErrorInfo::new(&failure, Some(stage)));
        failure
    });
    if let Some(path) = &args.report {
        if let Err(not_written) = document::write(path, &report) {
            report.error = Some(ErrorInfo::new(&not_written, None));
            failure = Some(not_written);
        }
    }
    if args.json {
        document::print(&report)?;
    }
    match failure {
        Some(failure) => Err(failure),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn emit(args: &BuildArgs, document: &impl serde::Serialize) -> Result<()> {
    let written = match &args.report {
        Some(path) => document::write(path, document),
        None => Ok(()),
    };
    if args.json {
        document::print(document)?;
    }
    written
}

fn build_and_verify(
    args: &BuildArgs,
    failed_stage: &mut Option<&'static str>,
) -> Result<(BuildReport, Option<Failure>)> {
    let known_rules = crate::resolve::fileset::rule_names();
    if let Some(unknown) = args
        .no_runtime_rules
        .iter()
        .find(|name| !known_rules.contains(&name.as_str()))
    {
        return Err(Failure::msg(
            ExitKind::Usage,
            format!(
                "--no-runtime-rule {unknown}: no such rule; the rules are {}",
                known_rules.join(", ")
            ),
        ));
    }
    // Unreadable --include-path-file or malformed globs fail before the engine is asked.
    keep_options::from_args(args)?;
    let continue_after = match &args.continue_after {
        Some(text) => Some(ContinueAfter::parse(text).fail_with(ExitKind::Usage)?),
        None => None,
    };
    crate::output::epoch::source_date_epoch().map_err(|e| Failure::msg(ExitKind::Usage, e))?;
    // Output paths fail here, before the engine is even asked.
    let outputs = Outputs::new(&args.outputs)?;
    outputs.check()?;
    if let Some(report) = &args.report {
        outputs::check_report(report)?;
    }
    for reference in &args.push {
        crate::output::registry::Reference::parse(reference)
            .map_err(|e| Failure::msg(ExitKind::Usage, format!("--push {reference}: {e}")))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .fail_with(ExitKind::Internal)?;
    runtime.block_on(async move {
        let docker = Docker::connect().await?;
        // What killed runs left goes meanwhile (docs/design.md, "Cleanup").
        let sweep = tokio::spawn({
            let docker = docker.clone();
            async move { leftovers::sweep(&docker, leftovers::Scope::DeadOwners, false).await }
        });
        let created = CreatedContainers::default();
        let images = CreatedImages::default();
        let cleanup = Cleanup {
            containers: &created,
            images: &images,
        };
        let mut stages = Stages::new();
        let outcome = tokio::select! {
            outcome = build(&docker, args, continue_after, &outputs, &cleanup, &mut stages) => outcome,
            signal = interrupted() => Err(Failure::msg(
                ExitKind::Interrupted,
                format!("interrupted by {signal}; removed what rslim had created"),
            )),
        };
        // A stage still running is the one that failed (or was interrupted).
        *failed_stage = stages.current();
        stages.fail();
        // Containers first: an image a container still uses cannot go.
        created.remove_all(&docker).await;
        images.remove_all(&docker).await;
        // Failures are left for the next run's sweep, or `rslim prune`, to retry.
        if let Some(summary) = sweep.await.ok().and_then(|swept| swept.summary()) {
            progress::say(format_args!("rslim: {summary}"));
        }
        outcome
    })
}

/// What every exit path removes: containers, and temporary image tags.
struct Cleanup<'a> {
    containers: &'a CreatedContainers,
    images: &'a CreatedImages,
}

async fn build(
    docker: &Docker,
    args: &BuildArgs,
    continue_after: Option<ContinueAfter>,
    outputs: &Outputs,
    cleanup: &Cleanup<'_>,
    stages: &mut Stages,
) -> Result<(BuildReport, Option<Failure>)> {
    let created = cleanup.containers;
    stages.begin("inspect", format_args!("inspecting {}", args.image));
    let mut input = input::open(docker, args).await?;
    let image_id = input.image_id.clone();
    let config = ImageConfig::parse(&input.config_bytes).fail_with(ExitKind::Internal)?;
    if config.run.argv().is_empty() {
        return Err(Failure::msg(
            ExitKind::ImageNotRunnable,
            format!(
                "image {} has neither ENTRYPOINT nor CMD: there is nothing to run and profile",
                args.image
            ),
        ));
    }
    let ports = config.run.tcp_ports();
    // Bad probe files fail here, before anything is created.
    let plan = Plan::load(&args.plan_sources(), &ports)?;
    // The export is spooled to $TMPDIR: too little room fails now, not after profiling.
    // The tar is a few percent larger than the files' bytes the engine counts.
    let image_bytes = input
        .inspect
        .as_ref()
        .and_then(|i| i.size)
        .unwrap_or(0)
        .max(0) as u64;
    let image_bytes = image_bytes + image_bytes / 20 + (4 << 20);
    if matches!(input.original, original::OriginalSource::Export { .. }) {
        space::check(READING, image_bytes)?;
    }
    // Read the original filesystem while the app runs; aborted if we fail first.
    let mut original_source = std::mem::replace(
        &mut input.original,
        original::OriginalSource::Export {
            image_id: String::new(),
            config_bytes: Vec::new(),
        },
    );
    let (hurry, hurried) = std::sync::mpsc::channel();
    if let original::OriginalSource::Walk { hurry: slot, .. } = &mut original_source {
        *slot = Some(hurried);
    }
    let mut export = AbortOnDrop(tokio::spawn(read_original(
        docker.clone(),
        original_source,
        created.clone(),
    )));
    let mut checked_original = None;
    if let Some(archive) = input.to_load.clone() {
        stages.begin(
            "load",
            "loading the image into the engine under a temporary tag and checking the archive",
        );
        match input::load(docker, cleanup.images, archive).await {
            Ok(inspect) => input.inspect = Some(inspect),
            Err(failure) if failure.kind == ExitKind::InvalidArchive => return Err(failure),
            Err(failure) => {
                // When the engine refuses an archive, the reader's account
                // of what is wrong with it says more.
                let read = tokio::time::timeout(Duration::from_secs(30), &mut export.0).await;
                if let Ok(Ok(Err(bad))) = read {
                    if bad.kind == ExitKind::InvalidArchive {
                        return Err(bad);
                    }
                }
                return Err(failure);
            }
        }
        // Nothing from an archive runs before all of it checked out: the
        // engine loads some layers rslim refuses (Docker 20.10 takes `../`).
        let read = (&mut export.0).await.fail_with(ExitKind::Internal)?;
        checked_original = Some(read.map_err(|f| space::explain(f, READING, None))?);
    }
    let inspect = input.inspect.clone().expect("the image is in the engine");
    let continue_after = continue_after.unwrap_or(if ports.is_empty() {
        ContinueAfter::Exit
    } else {
        ContinueAfter::Probe
    });

    stages.begin("create", "creating the profiling container with the sensor");
    let options = ProfilingOptions {
        stop_grace: Duration::from_secs(args.stop_grace),
        trace_lookups: args.trace_lookups,
        heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout),
    };
    let name = container_name("profile");
    let mut container =
        ProfilingContainer::create(docker, created, &image_id, &name, &config, &options).await?;
    stages.begin("start", "starting the app under the sensor");
    container.start(docker, &ports).await?;
    // `run` steps start their own containers meanwhile, one at a time
    // (docs/probes.md, "When run steps run").
    let mut runs = (!plan.runs.is_empty()).then(|| {
        let runner = Runner {
            docker: docker.clone(),
            created: created.clone(),
            image: image_id.clone(),
            config: config.clone(),
            options: options.clone(),
        };
        let steps = plan.runs.clone();
        let on_failure = plan.on_failure;
        AbortOnDrop(tokio::spawn(async move {
            run::profile_all(runner, steps, on_failure).await
        }))
    });

    stages.begin(
        "probe",
        probe_banner(&ports, args.http_probe, continue_after),
    );
    let target = Running {
        docker,
        container: &container,
    };
    let settings = ProbeSettings {
        ready_timeout: Duration::from_secs(args.ready_timeout),
        non_http_wait: Duration::from_secs(args.non_http_wait),
        http: args.http_probe,
    };
    let mut app_gone = false;
    let mut probes: Vec<PortProbe> = Vec::new();
    match probe::probe_ports(&target, &ports, &settings).await {
        Ok(done) => probes = done,
        Err(Interrupted::AppGone) => app_gone = true,
        Err(Interrupted::Failed(failure)) => {
            return Err(with_logs(docker, &container, failure).await);
        }
    }
    let mut notes = Vec::new();
    let mut recorded = Vec::new();
    if !app_gone && !plan.is_empty() {
        let endpoint = Endpoint {
            docker,
            container: &container.id,
            user: image_user(&config),
            exec_via: container.exec_via(),
            ports: container.ports.clone(),
        };
        recorded = match plan.run_profiling(&endpoint, &probes, &mut notes).await {
            Ok(recorded) => recorded,
            Err(failure) => return Err(with_logs(docker, &container, failure).await),
        };
    }
    if !app_gone {
        if let Some(code) = container.run_healthcheck(docker, &config).await? {
            notes.push(format!(
                "the image's HEALTHCHECK ran once while profiling and exited {code}"
            ));
        }
        app_gone = continue_after.wait(docker, &container).await?;
    }

    stages.begin(
        "stop",
        "stopping the app and collecting the sensor's findings",
    );
    let stop_signal = config.run.stop_signal.clone().filter(|s| !s.is_empty());
    let signal = (!app_gone).then(|| stop_signal.as_deref().unwrap_or("SIGTERM"));
    let findings = container.stop_and_collect(docker, signal, &options).await?;
    // From now on the build waits for the walk: the walker lists the rest
    // without looking regular files up (they are, when first used).
    let _ = hurry.send(());
    check_outcome(docker, &container, &findings).await?;
    // Removing the container (and its volumes) overlaps the rest of the
    // build; `created.remove_all` still covers it if anything fails first.
    let removal = tokio::spawn({
        let docker = docker.clone();
        let id = container.id.clone();
        async move { docker.remove_container(&id).await }
    });
    let mut run_findings = Vec::new();
    if let Some(runs) = &mut runs {
        stages.begin("run", "waiting for the run steps to end");
        let profiled = (&mut runs.0).await.fail_with(ExitKind::Internal)??;
        recorded.extend(profiled.records);
        notes.extend(profiled.notes);
        run_findings = profiled.findings;
    }

    stages.begin(
        "export",
        "waiting for the original filesystem (walk or export)",
    );
    let original = match checked_original {
        Some(original) => original,
        None => (&mut export.0)
            .await
            .fail_with(ExitKind::Internal)?
            .map_err(|f| space::explain(f, READING, Some(image_bytes)))?,
    };

    stages.begin("resolve", "resolving the files to keep");
    let observed = observed_all(&findings, &run_findings);
    let keep_options = keep_options::from_args(args)?;
    let run_config = original.config.run.clone();
    let (original, keep) = tokio::task::spawn_blocking(move || {
        let keep = keep_set(original.tree.fs(), &observed, &run_config, &keep_options);
        (original, keep)
    })
    .await
    .fail_with(ExitKind::Internal)?;
    original.tree.check()?;
    keep_options::check_exclusions(args, &keep)?;
    outcome::check_entrypoint(&original.config.run, &keep)?;
    notes.extend(original.notes.iter().cloned());

    stages.begin("write", "writing the slim image");
    let tags = slim_tags(args, &input.repo_tags, &image_id);
    let source = match input.label_name.is_empty() {
        true => image_id.clone(),
        false => format!("{}@{}", input.label_name, image_id),
    };
    let request = write::WriteRequest {
        tags: &tags,
        source: &source,
        outputs,
        need_engine: plan.verify,
    };
    // The kept files' metadata at once (the walker may not have looked them up).
    let kept_paths: Vec<std::path::PathBuf> = keep.paths.keys().cloned().collect();
    original.tree.fs().prefetch(&kept_paths, 0);
    // The layer, and the archive `docker load` reads, go to $TMPDIR first.
    let slim_bytes_estimate = 2 * keep
        .paths
        .keys()
        .map(|path| original.tree.get(path).map_or(0, |node| node.size()) + 1024)
        .sum::<u64>();
    space::check(WRITING, slim_bytes_estimate)?;
    let written = write::write(docker, cleanup.images, original, &keep, &request)
        .await
        .map_err(|f| space::explain(f, WRITING, Some(slim_bytes_estimate)))?;
    stages.end();
    removal.await.fail_with(ExitKind::Internal)??;

    let slim_bytes = match &written.in_engine {
        Some(_) => {
            let slim = docker.inspect_image(&written.image_id).await?;
            slim.size.unwrap_or(0).max(0) as u64
        }
        // Not in the engine: what it would count, the files' bytes.
        None => written.file_bytes,
    };
    let verification = if plan.verify {
        stages.begin(
            "verify",
            "starting the slim image and running the probes again",
        );
        let request = VerifyRequest {
            original_image: &image_id,
            slim_image: written.in_engine.as_deref().unwrap_or(&written.image_id),
            config: &config,
            recorded: &recorded,
            verify_only: &plan.verify_only,
            ready_timeout: Duration::from_secs(args.ready_timeout),
            original_exit: ran_to_its_end(&findings),
            created,
        };
        let verification = verify(docker, &request).await?;
        stages.end();
        Some(verification)
    } else {
        None
    };
    // Only a verified image goes to a registry when verification was asked for.
    let mut outputs_written = written.outputs;
    let mut push_failure = None;
    if !args.push.is_empty() && verification.as_ref().is_none_or(|v| v.passed) {
        stages.begin("push", format_args!("pushing to {}", args.push.join(", ")));
        match push(&written.slim, args).await {
            Ok(records) => {
                outputs_written.extend(records);
                stages.end();
            }
            // The image is made and checked: the report still tells so.
            Err(failure) => {
                push_failure = Some(failure);
                stages.fail();
            }
        }
    }
    let original_bytes = inspect.size.unwrap_or(0).max(0) as u64;
    notes.extend(keep.notes.iter().cloned());
    notes.extend(findings.errors.iter().map(|e| format!("sensor: {e}")));
    if findings.lookups_dropped > 0 {
        notes.push(format!(
            "the sensor recorded the first {} paths the app looked up and dropped {} more",
            findings.looked_up.len(),
            findings.lookups_dropped
        ));
    }
    if findings.overflows > 0 {
        notes.push(format!(
            "the sensor's event queue overflowed {} times: some file accesses were lost, \
             check the slim image or keep paths with --include-path",
            findings.overflows
        ));
    }
    let total_ms = stages.total().as_millis();
    let report = BuildReport {
        schema_version: document::SCHEMA_VERSION,
        source_image: args.image.clone(),
        source_id: image_id,
        slim_id: written.image_id,
        slim_tags: tags,
        layer_digest: written.layer_digest,
        outputs: outputs_written,
        original_bytes,
        slim_bytes,
        reduction: original_bytes as f64 / slim_bytes.max(1) as f64,
        files_kept: written.files,
        paths_kept: written.kept.len(),
        // Docker starting the app, the app getting ready and the probes are
        // the app's time, and --verify is reported on its own; the rest is rslim's.
        overhead_ms: total_ms.saturating_sub(
            stages.ms("start") + stages.ms("probe") + stages.ms("run") + stages.ms("verify"),
        ),
        total_ms,
        stages: stages.done.clone(),
        probes,
        probe_steps: recorded,
        verification,
        sensor: crate::report::SensorSummary {
            mark: findings.mark.clone(),
            events: findings.events,
            overflows: findings.overflows,
            files_seen: findings.files.len(),
            dirs_seen: findings.dirs.len(),
            executed: findings.executed.len(),
            lookups: findings.lookups,
            looked_up: findings.looked_up.len(),
            app_exit: describe_outcome(&findings.app),
        },
        notes,
        missing_libraries: keep
            .missing_libraries
            .iter()
            .map(|m| format!("{} (needed by {})", m.soname, m.needed_by.display()))
            .collect(),
        keep_mode: args.keep,
        packages: written.packages.clone(),
        kept_by_reason: crate::report::totals_by_reason(&written.kept),
        kept: written.kept,
        error: None,
    };
    Ok((report, push_failure))
}

/// Pushes the slim image to every `--push` reference; one record each.
async fn push(
    slim: &write::SlimFiles,
    args: &BuildArgs,
) -> Result<Vec<crate::report::OutputRecord>> {
    let image = slim.oci_image().fail_with(ExitKind::OutputFailed)?;
    let options = crate::output::registry::PushOptions {
        insecure_registries: args.insecure_registries.clone(),
        ..Default::default()
    };
    let mut records = Vec::new();
    for reference in &args.push {
        let outcome = crate::output::registry::push(image, reference, &options).await?;
        records.push(crate::report::OutputRecord {
            kind: "registry".into(),
            location: outcome.reference,
            digest: outcome.manifest_digest,
            image_id: slim.image_id.clone(),
        });
    }
    Ok(records)
}

/// The running profiling container, as the probes see it.
struct Running<'a> {
    docker: &'a Docker,
    container: &'a ProfilingContainer,
}

impl Target for Running<'_> {
    async fn listening(&self) -> Result<Option<Vec<u16>>> {
        self.container.listening_ports(self.docker).await
    }

    fn host_port(&self, container_port: u16) -> Option<u16> {
        self.container
            .ports
            .iter()
            .find(|(c, _)| *c == container_port)
            .map(|(_, h)| *h)
    }
}

fn probe_banner(ports: &[u16], http: bool, until: ContinueAfter) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    match (ports.is_empty(), http) {
        (true, _) => format!("no exposed TCP ports; profiling until {until}"),
        (false, true) => format!(
            "probing port(s) {} with HTTP; profiling until {until}",
            ports.join(", ")
        ),
        (false, false) => format!(
            "waiting for port(s) {}; profiling until {until}",
            ports.join(", ")
        ),
    }
}

/// `--tag` values, else `<repo>.slim:<tag>` of the name the user gave (or
/// of the image's first tag when given an id or an archive).
fn slim_tags(args: &BuildArgs, repo_tags: &[String], image_id: &str) -> Vec<String> {
    if !args.tags.is_empty() {
        return args.tags.clone();
    }
    let from_archive = !args
        .image
        .parse::<crate::image::transport::ImageSource>()
        .is_ok_and(|source| source.is_engine());
    let by_id = from_archive || image_id.ends_with(args.image.trim_start_matches("sha256:"));
    let reference = match repo_tags.first() {
        Some(tag) if by_id => tag.as_str(),
        _ => args.image.as_str(),
    };
    // An OCI layout may name its image by a bare ref (`oci:DIR:v1`): a tag, not a repository.
    if from_archive && !reference.contains(['/', ':']) && !reference.is_empty() {
        return vec![format!("rslim-slim:{reference}")];
    }
    let (repo, tag) = split_reference(reference);
    if by_id && repo_tags.is_empty() {
        return vec![format!("rslim-slim:{}", crate::report::short_id(image_id))];
    }
    vec![format!("{repo}.slim:{tag}")]
}

/// Resolves when SIGINT or SIGTERM arrives; the build future is then
/// dropped and everything created is removed.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
