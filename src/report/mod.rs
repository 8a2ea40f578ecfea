//! What a build did, for people (progress and a summary on stderr) and for
//! pipelines (`--report FILE`, JSON). Field names are part of the interface:
//! docs/report.md lists them.

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

/// Times the stages of a run and prints progress as each one starts.
#[derive(Debug)]
pub struct Stages {
    started: Instant,
    current: Option<(&'static str, Instant)>,
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
        eprintln!("rslim: [{stage}] {what}");
        self.current = Some((stage, Instant::now()));
    }

    pub fn end(&mut self) {
        if let Some((stage, since)) = self.current.take() {
            self.done.push(StageTime {
                stage,
                ms: since.elapsed().as_millis(),
            });
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
    pub path: PathBuf,
    pub reason: Reason,
    pub kind: &'static str,
    pub size: u64,
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
    /// Paths and bytes kept for each reason (a path counts for the first reason found).
    pub kept_by_reason: BTreeMap<Reason, ReasonTotal>,
    pub kept: Vec<KeptPath>,
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
            self.source_image,
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
        if let Some(verification) = self.verification.as_ref().filter(|v| v.passed) {
            text += &verification.summary();
        }
        for note in &self.notes {
            text += &format!("rslim: note: {note}\n");
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
    fn formats_sizes_like_docker() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(270_400_000), "270.4 MB");
    }

    #[test]
    fn shortens_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
