//! The one way text from an image or the sensor (file names, app output,
//! history lines, sensor messages) is shown to people.
//!
//! A file name can hold anything but `/` and NUL: an ESC sequence that
//! recolours the terminal or moves the cursor, a carriage return that
//! overwrites the line, a newline that forges one more `rslim:` line, a
//! right-to-left override that reverses what follows, bytes that are not
//! UTF-8. Human-readable output shows such characters as escapes: `\n`,
//! `\r`, `\t`, `\xNN` for other ASCII control characters and for bytes that
//! are not UTF-8, `\u{NNNN}` for C1 controls and bidirectional formatting
//! characters. Everything else, other Unicode included, is shown as it is.
//!
//! A backslash itself is not escaped, so escaping twice changes nothing:
//! a value escaped where it is formatted and again where the line is
//! printed reads the same. The JSON documents (`--json`, `--report`) hold
//! the exact values; JSON has its own escaping.

use std::borrow::Cow;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `text` with every control and bidirectional formatting character escaped,
/// newlines included: for one line, or one cell of a table.
pub fn text(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Like [`text`], but newlines stay: for a message of several lines whose
/// line breaks are rslim's own (an error with the app's last log lines).
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// Bytes that should be text: UTF-8 runs as [`text`] shows them, every
/// byte that is not UTF-8 as `\xNN`.
pub fn bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(valid) = std::str::from_utf8(bytes) {
        return text(valid);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&text(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// A path of the image, as [`bytes`] shows it.
pub fn path(path: &Path) -> Cow<'_, str> {
    bytes(path.as_os_str().as_bytes())
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let shown = |c: char| !needs_escape(c) || (keep_newlines && c == '\n');
    if text.chars().all(shown) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if shown(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Control characters (C0, DEL, C1), and the characters that reorder or
/// break the text around them.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        for plain in ["/usr/bin/env", "café ☕ 日本", "a\\nb", ""] {
            assert!(matches!(text(plain), Cow::Borrowed(p) if p == plain));
        }
    }

    #[test]
    fn control_and_reordering_characters_are_escaped() {
        assert_eq!(
            text("/srv/\x1b[31mred\x1b[0m\n"),
            "/srv/\\x1b[31mred\\x1b[0m\\n"
        );
        assert_eq!(text("a\rb\tc\x7fd\0"), "a\\rb\\tc\\x7fd\\x00");
        assert_eq!(text("x\u{9b}2J"), "x\\u{9b}2J");
        assert_eq!(text("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(text("line\u{2028}break"), "line\\u{2028}break");
    }

    #[test]
    fn lines_keep_their_breaks_and_nothing_else() {
        assert_eq!(
            lines("first\nsecond\x1b]0;title\x07"),
            "first\nsecond\\x1b]0;title\\x07"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_as_hex() {
        assert_eq!(bytes(b"/srv/caf\xe9.txt"), "/srv/caf\\xe9.txt");
        assert_eq!(bytes(b"\xff\xfe\n\xc3\xa9"), "\\xff\\xfe\\né");
        let name = OsStr::from_bytes(b"/data/\x1b[2J\x80");
        assert_eq!(path(Path::new(name)), "/data/\\x1b[2J\\x80");
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        for raw in ["a\x1bb\nc\u{202e}", "\\x1b", "plain"] {
            let once = text(raw).into_owned();
            assert_eq!(text(&once), once);
            assert_eq!(lines(&once), once);
        }
    }
}
