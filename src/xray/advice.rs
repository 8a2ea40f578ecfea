//! Advice in the terms of the Dockerfile: each item names the layer, its
//! instruction and the bytes at stake.

use std::collections::BTreeMap;

use super::findings;
use super::merge::Merged;
use super::model::{Advice, Duplicates, LayerReport, Leftover, Summary};
use super::render::human;

/// Below this, an item is noise next to a base image of tens of MB.
pub const MIN_ADVICE_BYTES: u64 = 1 << 20;
/// Waste above this share of the stored bytes earns the multi-stage hint.
const SQUASH_SHARE: f64 = 0.10;
/// A base layer above this share of the image earns the base-image hint.
const BASE_SHARE: f64 = 0.5;

pub fn advise(
    layers: &[LayerReport],
    merged: &Merged,
    leftovers: &[Leftover],
    duplicates: &Duplicates,
    summary: &Summary,
) -> Vec<Advice> {
    let mut advice = Vec::new();
    let named = |number: usize| match &layers[number - 1].instruction {
        Some(instruction) => format!("layer {number} (`{}`)", shorten(instruction)),
        None => format!("layer {number}"),
    };

    // Waste grouped by (hiding layer, storing layer, delete or overwrite).
    let mut hidden: BTreeMap<(usize, usize, bool), u64> = BTreeMap::new();
    for event in &merged.waste {
        *hidden
            .entry((event.hidden_by + 1, event.stored_in + 1, event.deleted))
            .or_default() += event.bytes;
    }
    for ((by, stored_in, deleted), bytes) in hidden {
        if bytes < MIN_ADVICE_BYTES {
            continue;
        }
        let (kind, message) = if by == stored_in {
            (
                "overwrite",
                format!(
                    "{} writes {} it then hides again: drop the first copy",
                    named(by),
                    human(bytes)
                ),
            )
        } else if deleted {
            (
                "delete-in-same-run",
                format!(
                    "{} deletes {} added by layer {stored_in}: do it in the same RUN",
                    named(by),
                    human(bytes)
                ),
            )
        } else {
            (
                "overwrite",
                format!(
                    "{} overwrites {} added by layer {stored_in}: write the final version once, in one layer",
                    named(by),
                    human(bytes)
                ),
            )
        };
        advice.push(Advice {
            kind: kind.to_string(),
            layer: Some(by),
            bytes,
            message,
        });
    }

    for leftover in leftovers {
        let Some(category) = findings::category(&leftover.category) else {
            continue;
        };
        for part in leftover
            .by_layer
            .iter()
            .filter(|p| p.bytes >= MIN_ADVICE_BYTES)
        {
            advice.push(Advice {
                kind: "leftover".to_string(),
                layer: Some(part.layer),
                bytes: part.bytes,
                message: format!(
                    "{} leaves {} of {}: {}",
                    named(part.layer),
                    human(part.bytes),
                    category.label,
                    category.fix
                ),
            });
        }
    }

    if duplicates.wasted_bytes >= MIN_ADVICE_BYTES {
        let example = &duplicates.groups[0];
        advice.push(Advice {
            kind: "duplicates".to_string(),
            layer: None,
            bytes: duplicates.wasted_bytes,
            message: format!(
                "{} groups of identical files store {} more than once (e.g. {}): keep one copy and hard-link or symlink the others",
                duplicates.groups.len(),
                human(duplicates.wasted_bytes),
                example.paths.join(", ")
            ),
        });
    }

    if summary.wasted_bytes >= MIN_ADVICE_BYTES
        && summary.wasted_bytes as f64 > SQUASH_SHARE * summary.stored_bytes as f64
    {
        advice.push(Advice {
            kind: "squash".to_string(),
            layer: None,
            bytes: summary.wasted_bytes,
            message: format!(
                "{} ({:.0}% of the image) is hidden by later layers: a multi-stage build copying only the result, or `docker build --squash`, drops it",
                human(summary.wasted_bytes),
                100.0 * summary.wasted_bytes as f64 / summary.stored_bytes as f64
            ),
        });
    }

    if let Some(base) = layers.first() {
        let share = base.content_bytes as f64 / summary.stored_bytes.max(1) as f64;
        if layers.len() > 1 && share > BASE_SHARE && base.content_bytes >= MIN_ADVICE_BYTES {
            advice.push(Advice {
                kind: "base-image".to_string(),
                layer: Some(1),
                bytes: base.content_bytes,
                message: format!(
                    "the base layer is {} ({:.0}% of the image): a smaller base (a -slim, distroless or static image) or `rslim build` cuts most of it",
                    human(base.content_bytes),
                    100.0 * share
                ),
            });
        }
    }
    advice
}

/// Instructions can be kilobytes long; advice quotes the start.
fn shorten(instruction: &str) -> String {
    const MAX: usize = 60;
    match instruction.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &instruction[..cut]),
        None => instruction.to_string(),
    }
}
