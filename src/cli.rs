//! Command-line definitions. Parsing here is pure: nothing touches Docker or
//! the filesystem until a command's `run` resolves these values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rslim",
    version,
    about = "Make container images minimal, and prove they still work"
)]
pub struct Cli {
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

    /// Seconds to keep profiling a port that does not speak HTTP, after it listens
    #[arg(long, default_value_t = 3, value_name = "SECONDS")]
    pub non_http_wait: u64,

    /// Seconds the app gets to exit after the stop signal before it is killed
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub stop_grace: u64,

    /// Keep a debug shell (sh and a few basic tools) from the image
    #[arg(long)]
    pub include_shell: bool,

    /// Always keep this path (file or whole directory) from the image; repeatable
    #[arg(long = "include-path", value_name = "PATH")]
    pub include_paths: Vec<String>,

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

    /// Write a JSON report to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

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

    /// Print JSON instead of tables
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

    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,

    /// Exit non-zero when a finding is at or above this severity
    #[arg(long, value_enum, default_value_t = Severity::Error)]
    pub fail_on: Severity,
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
