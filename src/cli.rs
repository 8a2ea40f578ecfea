//! Command-line definitions. Parsing here is pure: nothing touches Docker or
//! the filesystem until a command's `run` resolves these values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rslim",
    version,
    about = "Make container images minimal, and prove they still work",
    propagate_version = true,
    after_long_help = crate::error::ExitKind::table()
)]
pub struct Cli {
    /// Print only errors on stderr: no progress, no summary, no warnings
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// The container engine to talk to (default: found from DOCKER_HOST, CONTAINER_HOST, the sockets)
    ///
    /// `docker`: DOCKER_HOST, else /var/run/docker.sock. `podman`: CONTAINER_HOST, else
    /// /run/podman/podman.sock or $XDG_RUNTIME_DIR/podman/podman.sock. Without it: DOCKER_HOST,
    /// then CONTAINER_HOST, then whichever of those sockets exists
    #[arg(
        long,
        global = true,
        value_enum,
        env = "RSLIM_ENGINE",
        value_name = "ENGINE"
    )]
    pub engine: Option<crate::docker::EngineKind>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Profile IMAGE in an instrumented container and write a minimal single-layer image
    Build(BuildArgs),
    /// Show why an image is fat: layers, wasted bytes, largest files, leftovers
    Xray(XrayArgs),
    /// Check a Dockerfile against image-size and hygiene best practices
    Lint(LintArgs),
    /// Print a shell completion script (bash: `source <(rslim completions bash)`)
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one per command with --dir
    Man(ManArgs),
    /// Remove the containers, volumes, temporary tags and temp dirs of rslim runs that were killed
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every one of rslim's containers, volumes, temporary tags and temp dirs, whoever
    /// owns it: builds still running, here or on other hosts sharing the engine, will fail
    #[arg(long)]
    pub all: bool,

    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The page of one command (`build`, `xray`, …); default: rslim(1)
    pub command: Option<String>,

    /// Write every page (rslim.1, rslim-build.1, …) into DIR instead
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The image to slim: a name or id the engine knows, or docker-archive:PATH,
    /// oci-archive:PATH[:REF] or oci:DIR[:REF] (loaded into the engine for a while)
    pub image: String,

    /// Tag for the slim image; repeat for more. Default: <repo>.slim:<tag>
    #[arg(long = "tag", short = 't')]
    pub tags: Vec<String>,

    /// Pull the image first if it is not present locally
    #[arg(long)]
    pub pull: bool,

    /// Probe every exposed TCP port with HTTP GET / (`--http-probe=false` turns it off)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub http_probe: bool,

    /// When profiling ends: `probe` (after the probes), `exit` (when the app exits),
    /// a number of seconds, `signal` (SIGUSR1 to rslim) or `enter` (a line on stdin).
    /// Default: `probe` for images with exposed ports, `exit` for the rest
    #[arg(long, value_name = "WHEN")]
    pub continue_after: Option<String>,

    /// Seconds to wait for the app's ports to answer before failing
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub ready_timeout: u64,

    /// Seconds to keep profiling a port that does not speak HTTP, after it answered the
    /// probe's request with its own protocol (or greeted first, like MySQL)
    #[arg(long, default_value_t = 1, value_name = "SECONDS")]
    pub non_http_wait: u64,

    /// Seconds the app gets to exit after the stop signal before it is killed
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub stop_grace: u64,

    /// Seconds the profiled app keeps running without a heartbeat from rslim (renewed
    /// every 10 s or sooner) before the sensor stops it, so a killed rslim leaves no
    /// running container behind; 0 turns the limit off
    #[arg(long, default_value_t = crate::sensor::container::HEARTBEAT_TIMEOUT.as_secs(), value_name = "SECONDS")]
    pub heartbeat_timeout: u64,

    /// Keep a debug shell from the image: sh, bash and a busybox-like kit (ls, cat, grep,
    /// sed, awk, find, ps, vi…; the list is in docs/packages.md), those the image has
    #[arg(long)]
    pub include_shell: bool,

    /// Always keep this path (file or whole directory) from the image, or every path a glob
    /// matches (`*`, `?`, `[a-z]`, `**`); repeatable
    #[arg(long = "include-path", value_name = "PATH|GLOB")]
    pub include_paths: Vec<String>,

    /// Read more --include-path values from FILE, one per line (blank lines and lines
    /// starting with # are skipped); repeatable
    #[arg(long = "include-path-file", value_name = "FILE")]
    pub include_path_files: Vec<PathBuf>,

    /// Always keep this program or shared library (absolute path in the image) with the
    /// libraries it links and its #! interpreter; repeatable
    #[arg(long = "include-bin", value_name = "PATH")]
    pub include_bins: Vec<String>,

    /// Always keep this program, looked up by name on the image's PATH, with what it
    /// links; repeatable
    #[arg(long = "include-exe", value_name = "NAME")]
    pub include_exes: Vec<String>,

    /// Remove what this glob matches from the slim image, after everything else, whatever
    /// kept it (a matching directory goes with what is in it); repeatable
    #[arg(long = "exclude-pattern", value_name = "GLOB")]
    pub exclude_patterns: Vec<String>,

    /// Keep the image's CA certificates (bundles and directories) even if no TLS library is kept
    #[arg(long, visible_alias = "include-cert-all")]
    pub include_certs: bool,

    /// Keep the image's time-zone data (/usr/share/zoneinfo, /etc/localtime)
    #[arg(long)]
    pub include_zoneinfo: bool,

    /// Keep a compiled glibc locale and its message catalogs (`de_DE.UTF-8`), or `all`
    /// locale data; repeatable
    #[arg(long = "include-locale", value_name = "LOCALE")]
    pub include_locales: Vec<String>,

    /// What to keep: `observed` (what the app used, with the runtime rules), or `packages`
    /// (also every file of each package it touched and of their dependencies; docs/packages.md)
    #[arg(long, value_enum, default_value_t = crate::resolve::keep_packages::KeepMode::Observed, value_name = "MODE")]
    pub keep: crate::resolve::keep_packages::KeepMode,

    /// Record what the app checks for with stat, access and readlink, and keep what
    /// exists (`--trace-lookups=false` turns it off; the sensor then needs no CAP_SYS_PTRACE)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub trace_lookups: bool,

    /// Files no package owns beside the app's own (a web root, /app): `auto` keeps them
    /// within size caps, `all` whatever their size, `none` only what the app touched
    #[arg(long, value_enum, default_value_t = crate::resolve::appfiles::AppFilesMode::Auto, value_name = "MODE")]
    pub keep_app_files: crate::resolve::appfiles::AppFilesMode,

    /// Turn off a runtime rule (python, node, perl, ruby, jvm, go, glibc, tls, datasets); repeatable.
    /// docs/runtime-rules.md says what each keeps and why
    #[arg(long = "no-runtime-rule", value_name = "RULE")]
    pub no_runtime_rules: Vec<String>,

    /// Write the JSON report to FILE (the document --json prints)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Print the report as one JSON document on stdout (docs/report.md); on a
    /// failure, a document with an `error` object. People's text stays on stderr
    #[arg(long)]
    pub json: bool,

    /// How the original filesystem of an engine image is read: `walk` (a container of the
    /// image that never runs the app sends an index and then only the files used) or
    /// `export` (`docker export`, read whole). Archive inputs are read from the archive
    #[arg(long, value_enum, default_value_t = FsSource::Walk, value_name = "SOURCE")]
    pub fs_source: FsSource,

    /// Walk the image's files even when rslim's cache has their index from an earlier build
    /// of the same layers, and keep nothing there. The cache is `$RSLIM_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/rslim`, else `~/.cache/rslim`; removing it is always safe
    #[arg(long)]
    pub no_cache: bool,

    /// Read the original filesystem from a docker-save or OCI archive instead of the daemon
    /// (the image must still be present in the daemon to run it)
    #[arg(long, value_name = "PATH")]
    pub archive: Option<PathBuf>,

    /// Where to write the slim image: `docker` (load it into the engine), docker-archive:PATH,
    /// oci-archive:PATH[:REF] or oci:DIR[:REF]; repeatable. Default: docker
    #[arg(long = "output", value_name = "TARGET")]
    pub outputs: Vec<crate::image::transport::OutputTarget>,

    /// Which image of a multi-platform archive to profile (os/arch[/variant]).
    /// Default: the engine's platform
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<crate::image::Platform>,

    /// Run the steps of this probe file while profiling (docs/probes.md); repeatable
    #[arg(long = "probe", value_name = "FILE")]
    pub probe_files: Vec<PathBuf>,

    /// Send one HTTP request while profiling: `GET /path` (first exposed port); repeatable
    #[arg(long = "http-probe-cmd", value_name = "REQUEST")]
    pub http_probe_cmds: Vec<String>,

    /// Run CMD (with `sh -c`) inside the container, as the image's user, while profiling; repeatable
    #[arg(long = "exec", value_name = "CMD")]
    pub exec: Vec<String>,

    /// Run CMD (with `sh -c`) on the host while profiling, with RSLIM_HOST,
    /// RSLIM_PORT_<container port> and RSLIM_URL set; repeatable
    #[arg(long = "host-exec", value_name = "CMD")]
    pub host_exec: Vec<String>,

    /// Profile one more run of the image: a fresh container with ARGS replacing CMD (the
    /// ENTRYPOINT stays, as `docker run IMAGE ARGS`), split like a shell splits words, no
    /// expansion; waited for until it exits (60 s at most); repeatable
    #[arg(long = "run-args", value_name = "ARGS", allow_hyphen_values = true)]
    pub run_args: Vec<String>,

    /// Follow same-host links in HTML answers from `/` (static sites)
    #[arg(long)]
    pub http_probe_crawl: bool,

    /// How many links deep --http-probe-crawl follows
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub crawl_depth: usize,

    /// How many pages --http-probe-crawl fetches at most
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub crawl_pages: usize,

    /// What a missed expectation of a probe step does while profiling
    #[arg(long, value_enum, default_value_t = crate::probe::plan::ProbeFailure::Fail)]
    pub probe_failure: crate::probe::plan::ProbeFailure,

    /// Start the slim image, run the same probes, and fail (exit 9) unless it answers like the original
    #[arg(long)]
    pub verify: bool,

    /// Run this probe file only when verifying, against the original and the
    /// slim image (implies --verify); repeatable
    #[arg(long = "verify-probe", value_name = "FILE")]
    pub verify_probe_files: Vec<PathBuf>,

    /// Push the slim image to this registry reference (registry/repo:tag, credentials
    /// as `docker login` stores them in ~/.docker/config.json); repeatable
    #[arg(long = "push", value_name = "REF")]
    pub push: Vec<String>,

    /// Speak plain HTTP to this registry (HOST[:PORT], as written in --push); repeatable.
    /// Every other registry is HTTPS only
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
}

impl BuildArgs {
    /// The probe steps these flags ask for, not yet read or checked.
    pub fn plan_sources(&self) -> crate::probe::plan::PlanSources {
        crate::probe::plan::PlanSources {
            probe_files: self.probe_files.clone(),
            verify_probe_files: self.verify_probe_files.clone(),
            http_cmds: self.http_probe_cmds.clone(),
            exec: self.exec.clone(),
            host_exec: self.host_exec.clone(),
            run_args: self.run_args.clone(),
            crawl: self
                .http_probe_crawl
                .then_some(crate::probe::crawl::CrawlLimits {
                    depth: self.crawl_depth,
                    pages: self.crawl_pages,
                }),
            on_failure: self.probe_failure,
            verify: self.verify,
        }
    }
}

#[derive(Debug, Args)]
pub struct XrayArgs {
    /// The image to read: a name the daemon knows, or docker-archive:PATH,
    /// oci-archive:PATH[:REF], oci:DIR[:REF] (ignored with --archive)
    pub image: Option<String>,

    /// Read a docker-save or OCI archive file instead of asking the daemon
    #[arg(long, value_name = "PATH")]
    pub archive: Option<PathBuf>,

    /// Which image of a multi-platform archive to read (os/arch[/variant]). Default: this host's
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<crate::image::Platform>,

    /// Print one JSON document on stdout instead of tables (docs/xray.md); on a
    /// failure, a document with an `error` object
    #[arg(long)]
    pub json: bool,

    /// Compare with another (slimmed) image: what was removed, by directory and package
    #[arg(long, value_name = "IMAGE")]
    pub compare: Option<String>,

    /// How many entries to show in "largest" and "top wasted" lists
    #[arg(long, default_value_t = 10)]
    pub top: usize,

    /// Also report the milliseconds spent per stage (export, scan, merge, hash, analyze)
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The Dockerfile to check
    #[arg(default_value = "Dockerfile")]
    pub dockerfile: PathBuf,

    /// Print one JSON document on stdout instead of text (docs/lint.md); on a
    /// failure, a document with an `error` object
    #[arg(long)]
    pub json: bool,

    /// Exit non-zero when a finding is at or above this severity
    #[arg(long, value_enum, default_value_t = Severity::Error)]
    pub fail_on: Severity,
}

/// Where `build` reads the original filesystem of an engine image from
/// (docs/design.md, "Reading the original filesystem").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsSource {
    Walk,
    Export,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    /// Never fail, only report
    Never,
}
