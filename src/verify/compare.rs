//! Comparing two answers to one step, and showing how they differ: the two
//! answers shortened, side by side.

use crate::probe::answer::Answer;

/// Width of each column of the side-by-side diff.
const COLUMN: usize = 48;

/// Equal for `--verify`: see [`Answer::comparable`].
pub fn same(fat: &Answer, slim: &Answer) -> bool {
    fat.comparable() == slim.comparable()
}

/// The lines describing one answer, short enough for a column.
pub fn lines(answer: &Answer) -> Vec<String> {
    match answer {
        Answer::Http {
            status,
            headers,
            body_sha256,
            body_bytes,
            body_start,
        } => {
            let mut lines = vec![
                format!("HTTP {status}"),
                format!(
                    "body {body_bytes} B sha256:{}",
                    &body_sha256[..12.min(body_sha256.len())]
                ),
                format!("{body_start:?}"),
            ];
            lines.extend(headers.iter().map(|(k, v)| format!("{k}: {v}")));
            lines
        }
        Answer::Command { exit, output } => {
            let mut lines = vec![format!("exit {exit}")];
            lines.extend(output.lines().map(str::to_string));
            lines
        }
        Answer::NoAnswer { error } => vec!["no answer".into(), error.clone()],
        Answer::Waited => vec!["waited".into()],
    }
}

/// Two columns, `fat | slim`, each line cut to the column width; lines
/// that are equal on both sides are marked with `=`, others with `≠`. The
/// answers are the apps' own bytes: shown escaped.
pub fn side_by_side(fat: &Answer, slim: &Answer, max_lines: usize) -> String {
    let (left, right) = (lines(fat), lines(slim));
    let rows = left.len().max(right.len()).min(max_lines);
    let mut text = format!("      {:<COLUMN$}   {}\n", "original", "slim");
    for row in 0..rows {
        let a = left.get(row).map_or("", String::as_str);
        let b = right.get(row).map_or("", String::as_str);
        let mark = if a == b { '=' } else { '≠' };
        let (a, b) = (crate::escape::text(a), crate::escape::text(b));
        text += &format!("      {:<COLUMN$} {mark} {}\n", cut(&a), cut(&b));
    }
    text
}

fn cut(text: &str) -> String {
    if text.chars().count() <= COLUMN {
        return text.to_string();
    }
    let mut short: String = text.chars().take(COLUMN - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn http(status: u16, sha: &str, start: &str) -> Answer {
        Answer::Http {
            status,
            headers: BTreeMap::from([("content-type".into(), "text/plain".into())]),
            body_sha256: sha.into(),
            body_bytes: start.len(),
            body_start: start.into(),
        }
    }

    #[test]
    fn only_compared_parts_count() {
        assert!(same(
            &http(200, "aa", "x"),
            &http(200, "aa", "different start")
        ));
        assert!(!same(&http(200, "aa", "x"), &http(200, "bb", "x")));
        assert!(!same(&http(200, "aa", "x"), &http(500, "aa", "x")));
        let exec = |exit, output: &str| Answer::Command {
            exit,
            output: output.into(),
        };
        assert!(same(&exec(0, "ok"), &exec(0, "ok")));
        assert!(!same(&exec(0, "ok"), &exec(1, "ok")));
    }

    #[test]
    fn the_apps_bytes_are_shown_escaped() {
        let fat = Answer::Command {
            exit: 0,
            output: "ok\x1b[2J\rrslim: forged\u{202e}".into(),
        };
        let slim = Answer::Command {
            exit: 1,
            output: "\x07".into(),
        };
        let diff = side_by_side(&fat, &slim, 10);
        assert!(
            !diff.chars().any(|c| c.is_control() && c != '\n') && !diff.contains('\u{202e}'),
            "{diff:?}"
        );
        assert!(
            diff.contains("ok\\x1b[2J\\rrslim: forged\\u{202e}"),
            "{diff}"
        );
        assert!(diff.contains("\\x07"), "{diff}");
    }

    #[test]
    fn shows_both_answers_side_by_side() {
        let fat = http(200, "0123456789abcdef", "fruit=apple,pear,plum total=15⏎");
        let slim = Answer::NoAnswer {
            error: "the connection closed without an answer".into(),
        };
        let diff = side_by_side(&fat, &slim, 10);
        let rows: Vec<&str> = diff.lines().collect();
        assert!(rows[0].trim_start().starts_with("original"), "{diff}");
        assert!(
            rows[1].contains("HTTP 200") && rows[1].contains("≠ no answer"),
            "{diff}"
        );
        let body = format!(
            "body {} B sha256:0123456789ab ",
            "fruit=apple,pear,plum total=15⏎".len()
        );
        assert!(rows[2].trim_start().starts_with(&body), "{diff}");
        assert!(
            rows[2].ends_with("the connection closed without an answer"),
            "{diff}"
        );
        let long = "y".repeat(200);
        assert!(cut(&long).ends_with('…') && cut(&long).chars().count() == COLUMN);
    }
}
