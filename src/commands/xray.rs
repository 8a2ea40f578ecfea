use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::cli::XrayArgs;
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::source::archive_failure;
use crate::image::transport::ImageSource;
use crate::image::{ImageArchive, Platform};
use crate::report::document::{self, ErrorInfo, FailureDocument};
use crate::xray::{self, compare, render, source, Analysis, Comparison, Options, Timings};

/// The `--json` document: the analysis, plus the comparison when asked for.
#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    #[serde(flatten)]
    analysis: &'a Analysis,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<&'a Comparison>,
    /// Only with --timings: they differ from run to run.
    #[serde(skip_serializing_if = "Option::is_none")]
    timings_ms: Option<Timings>,
}

/// With `--json`, a failure prints its error document on stdout too.
pub fn run(args: XrayArgs) -> Result<ExitCode> {
    let outcome = analyze(&args);
    if let (Err(failure), true) = (&outcome, args.json) {
        let source = match (&args.archive, &args.image) {
            (Some(path), _) => Some(path.display().to_string()),
            (None, image) => image.clone(),
        };
        let mut document = FailureDocument::new(ErrorInfo::new(failure, None));
        document.source = source.as_deref();
        document::print(&document)?;
    }
    outcome
}

fn analyze(args: &XrayArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .fail_with(ExitKind::Internal)?;
    let options = Options { top: args.top };

    let platform = args.platform.clone().unwrap_or_else(Platform::host);
    let started = std::time::Instant::now();
    let (archive, name) = match (&args.archive, &args.image) {
        (Some(path), _) => (
            source::open_archive(path, &platform)?,
            path.display().to_string(),
        ),
        (None, Some(image)) => (open_image(&runtime, image, &platform)?, image.clone()),
        (None, None) => {
            return Err(Failure::msg(
                ExitKind::Usage,
                "name an image, or pass --archive PATH",
            ))
        }
    };
    let export_ms = started.elapsed().as_millis() as u64;
    // Digests of an archive the user gave are checked as its layers stream.
    let mut fat = xray::xray(&archive, &name, &options).map_err(archive_failure)?;
    fat.timings.export = export_ms;
    let timings = args.timings.then_some(fat.timings);
    drop(archive);

    let comparison = match &args.compare {
        Some(other) => {
            let slim_archive = match Path::new(other).is_file() {
                true => source::open_archive(Path::new(other), &platform)?,
                false => open_image(&runtime, other, &platform)?,
            };
            let slim = xray::xray(&slim_archive, other, &options).map_err(archive_failure)?;
            Some(compare::compare(
                (&name, other),
                &fat.merged,
                &fat.captured,
                &slim.merged,
            ))
        }
        None => None,
    };

    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        let report = Report {
            schema_version: document::SCHEMA_VERSION,
            analysis: &fat.analysis,
            comparison: comparison.as_ref(),
            timings_ms: timings,
        };
        serde_json::to_writer_pretty(&mut stdout, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout))
    } else {
        let mut text = render::analysis(&fat.analysis);
        if let Some(comparison) = &comparison {
            text.push_str(&render::comparison(comparison, args.top));
        }
        if let Some(timings) = &timings {
            text.push_str(&render::timings(timings));
        }
        stdout.write_all(text.as_bytes())
    };
    match written {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `rslim xray img | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::new(ExitKind::Internal, e)),
    }
}

/// An engine image, or an archive named with its transport
/// (`docker-archive:PATH`, `oci-archive:PATH`, `oci:DIR`). `--compare` also
/// takes a plain archive path when such a file exists.
fn open_image(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    platform: &Platform,
) -> Result<ImageArchive> {
    let image: ImageSource = name
        .parse()
        .map_err(|e: String| Failure::msg(ExitKind::Usage, e))?;
    match source::open_source(&image, platform)? {
        Some(archive) => Ok(archive),
        None => runtime.block_on(source::export_from_daemon(name)),
    }
}
