//! Dockerfile text → instructions, keeping the physical line numbers.
//!
//! Follows the BuildKit frontend: parser directives only before anything
//! else, the escape character ends a line to continue it, comment and blank
//! lines inside a continuation are dropped, heredocs follow RUN/COPY/ADD.

use thiserror::Error;

use super::instruction::{parse_instruction, Instruction};
use super::text::Spanned;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// The `# key=value` lines allowed at the very top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Instruction>,
}

/// A heredoc body (`<<EOF ... EOF`) attached to the instruction naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub delimiter: String,
    /// `<<-EOF`: leading tabs are stripped from the body and the end line.
    pub strip_tabs: bool,
    /// `<<'EOF'` or `<<"EOF"`: no expansion inside the body.
    pub quoted: bool,
    /// The body lines, each ending in a newline.
    pub body: Spanned,
    pub line: usize,
}

pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = source
        .lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let (directives, mut next) = parse_directives(&lines)?;
    let escape = directives.escape;
    let mut instructions = Vec::new();
    while next < lines.len() {
        if is_blank_or_comment(lines[next]) {
            next += 1;
            continue;
        }
        let (logical, after) = join_continuation(&lines, next, escape);
        let mut instruction = parse_instruction(&logical)?;
        next = after;
        if matches!(instruction.keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for marker in heredoc_markers(&instruction.args.text) {
                let (heredoc, after) = read_heredoc(&lines, next, marker, logical.first_line())?;
                instruction.heredocs.push(heredoc);
                next = after;
            }
        }
        instructions.push(instruction);
    }
    Ok(Dockerfile {
        directives,
        instructions,
    })
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// Reads the leading directives; returns them and the index of the first other line.
fn parse_directives(lines: &[&str]) -> Result<(Directives, usize), ParseError> {
    let mut directives = Directives {
        escape: '\\',
        syntax: None,
        check: None,
    };
    let mut index = 0;
    while let Some((key, value)) = lines.get(index).and_then(|line| directive(line)) {
        let line = index + 1;
        match key.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError::new(
                            line,
                            format!("invalid escape character {other:?}: use \\ or `"),
                        ))
                    }
                }
            }
            "syntax" => directives.syntax = Some(value),
            "check" => directives.check = Some(value),
            // Unknown directives are comments for BuildKit too.
            _ => {}
        }
        index += 1;
    }
    Ok((directives, index))
}

/// `# key=value` → (lowercase key, value).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

/// Joins the instruction starting at `start` with its continuation lines.
/// Returns the logical line and the index of the line after it.
fn join_continuation(lines: &[&str], start: usize, escape: char) -> (Spanned, usize) {
    let mut logical = Spanned::default();
    let mut index = start;
    while index < lines.len() {
        let line = lines[index];
        index += 1;
        match line.trim_end().strip_suffix(escape) {
            Some(continued) => {
                logical.push(continued, index);
                while index < lines.len() && is_blank_or_comment(lines[index]) {
                    index += 1;
                }
            }
            None => {
                logical.push(line, index);
                break;
            }
        }
    }
    (logical, index)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HeredocMarker {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
}

/// Finds `<<EOF`, `<<-EOF`, `<<"EOF"` markers outside quotes, in order.
fn heredoc_markers(args: &str) -> Vec<HeredocMarker> {
    let chars: Vec<char> = args.chars().collect();
    let mut markers = Vec::new();
    let mut quote: Option<char> = None;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '<'
                && chars.get(index + 1) == Some(&'<')
                && chars.get(index + 2) != Some(&'<') =>
            {
                if let Some((marker, end)) = marker_at(&chars, index + 2) {
                    markers.push(marker);
                    index = end;
                    continue;
                }
            }
            None => {}
        }
        index += 1;
    }
    markers
}

/// Parses the part after `<<`; returns the marker and the index after it.
fn marker_at(chars: &[char], mut index: usize) -> Option<(HeredocMarker, usize)> {
    let strip_tabs = chars.get(index) == Some(&'-');
    if strip_tabs {
        index += 1;
    }
    let opening = chars.get(index).copied();
    let quoted = matches!(opening, Some('\'' | '"'));
    let mut delimiter = String::new();
    if quoted {
        index += 1;
        while index < chars.len() && Some(chars[index]) != opening {
            delimiter.push(chars[index]);
            index += 1;
        }
        index += 1;
    } else {
        while index < chars.len() && (chars[index].is_ascii_alphanumeric() || chars[index] == '_') {
            delimiter.push(chars[index]);
            index += 1;
        }
    }
    if delimiter.is_empty() {
        return None;
    }
    Some((
        HeredocMarker {
            delimiter,
            strip_tabs,
            quoted,
        },
        index,
    ))
}

fn read_heredoc(
    lines: &[&str],
    start: usize,
    marker: HeredocMarker,
    instruction_line: usize,
) -> Result<(Heredoc, usize), ParseError> {
    let mut body = Spanned::default();
    for (index, line) in lines.iter().enumerate().skip(start) {
        let content = if marker.strip_tabs {
            line.trim_start_matches('\t')
        } else {
            line
        };
        if content == marker.delimiter {
            let heredoc = Heredoc {
                delimiter: marker.delimiter,
                strip_tabs: marker.strip_tabs,
                quoted: marker.quoted,
                body,
                line: start + 1,
            };
            return Ok((heredoc, index + 1));
        }
        body.push(&format!("{content}\n"), index + 1);
    }
    Err(ParseError::new(
        instruction_line,
        format!(
            "heredoc <<{} is never closed: end it with a line holding only {}",
            marker.delimiter, marker.delimiter
        ),
    ))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
