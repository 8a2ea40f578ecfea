//! What a build did, for people (progress and a summary on stderr) and for
//! pipelines (`--json` on stdout, `--report FILE`: one JSON document). Field
//! names are part of the interface: docs/report.md lists them, and
//! docs/report.schema.json says the same as a JSON Schema.

pub mod document;
pub mod packages;
pub mod progress;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::probe::plan::StepRecord;
use crate::probe::PortProbe;
use crate::resolve::fileset::Reason;
use crate::verify::Verification;

#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub ms: u128,
}

/// Times the stages of a run and shows progress as each one starts
/// ([`progress`]: a live line on a terminal, a plain line otherwise).
#[derive(Debug)]
pub struct Stages {
    started: Instant,
    current: Option<(&'static str, Instant, progress::StageLine)>,
    pub done: Vec<StageTime>,
}

impl Default for Stages {
    fn default() -> Self {
        Self::new()
    }
}

impl Stages {
    pub fn new() -> Self {
        Stages {
            started: Instant::now(),
            current: None,
            done: Vec::new(),
        }
    }

    pub fn begin(&mut self, stage: &'static str, what: impl std::fmt::Display) {
        self.end();
        let line = progress::StageLine::start(stage, &what.to_string());
        self.current = Some((stage, Instant::now(), line));
    }

    pub fn end(&mut self) {
        if let Some((stage, since, line)) = self.current.take() {
            line.end(progress::End::Done);
            self.done.push(StageTime {
                stage,
                ms: since.elapsed().as_millis(),
            });
        }
    }

    /// The stage that is running: after a failure, the one that failed.
    pub fn current(&self) -> Option<&'static str> {
        self.current.as_ref().map(|(stage, _, _)| *stage)
    }

    /// Ends the running stage as failed (its live line gets a ✗).
    pub fn fail(&mut self) {
        if let Some((_, _, line)) = self.current.take() {
            line.end(progress::End::Failed);
        }
    }

    pub fn total(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn ms(&self, stage: &str) -> u128 {
        self.done
            .iter()
            .filter(|s| s.stage == stage)
            .map(|s| s.ms)
            .sum()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeptPath {
    /// A string when the name is UTF-8, else the array of its bytes.
    #[serde(serialize_with = "wire_path")]
    pub path: PathBuf,
    pub reason: Reason,
    pub kind: &'static str,
    pub size: u64,
}

/// A path of the image in JSON, losslessly, as the sensor's findings carry
/// it ([`rslim_sensor::WirePath`]): Linux names need not be UTF-8.
fn wire_path<S: serde::Serializer>(path: &std::path::Path, to: S) -> Result<S::Ok, S::Error> {
    rslim_sensor::WirePath::from(path).serialize(to)
}

#[derive(Debug, Clone, Serialize)]
pub struct SensorSummary {
    pub mark: String,
    pub events: u64,
    pub overflows: u64,
    pub files_seen: usize,
    pub dirs_seen: usize,
    pub executed: usize,
    /// stat/access/readlink calls of the app the sensor saw, and distinct paths among them.
    pub lookups: u64,
    pub looked_up: usize,
    pub app_exit: String,
}

/// One place the slim image was written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputRecord {
    /// `docker`, `docker-archive`, `oci-archive` or `oci`.
    pub kind: String,
    /// The file or directory written; for `docker`, the tags loaded.
    pub location: String,
    /// What identifies the image there: the image ID (config digest) for
    /// `docker` and `docker-archive`, the manifest digest for the OCI forms.
    pub digest: String,
    /// The image ID (`sha256:` of the config), the same for every output.
    pub image_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// [`document::SCHEMA_VERSION`].
    pub schema_version: u32,
    pub source_image: String,
    pub source_id: String,
    pub slim_id: String,
    pub slim_tags: Vec<String>,
    pub layer_digest: String,
    /// Every output written, in the order given (`--output`).
    pub outputs: Vec<OutputRecord>,
    pub original_bytes: u64,
    pub slim_bytes: u64,
    /// original_bytes / slim_bytes
    pub reduction: f64,
    pub files_kept: usize,
    pub paths_kept: usize,
    pub stages: Vec<StageTime>,
    pub total_ms: u128,
    /// Wall time minus Docker starting the app, the wait for it to be ready
    /// and the probes: what rslim itself costs.
    pub overhead_ms: u128,
    pub probes: Vec<PortProbe>,
    /// Steps of probe files, one-liners and the crawl, with the original's answers.
    pub probe_steps: Vec<StepRecord>,
    /// `--verify`: the slim image's answers next to the original's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    pub sensor: SensorSummary,
    pub notes: Vec<String>,
    pub missing_libraries: Vec<String>,
    /// `--keep`: `observed` (the default) or `packages`.
    pub keep_mode: crate::resolve::keep_packages::KeepMode,
    /// Each package owning a kept file, and how much of it is kept (docs/packages.md).
    pub packages: Vec<crate::resolve::package_use::PackageUse>,
    /// Paths and bytes kept for each reason (a path counts for the first reason found).
    pub kept_by_reason: BTreeMap<Reason, ReasonTotal>,
    pub kept: Vec<KeptPath>,
    /// Set when the build made its image but exits non-zero all the same
    /// (`--verify` failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<document::ErrorInfo>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReasonTotal {
    pub paths: usize,
    pub bytes: u64,
}

/// Totals per reason of `kept`.
pub fn totals_by_reason(kept: &[KeptPath]) -> BTreeMap<Reason, ReasonTotal> {
    let mut totals: BTreeMap<Reason, ReasonTotal> = BTreeMap::new();
    for path in kept {
        let total = totals.entry(path.reason).or_default();
        total.paths += 1;
        total.bytes += path.size;
    }
    totals
}

/// Reasons that come from rules rather than from what the app did.
const RULE_REASONS: &[Reason] = &[
    Reason::LookedUp,
    Reason::AppFile,
    Reason::Python,
    Reason::Node,
    Reason::Perl,
    Reason::Ruby,
    Reason::Jvm,
    Reason::Go,
    Reason::Glibc,
    Reason::Tls,
    Reason::DataSet,
    Reason::Package,
    Reason::PackageMetadata,
];

impl BuildReport {
    /// The closing lines on stderr.
    pub fn summary(&self) -> String {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{} {:.2}s", s.stage, s.ms as f64 / 1000.0))
            .collect();
        let mut text = format!(
            "rslim: {} {} → {} ({:.1}x smaller), {} files kept ({} paths)\n",
            crate::escape::text(&self.source_image),
            human_bytes(self.original_bytes),
            human_bytes(self.slim_bytes),
            self.reduction,
            self.files_kept,
            self.paths_kept
        );
        for output in &self.outputs {
            let id = match output.digest == output.image_id {
                true => short_id(&output.digest).to_string(),
                false => format!("manifest {}", output.digest),
            };
            text += &match output.kind.as_str() {
                "docker" => format!("rslim: wrote {} ({id})\n", output.location),
                kind => format!("rslim: wrote {kind}:{} ({id})\n", output.location),
            };
        }
        text += &format!(
            "rslim: time {:.2}s (rslim's own {:.2}s): {}\n",
            self.total_ms as f64 / 1000.0,
            self.overhead_ms as f64 / 1000.0,
            stages.join(", ")
        );
        let by_rule: Vec<String> = RULE_REASONS
            .iter()
            .filter_map(|reason| {
                let total = self.kept_by_reason.get(reason)?;
                let name = serde_json::to_value(reason).ok()?;
                Some(format!(
                    "{} {} ({} paths)",
                    name.as_str()?,
                    human_bytes(total.bytes),
                    total.paths
                ))
            })
            .collect();
        if !by_rule.is_empty() {
            text += &format!(
                "rslim: kept without being seen used: {}\n",
                by_rule.join(", ")
            );
        }
        text += &packages::summary_line(&self.packages, self.keep_mode).unwrap_or_default();
        if let Some(verification) = self.verification.as_ref().filter(|v| v.passed) {
            text += &verification.summary();
        }
        for note in &self.notes {
            // Notes quote file names and the sensor's words: shown escaped.
            text += &format!("rslim: note: {}\n", crate::escape::text(note));
        }
        text
    }
}

pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_paths_that_are_not_utf8_are_written_as_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let kept = |name: &[u8]| KeptPath {
            path: PathBuf::from(std::ffi::OsStr::from_bytes(name)),
            reason: Reason::Accessed,
            kind: "file",
            size: 1,
        };
        let plain = serde_json::to_value(kept(b"/srv/caf\xc3\xa9\x1b")).unwrap();
        assert_eq!(plain["path"], "/srv/caf\u{e9}\u{1b}");
        let latin1 = serde_json::to_value(kept(b"/a\xe9")).unwrap();
        assert_eq!(latin1["path"], serde_json::json!([47, 97, 233]));
    }

    #[test]
    fn formats_sizes_like_docker() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(270_400_000), "270.4 MB");
    }

    /// Every reason, by way of a match that stops compiling when one is added.
    fn every_reason() -> Vec<Reason> {
        let all = [
            Reason::Entrypoint,
            Reason::Accessed,
            Reason::Executed,
            Reason::Listed,
            Reason::ElfDependency,
            Reason::Interpreter,
            Reason::Symlink,
            Reason::Parent,
            Reason::Always,
            Reason::RuntimeDir,
            Reason::Include,
            Reason::Shell,
            Reason::LookedUp,
            Reason::AppFile,
            Reason::Python,
            Reason::Node,
            Reason::Jvm,
            Reason::Go,
            Reason::Glibc,
            Reason::Tls,
            Reason::DataSet,
            Reason::Perl,
            Reason::Ruby,
            Reason::Package,
            Reason::PackageMetadata,
        ];
        for reason in all {
            match reason {
                Reason::Entrypoint
                | Reason::Accessed
                | Reason::Executed
                | Reason::Listed
                | Reason::ElfDependency
                | Reason::Interpreter
                | Reason::Symlink
                | Reason::Parent
                | Reason::Always
                | Reason::RuntimeDir
                | Reason::Include
                | Reason::Shell
                | Reason::LookedUp
                | Reason::AppFile
                | Reason::Python
                | Reason::Node
                | Reason::Jvm
                | Reason::Go
                | Reason::Glibc
                | Reason::Tls
                | Reason::DataSet
                | Reason::Perl
                | Reason::Ruby
                | Reason::Package
                | Reason::PackageMetadata => {}
            }
        }
        all.to_vec()
    }

    fn schema_enum(schema: &serde_json::Value, pointer: &str) -> Vec<serde_json::Value> {
        schema
            .pointer(pointer)
            .and_then(|list| list.as_array())
            .unwrap_or_else(|| panic!("no enum at {pointer}"))
            .clone()
    }

    /// The JSON Schema lists every value these enums serialize to (the
    /// end-to-end tests validate real reports, which rarely hold them all).
    #[test]
    fn the_schema_lists_every_reason_and_exit_kind() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
        let reasons = schema_enum(&schema, "/$defs/reason/enum");
        let every = every_reason();
        assert_eq!(reasons.len(), every.len());
        for reason in every {
            let name = serde_json::to_value(reason).unwrap();
            assert!(reasons.contains(&name), "{name} is missing from the schema");
        }
        let codes = schema_enum(&schema, "/$defs/error/properties/exit_code/enum");
        let kinds = schema_enum(&schema, "/$defs/error/properties/kind/enum");
        assert_eq!(codes.len(), crate::error::ExitKind::ALL.len());
        assert_eq!(kinds.len(), crate::error::ExitKind::ALL.len());
        for kind in crate::error::ExitKind::ALL {
            assert!(codes.contains(&kind.code().into()), "{kind:?}");
            assert!(kinds.contains(&kind.name().into()), "{kind:?}");
        }
        assert_eq!(
            schema["$defs"]["report"]["properties"]["schema_version"]["const"],
            document::SCHEMA_VERSION
        );
    }

    #[test]
    fn shortens_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
