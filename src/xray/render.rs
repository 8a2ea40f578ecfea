//! Plain aligned text for a terminal. JSON is the model serialised as is.
//! Everything that comes from the image (paths, history lines, package
//! names) is shown through [`escape`]: no control sequence reaches the
//! terminal and a name with a newline stays on its row.

use std::fmt::Write;

use crate::escape;

use super::compare::Comparison;
use super::model::{Analysis, FileSize};
use super::timings::Timings;

/// Decimal units, as `docker images` prints them: `12.3 MB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Rows of cells, left-aligned except the columns in `right`.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], right: &[usize]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| escape::text(cell).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            let last = i + 1 == cells.len();
            if right.contains(&i) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if !last {
                    text.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                text.push_str("  ");
            }
        }
        text
    };
    let _ = writeln!(out, "  {}", line(header.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "  {}", line(row.iter().map(String::as_str).collect()));
    }
}

fn sizes(out: &mut String, title: &str, list: &[FileSize]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            vec![
                human(f.bytes),
                f.layer.map(|l| l.to_string()).unwrap_or_default(),
                f.path.clone(),
            ]
        })
        .collect();
    table(out, &["SIZE", "LAYER", "PATH"], &rows, &[0, 1]);
}

pub fn analysis(a: &Analysis) -> String {
    let mut out = String::new();
    let s = &a.summary;
    let _ = writeln!(out, "Image: {}", escape::text(&a.source));
    let _ = writeln!(
        out,
        "  {} layers, {} stored ({} as tar), {} visible in {} files",
        s.layer_count,
        human(s.stored_bytes),
        human(s.tar_bytes),
        human(s.visible_bytes),
        s.visible_files
    );
    let _ = writeln!(
        out,
        "  wasted {} ; efficiency {:.2}% (dive's formula would give {:.2}%)",
        human(s.wasted_bytes),
        100.0 * s.efficiency,
        100.0 * s.dive_efficiency
    );

    let _ = writeln!(out, "\nLayers");
    let rows: Vec<Vec<String>> = a
        .layers
        .iter()
        .map(|l| {
            let count = |c: &super::model::ChangeCount| format!("{} / {}", c.files, human(c.bytes));
            vec![
                l.number.to_string(),
                human(l.content_bytes),
                count(&l.added),
                count(&l.modified),
                count(&l.deleted),
                human(l.wasted_bytes),
                l.instruction
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(70)
                    .collect(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "#",
            "SIZE",
            "ADDED",
            "MODIFIED",
            "DELETED",
            "WASTED",
            "INSTRUCTION",
        ],
        &rows,
        &[0, 1, 2, 3, 4, 5],
    );

    if !a.top_wasted_paths.is_empty() {
        let _ = writeln!(out, "\nWasted (hidden by a later layer)");
        let rows: Vec<Vec<String>> = a
            .top_wasted_paths
            .iter()
            .map(|w| {
                let layers: Vec<String> = w.layers.iter().map(usize::to_string).collect();
                vec![human(w.bytes), layers.join(","), w.path.clone()]
            })
            .collect();
        table(&mut out, &["SIZE", "LAYERS", "PATH"], &rows, &[0]);
    }
    sizes(&mut out, "Largest files", &a.largest_files);
    sizes(&mut out, "Largest directories", &a.largest_dirs);

    if !a.leftovers.is_empty() {
        let _ = writeln!(out, "\nPackage-manager leftovers");
        let rows: Vec<Vec<String>> = a
            .leftovers
            .iter()
            .map(|l| vec![human(l.bytes), l.files.to_string(), l.category.clone()])
            .collect();
        table(&mut out, &["SIZE", "FILES", "CATEGORY"], &rows, &[0, 1]);
    }

    let sec = &a.security;
    let _ = writeln!(out, "\nSecurity-relevant files");
    for (label, list) in [
        ("shells", &sec.shells),
        ("setuid", &sec.setuid),
        ("setgid", &sec.setgid),
        ("world-writable", &sec.world_writable),
    ] {
        let _ = writeln!(out, "  {label:<15} {}", summarise(list));
    }

    if !a.duplicates.groups.is_empty() {
        let _ = writeln!(
            out,
            "\nDuplicates: {} groups, {} stored more than once",
            a.duplicates.groups.len(),
            human(a.duplicates.wasted_bytes)
        );
        for group in a.duplicates.groups.iter().take(5) {
            let _ = writeln!(
                out,
                "  {} x{}: {}",
                human(group.size),
                group.paths.len(),
                shown(&group.paths).join(", ")
            );
        }
    }

    let _ = writeln!(out, "\nDockerfile (from the history)");
    for line in &a.dockerfile {
        let _ = writeln!(out, "  {}", escape::text(line));
    }

    if !a.advice.is_empty() {
        let _ = writeln!(out, "\nAdvice");
        for item in &a.advice {
            let _ = writeln!(out, "  - {}", escape::text(&item.message));
        }
    }
    out
}

fn summarise(list: &[String]) -> String {
    const SHOWN: usize = 6;
    match list.len() {
        0 => "none".to_string(),
        n if n <= SHOWN => shown(list).join(" "),
        n => format!("{} … ({n} in all)", shown(&list[..SHOWN]).join(" ")),
    }
}

fn shown(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|item| escape::text(item).into_owned())
        .collect()
}

pub fn comparison(c: &Comparison, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nCompared with {}: {} → {} ({} removed)",
        escape::text(&c.slim),
        human(c.before_bytes),
        human(c.after_bytes),
        human(c.removed_bytes)
    );
    let rows: Vec<Vec<String>> = c
        .directories
        .iter()
        .take(top)
        .map(|d| {
            vec![
                human(d.before_bytes),
                human(d.after_bytes),
                human(d.removed_bytes),
                d.path.clone(),
            ]
        })
        .collect();
    table(
        &mut out,
        &["BEFORE", "AFTER", "REMOVED", "DIRECTORY"],
        &rows,
        &[0, 1, 2],
    );
    if !c.packages.is_empty() {
        let _ = writeln!(out);
        let rows: Vec<Vec<String>> = c
            .packages
            .iter()
            .take(top)
            .map(|p| {
                vec![
                    human(p.removed_bytes),
                    format!("{}/{}", p.files_after, p.files_before),
                    p.status.clone(),
                    p.name.clone(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["REMOVED", "FILES KEPT", "STATUS", "PACKAGE"],
            &rows,
            &[0, 1],
        );
    }
    out
}

pub fn timings(t: &Timings) -> String {
    format!(
        "\nTime: {} ms (export {}, scan {}, merge {}, hash {}, analyze {})\n",
        t.total(),
        t.export,
        t.scan,
        t.merge,
        t.hash,
        t.analyze
    )
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes_are_decimal_like_docker() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(12_345_678), "12.3 MB");
        assert_eq!(human(20_971_520), "21.0 MB");
        assert_eq!(human(999_960), "1.0 MB");
        assert_eq!(human(1_500_000_000), "1.5 GB");
    }
}
