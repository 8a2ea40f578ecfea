//! The pure step: from the layers' entry lists (already merged) and the
//! duplicate candidates' hashes to an [`Analysis`]. No I/O here, so every
//! figure can be tested on hand-made layers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::image::config::HistoryEntry;

use super::advice;
use super::dockerfile;
use super::findings;
use super::merge::{ratio, Merged, ScannedLayer};
use super::model::{Analysis, LayerReport, Summary, WastedPath};

pub struct Options {
    /// Length of the "largest" and "top wasted" lists.
    pub top: usize,
}

pub fn analyze(
    source: &str,
    history: &[HistoryEntry],
    layers: &[ScannedLayer],
    merged: &Merged,
    hashes: &HashMap<(usize, PathBuf), [u8; 32]>,
    options: &Options,
) -> Analysis {
    let instructions = layer_instructions(history, layers.len());
    let mut reports: Vec<LayerReport> = layers
        .iter()
        .zip(&merged.changes)
        .enumerate()
        .map(|(index, (layer, changes))| LayerReport {
            number: index + 1,
            tar_bytes: layer.tar_bytes,
            content_bytes: changes.content_bytes,
            instruction: instructions[index].clone(),
            added: changes.added,
            modified: changes.modified,
            deleted: changes.deleted,
            wasted_bytes: 0,
            hides_bytes: 0,
        })
        .collect();
    for event in &merged.waste {
        reports[event.stored_in].wasted_bytes += event.bytes;
        reports[event.hidden_by].hides_bytes += event.bytes;
    }

    let stored = merged.stored_bytes();
    let visible = merged.visible_bytes();
    let summary = Summary {
        layer_count: layers.len(),
        tar_bytes: layers.iter().map(|l| l.tar_bytes).sum(),
        stored_bytes: stored,
        visible_bytes: visible,
        wasted_bytes: merged.wasted_bytes(),
        efficiency: ratio(visible, stored),
        dive_efficiency: merged.dive_efficiency(),
        visible_files: merged.view.values().filter(|v| v.copy.is_some()).count(),
    };
    let leftovers = findings::leftovers(merged);
    let duplicates = findings::duplicates(merged, hashes);
    let advice = advice::advise(&reports, merged, &leftovers, &duplicates, &summary);
    Analysis {
        source: source.to_string(),
        summary,
        layers: reports,
        dockerfile: dockerfile::reconstruct(history),
        top_wasted_paths: top_wasted_paths(merged, options.top),
        largest_files: findings::largest_files(merged, options.top),
        largest_dirs: findings::largest_dirs(merged, options.top),
        leftovers,
        security: findings::security(merged),
        duplicates,
        advice,
    }
}

/// The instruction of each layer: history entries that are not
/// `empty_layer` belong to the layers in order. When the counts disagree
/// (hand-made images) no layer gets one rather than a wrong one.
fn layer_instructions(history: &[HistoryEntry], layer_count: usize) -> Vec<Option<String>> {
    let creating: Vec<&HistoryEntry> = history.iter().filter(|h| !h.empty_layer).collect();
    if creating.len() != layer_count {
        return vec![None; layer_count];
    }
    creating
        .into_iter()
        .map(|h| Some(dockerfile::instruction(h)))
        .collect()
}

fn top_wasted_paths(merged: &Merged, top: usize) -> Vec<WastedPath> {
    let mut by_path: BTreeMap<&PathBuf, (u64, Vec<usize>)> = BTreeMap::new();
    for event in &merged.waste {
        let entry = by_path.entry(&event.path).or_default();
        entry.0 += event.bytes;
        entry.1.push(event.stored_in + 1);
    }
    let mut paths: Vec<WastedPath> = by_path
        .into_iter()
        .map(|(path, (bytes, mut layers))| {
            layers.sort_unstable();
            layers.dedup();
            WastedPath {
                path: path.display().to_string(),
                bytes,
                layers,
            }
        })
        .collect();
    paths.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    paths.truncate(top);
    paths
}
