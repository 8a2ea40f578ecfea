//! One logical Dockerfile line → an [`Instruction`]: keyword, `--flags`,
//! arguments in exec (JSON) or shell form, and ONBUILD triggers.

use super::parse::{Heredoc, ParseError};
use super::text::Spanned;

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Instructions that take `--name=value` flags before their arguments.
const FLAGGED: &[&str] = &["ADD", "COPY", "FROM", "HEALTHCHECK", "RUN"];

/// Instructions whose arguments may be a JSON array.
const EXEC_CAPABLE: &[&str] = &["ADD", "CMD", "COPY", "ENTRYPOINT", "RUN", "SHELL", "VOLUME"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// `["executable", "arg"]`
    Exec(Vec<String>),
    /// Anything else: run through the shell (or plain arguments).
    Shell,
    /// Starts with `[` but is not a JSON array of strings, so Docker
    /// silently runs it through the shell.
    BrokenExec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Uppercase keyword, e.g. `RUN`.
    pub keyword: String,
    /// The line the instruction starts on.
    pub line: usize,
    pub flags: Vec<Flag>,
    /// The arguments after keyword and flags, leading space trimmed.
    pub args: Spanned,
    pub form: Form,
    pub heredocs: Vec<Heredoc>,
    /// For ONBUILD: the instruction it defers to child builds.
    pub trigger: Option<Box<Instruction>>,
}

impl Instruction {
    pub fn is(&self, keyword: &str) -> bool {
        self.keyword == keyword
    }

    /// The value of flag `--name`, `Some("")` for a bare `--name`.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|flag| flag.name == name)
            .map(|flag| flag.value.as_deref().unwrap_or(""))
    }

    /// All values of a repeatable flag such as `--mount`.
    pub fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags
            .iter()
            .filter(move |flag| flag.name == name)
            .filter_map(|flag| flag.value.as_deref())
    }

    /// Arguments as a list: the JSON array in exec form, whitespace-split
    /// words (quotes removed) otherwise.
    pub fn arg_list(&self) -> Vec<String> {
        match &self.form {
            Form::Exec(items) => items.clone(),
            _ => self
                .args
                .text
                .split_whitespace()
                .map(|word| word.trim_matches(|c| c == '"' || c == '\'').to_string())
                .collect(),
        }
    }

    /// Whether a `--mount=type=cache` keeps `path` out of the layer.
    pub fn caches(&self, path: &str) -> bool {
        self.flag_values("mount").any(|mount| {
            let mut is_cache = false;
            let mut target = "";
            for field in mount.split(',') {
                match field.split_once('=') {
                    Some(("type", kind)) => is_cache = kind == "cache",
                    Some(("target" | "dst" | "destination", value)) => target = value,
                    _ => {}
                }
            }
            is_cache && !target.is_empty() && path.starts_with(target.trim_end_matches('/'))
        })
    }
}

/// Parses one logical line (continuations already joined).
pub fn parse_instruction(logical: &Spanned) -> Result<Instruction, ParseError> {
    let text = &logical.text;
    let start = text.len() - text.trim_start().len();
    let line = logical.line_at(start);
    let keyword_end = text[start..]
        .find(char::is_whitespace)
        .map_or(text.len(), |end| start + end);
    let keyword = text[start..keyword_end].to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(ParseError::new(
            line,
            format!("unknown instruction {:?}", &text[start..keyword_end]),
        ));
    }
    let mut rest = skip_spaces(text, keyword_end);
    let mut flags = Vec::new();
    if FLAGGED.contains(&keyword.as_str()) {
        while text[rest..].starts_with("--") {
            let end = text[rest..]
                .find(char::is_whitespace)
                .map_or(text.len(), |end| rest + end);
            let body = &text[rest + 2..end];
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (body, None),
            };
            flags.push(Flag {
                name: name.to_string(),
                value,
                line: logical.line_at(rest),
            });
            rest = skip_spaces(text, end);
        }
    }
    let args = logical.tail(rest);
    if args.text.trim().is_empty() {
        return Err(ParseError::new(
            line,
            format!("{keyword} needs at least one argument"),
        ));
    }
    let trigger = if keyword == "ONBUILD" {
        let inner = parse_instruction(&args)?;
        if matches!(inner.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
            return Err(ParseError::new(
                line,
                format!("{} is not allowed as an ONBUILD trigger", inner.keyword),
            ));
        }
        Some(Box::new(inner))
    } else {
        None
    };
    let form = if EXEC_CAPABLE.contains(&keyword.as_str()) {
        exec_form(&args.text)
    } else {
        Form::Shell
    };
    Ok(Instruction {
        keyword,
        line,
        flags,
        args,
        form,
        heredocs: Vec::new(),
        trigger,
    })
}

fn skip_spaces(text: &str, from: usize) -> usize {
    from + (text[from..].len() - text[from..].trim_start().len())
}

fn exec_form(args: &str) -> Form {
    let trimmed = args.trim();
    if !trimmed.starts_with('[') {
        return Form::Shell;
    }
    match serde_json::from_str::<Vec<String>>(trimmed) {
        Ok(items) => Form::Exec(items),
        Err(_) => Form::BrokenExec,
    }
}
