//! Where an xray's time goes, stage by stage, for `--timings` and the bench.

use std::time::Instant;

use serde::Serialize;

/// Milliseconds per stage. Wall-clock, so they vary from run to run and are
/// only in the output when asked for.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Timings {
    /// Getting the archive: `docker save` spooled to a temp file, then
    /// indexed (only the indexing with `--archive`).
    pub export: u64,
    /// The metadata pass over every layer.
    pub scan: u64,
    /// Replaying the layers over the metadata.
    pub merge: u64,
    /// Duplicate detection: prefix hashes, then full hashes where those collide.
    pub hash: u64,
    /// Findings, advice and the report model.
    pub analyze: u64,
}

impl Timings {
    pub fn total(&self) -> u64 {
        self.export + self.scan + self.merge + self.hash + self.analyze
    }
}

/// Milliseconds since `started`, restarting it: one call per finished stage.
pub fn lap(started: &mut Instant) -> u64 {
    let now = Instant::now();
    let elapsed = now.duration_since(*started).as_millis() as u64;
    *started = now;
    elapsed
}
