//! A Dockerfile reconstructed from the image history. The classic builder
//! records `/bin/sh -c #(nop) CMD ...` for metadata and `/bin/sh -c X` for
//! RUN; BuildKit records `RUN |2 A=1 B=2 /bin/sh -c X # buildkit` and
//! `COPY a b # buildkit`.

use crate::image::config::HistoryEntry;

const NOP_PREFIX: &str = "/bin/sh -c #(nop) ";
const SHELL_PREFIX: &str = "/bin/sh -c ";
const BUILDKIT_SUFFIX: &str = " # buildkit";

/// One history entry as a Dockerfile line.
pub fn instruction(entry: &HistoryEntry) -> String {
    let created_by = entry.created_by.as_deref().unwrap_or("").trim();
    if created_by.is_empty() {
        return match entry.comment.as_deref() {
            Some(comment) if !comment.is_empty() => format!("# {comment}"),
            _ => "# (no instruction recorded)".to_string(),
        };
    }
    let text = created_by
        .strip_suffix(BUILDKIT_SUFFIX.trim_start())
        .map(str::trim_end)
        .unwrap_or(created_by);
    if let Some(rest) = text.strip_prefix(NOP_PREFIX) {
        return rest.trim().to_string();
    }
    if let Some(rest) = text.strip_prefix(SHELL_PREFIX) {
        return format!("RUN {}", rest.trim());
    }
    if let Some(rest) = text.strip_prefix("RUN ") {
        return format!("RUN {}", strip_build_args(rest));
    }
    text.to_string()
}

/// `|2 A=1 B=2 /bin/sh -c X` → `X`; `/bin/sh -c X` → `X`; anything else as is.
fn strip_build_args(run: &str) -> String {
    let mut rest = run.trim_start();
    if let Some(counted) = rest.strip_prefix('|') {
        let (count, after) = counted.split_once(' ').unwrap_or((counted, ""));
        if let Ok(count) = count.parse::<usize>() {
            rest = after;
            for _ in 0..count {
                rest = rest.trim_start();
                rest = rest.split_once(' ').map_or("", |(_, tail)| tail);
            }
        }
    }
    let rest = rest.trim_start();
    rest.strip_prefix(SHELL_PREFIX)
        .unwrap_or(rest)
        .trim()
        .to_string()
}

pub fn reconstruct(history: &[HistoryEntry]) -> Vec<String> {
    history.iter().map(instruction).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(created_by: &str) -> HistoryEntry {
        HistoryEntry {
            created_by: Some(created_by.to_string()),
            ..HistoryEntry::default()
        }
    }

    #[test]
    fn classic_builder_forms() {
        assert_eq!(
            instruction(&from("/bin/sh -c #(nop)  CMD [\"bash\"]")),
            "CMD [\"bash\"]"
        );
        assert_eq!(
            instruction(&from("/bin/sh -c apt-get update && rm -rf /x")),
            "RUN apt-get update && rm -rf /x"
        );
        assert_eq!(
            instruction(&from("/bin/sh -c #(nop) COPY file:ab12 in /app ")),
            "COPY file:ab12 in /app"
        );
    }

    #[test]
    fn buildkit_forms() {
        assert_eq!(
            instruction(&from(
                "RUN |2 VERSION=1.2 DEBUG=0 /bin/sh -c make install # buildkit"
            )),
            "RUN make install"
        );
        assert_eq!(
            instruction(&from("RUN /bin/sh -c echo hi # buildkit")),
            "RUN echo hi"
        );
        assert_eq!(
            instruction(&from("COPY app /app # buildkit")),
            "COPY app /app"
        );
        assert_eq!(instruction(&from("WORKDIR /srv")), "WORKDIR /srv");
    }

    #[test]
    fn entries_without_instruction_become_comments() {
        let imported = HistoryEntry {
            comment: Some("Imported from -".to_string()),
            ..HistoryEntry::default()
        };
        assert_eq!(instruction(&imported), "# Imported from -");
        assert_eq!(
            instruction(&HistoryEntry::default()),
            "# (no instruction recorded)"
        );
    }
}
