//! `rslim xray`: why an image is fat, read from its layers without running it.
//!
//! [`scan`] streams each layer once (metadata only), [`merge`] replays the
//! layers over that metadata, [`analyze`] turns the result into an
//! [`model::Analysis`] without further I/O, [`render`] prints it.

pub mod advice;
pub mod analyze;
pub mod compare;
pub mod dockerfile;
pub mod findings;
pub mod merge;
pub mod model;
pub mod render;
pub mod scan;
pub mod source;
pub mod timings;

#[cfg(test)]
mod tests;

use crate::image::ImageArchive;

pub use analyze::{analyze, Options};
pub use compare::Comparison;
pub use model::Analysis;
pub use timings::Timings;

/// An analysed image, with what the comparison needs beyond the report.
pub struct Xray {
    pub analysis: Analysis,
    pub merged: merge::Merged,
    pub captured: compare::Captured,
    /// Stage times of this xray; `export` is left to the caller, who got the archive.
    pub timings: Timings,
}

/// Reads every layer of `archive` and analyses it. `source` names the image
/// in the report.
pub fn xray(archive: &ImageArchive, source: &str, options: &Options) -> anyhow::Result<Xray> {
    let mut timings = Timings::default();
    let mut clock = std::time::Instant::now();
    let scan = scan::scan_layers(archive)?;
    timings.scan = timings::lap(&mut clock);
    let merged = merge::Merged::apply(&scan.layers);
    timings.merge = timings::lap(&mut clock);
    let hashes = scan::hash_candidates(archive, &scan::duplicate_candidates(&merged))?;
    timings.hash = timings::lap(&mut clock);
    let analysis = analyze(
        source,
        &archive.config.history,
        &scan.layers,
        &merged,
        &hashes,
        options,
    );
    timings.analyze = timings::lap(&mut clock);
    Ok(Xray {
        analysis,
        merged,
        captured: scan.captured,
        timings,
    })
}
