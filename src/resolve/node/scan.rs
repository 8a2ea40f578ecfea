//! The module specifiers a JavaScript file names, found by tokenizing it:
//! comments, strings, template literals (with nested `${…}`) and regular
//! expressions are read as what they are, so `"require('nope')"` in a string
//! or comment does not count. The tokens are then matched against the forms
//! that load modules: `require('x')`, `require.resolve('x')`,
//! `module.require('x')`, `import … from 'x'`, `import 'x'`, `import('x')`,
//! `import.meta.resolve('x')`, `export … from 'x'`.
//!
//! Limits, all rare in code Node runs: a `/` is taken for a regular
//! expression or a division by the token before it, so `if (x) /re/.test(y)`
//! reads as a division, and `{} / 2` as a regular expression; JSX and
//! HTML-like comments (`<!--`) are not understood. Only literal specifiers
//! count: `require(dir + '/x')`, `` require(`./${name}`) `` and
//! `require(c ? 'a' : 'b')` name nothing here.
//!
//! The tokenizer errs on the side of little damage: a quoted string or a
//! regular expression ends at the end of its line (JavaScript allows neither
//! to span lines unescaped), so a misread `'` or `/` swallows one line, not
//! the rest of the file.

use std::collections::HashSet;

/// One significant token. Only what the specifier patterns and the regex
/// heuristic look at is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// An identifier or keyword.
    Word(&'a [u8]),
    /// A string literal, or a template literal with no `${…}`, decoded.
    Text(String),
    /// The start of a `${…}` in a template literal: the template's value is not known.
    Substitution,
    Punct(u8),
    /// A number, a regular expression, or the end of a template with substitutions.
    Value,
}

/// Words after which a `/` starts a regular expression, not a division.
const KEYWORDS_BEFORE_EXPRESSION: &[&[u8]] = &[
    b"return",
    b"typeof",
    b"instanceof",
    b"in",
    b"of",
    b"new",
    b"delete",
    b"void",
    b"throw",
    b"case",
    b"do",
    b"else",
    b"yield",
    b"await",
];

/// The specifiers in `source`, in order of appearance, duplicates removed.
pub fn specifiers(source: &[u8]) -> Vec<String> {
    let tokens = Lexer::new(source).run();
    let mut seen = HashSet::new();
    (0..tokens.len())
        .filter_map(|index| specifier_at(&tokens, index))
        .filter(|specifier| seen.insert(specifier.clone()))
        .collect()
}

/// Whether `head` (the start of a file) is a `#!` line that runs node.
pub fn is_node_shebang(head: &[u8]) -> bool {
    let Some(line) = head.strip_prefix(b"#!") else {
        return false;
    };
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    line.split(|b| b.is_ascii_whitespace()).any(|word| {
        let program = word.rsplit(|&b| b == b'/').next().unwrap_or(word);
        program == b"node" || program == b"nodejs"
    })
}

/// The specifier a pattern starting at `tokens[index]` names, if any.
fn specifier_at(tokens: &[Token], index: usize) -> Option<String> {
    let Token::Word(word) = tokens[index] else {
        return None;
    };
    let at = |offset: usize| tokens.get(index + offset);
    let after_dot = index > 0 && tokens[index - 1] == Token::Punct(b'.');
    match word {
        b"require" => {
            // `module.require('x')` loads like `require`; `other.require` is someone else's.
            if after_dot && (index < 2 || tokens[index - 2] != Token::Word(b"module")) {
                return None;
            }
            if at(1) == Some(&Token::Punct(b'.')) && at(2) == Some(&Token::Word(b"resolve")) {
                call_argument(tokens, index + 3)
            } else {
                call_argument(tokens, index + 1)
            }
        }
        b"import" if !after_dot => match at(1)? {
            Token::Punct(b'(') => call_argument(tokens, index + 1),
            Token::Text(text) => Some(text.clone()),
            // `import.meta.resolve('x')`
            Token::Punct(b'.') => {
                let meta_resolve = at(2) == Some(&Token::Word(b"meta"))
                    && at(3) == Some(&Token::Punct(b'.'))
                    && at(4) == Some(&Token::Word(b"resolve"));
                meta_resolve.then(|| call_argument(tokens, index + 5))?
            }
            _ => from_clause(tokens, index + 1),
        },
        b"export" if !after_dot => match at(1)? {
            Token::Punct(b'*' | b'{') => from_clause(tokens, index + 1),
            _ => None,
        },
        _ => None,
    }
}

/// `( 'x' )` or `( 'x' , …` starting at `tokens[open]`; the string may
/// sit in parentheses of its own (`require(/** @type */ ('x'))`).
fn call_argument(tokens: &[Token], open: usize) -> Option<String> {
    let rest = tokens.get(open..)?;
    let opened = rest
        .iter()
        .take_while(|t| **t == Token::Punct(b'('))
        .count();
    let Some(Token::Text(text)) = rest.get(opened).filter(|_| opened > 0) else {
        return None;
    };
    // One `)` per wrapping parenthesis, then the call's own `)` or `,`.
    let (last, wrappers) = rest.get(opened + 1..opened + 1 + opened)?.split_last()?;
    let closed = wrappers.iter().all(|t| *t == Token::Punct(b')'))
        && matches!(last, Token::Punct(b')' | b','));
    closed.then(|| text.clone())
}

/// The `'x'` of `… from 'x'` after `import`/`export`, when the tokens up to
/// `from` can be an import clause (`a`, `{ a as b, c }`, `* as n`).
fn from_clause(tokens: &[Token], start: usize) -> Option<String> {
    let mut depth = 0usize;
    for (offset, token) in tokens.get(start..)?.iter().enumerate() {
        match token {
            Token::Word(b"from") => {
                if let Some(Token::Text(text)) = tokens.get(start + offset + 1) {
                    return Some(text.clone());
                }
            }
            Token::Word(_) | Token::Punct(b',' | b'*') => {}
            Token::Punct(b'{') => depth += 1,
            Token::Punct(b'}') if depth > 0 => depth -= 1,
            // `import { "a-b" as ab } from 'x'`: string names only inside braces.
            Token::Text(_) if depth > 0 => {}
            _ => return None,
        }
    }
    None
}

struct Lexer<'a> {
    source: &'a [u8],
    position: usize,
    tokens: Vec<Token<'a>>,
    /// One entry per open `{` or `${`: true when it opened a template substitution.
    braces: Vec<bool>,
}

impl<'a> Lexer<'a> {
    fn new(source: &'a [u8]) -> Self {
        Lexer {
            source,
            position: 0,
            tokens: Vec::new(),
            braces: Vec::new(),
        }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.source.get(self.position + offset).copied()
    }

    fn run(mut self) -> Vec<Token<'a>> {
        if self.source.starts_with(b"#!") {
            self.skip_line();
        }
        while let Some(byte) = self.peek(0) {
            match byte {
                // Control bytes too: they cannot start a token.
                0..=b' ' => self.position += 1,
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
                b'/' => {
                    if self.regex_allowed() && self.skip_regex() {
                        self.tokens.push(Token::Value);
                    } else {
                        self.position += 1;
                        self.tokens.push(Token::Punct(b'/'));
                    }
                }
                b'\'' | b'"' => self.string(byte),
                b'`' => {
                    self.position += 1;
                    self.template(false);
                }
                b'{' => {
                    self.position += 1;
                    self.braces.push(false);
                    self.tokens.push(Token::Punct(b'{'));
                }
                b'}' => {
                    self.position += 1;
                    if self.braces.pop() == Some(true) {
                        self.template(true);
                    } else {
                        self.tokens.push(Token::Punct(b'}'));
                    }
                }
                b'0'..=b'9' => self.number(),
                b'.' if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => self.number(),
                _ if is_word_start(byte) => self.word(),
                _ => {
                    self.position += 1;
                    self.tokens.push(Token::Punct(byte));
                }
            }
        }
        self.tokens
    }

    /// The usual heuristic: a `/` after something that ends a value divides,
    /// anywhere else it starts a regular expression. `}` ends a block more
    /// often than an object literal that is then divided.
    fn regex_allowed(&self) -> bool {
        match self.tokens.last() {
            None | Some(Token::Substitution) => true,
            Some(Token::Punct(b')' | b']')) => false,
            Some(Token::Punct(_)) => true,
            Some(Token::Word(word)) => KEYWORDS_BEFORE_EXPRESSION.contains(word),
            Some(Token::Text(_) | Token::Value) => false,
        }
    }

    fn skip_line(&mut self) {
        while let Some(byte) = self.peek(0) {
            if byte == b'\n' {
                break;
            }
            self.position += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        let rest = &self.source[self.position + 2..];
        self.position += 2 + rest
            .windows(2)
            .position(|pair| pair == b"*/")
            .map_or(rest.len(), |end| end + 2);
    }

    /// Skips `/…/flags` when it is a regular expression on one line; leaves
    /// the position alone and returns false otherwise.
    fn skip_regex(&mut self) -> bool {
        let mut index = self.position + 1;
        let mut in_class = false;
        loop {
            match self.source.get(index) {
                None | Some(b'\n' | b'\r') => return false,
                Some(b'\\') => {
                    if matches!(self.source.get(index + 1), None | Some(b'\n' | b'\r')) {
                        return false;
                    }
                    index += 2;
                    continue;
                }
                Some(b'[') => in_class = true,
                Some(b']') => in_class = false,
                Some(b'/') if !in_class => break,
                Some(_) => {}
            }
            index += 1;
        }
        index += 1;
        while self.source.get(index).is_some_and(|&b| is_word_part(b)) {
            index += 1;
        }
        self.position = index;
        true
    }

    fn string(&mut self, quote: u8) {
        self.position += 1;
        let mut text = Vec::new();
        while let Some(byte) = self.peek(0) {
            match byte {
                b'\\' => self.escape(&mut text),
                b'\n' | b'\r' => break,
                _ if byte == quote => {
                    self.position += 1;
                    self.tokens
                        .push(Token::Text(String::from_utf8_lossy(&text).into_owned()));
                    return;
                }
                _ => {
                    text.push(byte);
                    self.position += 1;
                }
            }
        }
        // Unterminated: a value of unknown content.
        self.tokens.push(Token::Value);
    }

    /// Reads template text up to its closing backtick or the next `${`.
    /// `resumed` is true after a substitution's `}`.
    fn template(&mut self, resumed: bool) {
        let mut text = Vec::new();
        while let Some(byte) = self.peek(0) {
            match byte {
                b'\\' => self.escape(&mut text),
                b'`' => {
                    self.position += 1;
                    self.tokens.push(if resumed {
                        Token::Value
                    } else {
                        Token::Text(String::from_utf8_lossy(&text).into_owned())
                    });
                    return;
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.position += 2;
                    self.braces.push(true);
                    self.tokens.push(Token::Substitution);
                    return;
                }
                _ => {
                    text.push(byte);
                    self.position += 1;
                }
            }
        }
        self.tokens.push(Token::Value);
    }

    /// Decodes the escape sequence at the position (a backslash) into `text`.
    fn escape(&mut self, text: &mut Vec<u8>) {
        self.position += 1;
        let Some(byte) = self.peek(0) else {
            return;
        };
        self.position += 1;
        match byte {
            b'n' => text.push(b'\n'),
            b't' => text.push(b'\t'),
            b'r' => text.push(b'\r'),
            b'b' => text.push(0x08),
            b'f' => text.push(0x0c),
            b'v' => text.push(0x0b),
            b'0' => text.push(0),
            // A line continuation adds nothing.
            b'\r' if self.peek(0) == Some(b'\n') => self.position += 1,
            b'\r' | b'\n' => {}
            b'x' => self.hex_escape(text, 2),
            b'u' if self.peek(0) == Some(b'{') => {
                let rest = &self.source[self.position + 1..];
                if let Some(count) = rest.iter().position(|&b| b == b'}').filter(|&n| n <= 6) {
                    self.position += 1;
                    self.hex_escape(text, count);
                    self.position += 1;
                }
            }
            b'u' => self.hex_escape(text, 4),
            other => text.push(other),
        }
    }

    /// `count` hex digits at the position, pushed as the UTF-8 of that code
    /// point; malformed digits are left in the text as they are.
    fn hex_escape(&mut self, text: &mut Vec<u8>, count: usize) {
        let digits = self
            .source
            .get(self.position..self.position + count)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, 16).ok());
        let Some(code) = digits else {
            return;
        };
        self.position += count;
        let decoded = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        text.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
    }

    fn number(&mut self) {
        let start = self.position;
        while let Some(byte) = self.peek(0) {
            let exponent_sign = matches!(byte, b'+' | b'-')
                && matches!(self.source[self.position - 1], b'e' | b'E')
                && !matches!(self.source.get(start + 1), Some(b'x' | b'X'));
            if is_word_part(byte) || byte == b'.' || exponent_sign {
                self.position += 1;
            } else {
                break;
            }
        }
        self.tokens.push(Token::Value);
    }

    fn word(&mut self) {
        let start = self.position;
        while self.peek(0).is_some_and(is_word_part) {
            self.position += 1;
        }
        self.tokens
            .push(Token::Word(&self.source[start..self.position]));
    }
}

/// Identifier characters; any non-ASCII byte counts, which keeps non-ASCII
/// identifiers (and stray non-UTF-8 bytes) in one word.
fn is_word_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte == b'$' || byte >= 0x80
}

fn is_word_part(byte: u8) -> bool {
    is_word_start(byte) || byte.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> Vec<String> {
        specifiers(source.as_bytes())
    }

    #[test]
    fn every_syntax_form_is_found() {
        let source = r#"
            const a = require('single');
            const b = require("double");
            const c = require(`template`);
            const d = require.resolve('resolved');
            import x from 'default-import';
            import {p, q as r} from "named-import";
            import * as ns from 'namespace-import';
            import def, {s} from 'mixed-import';
            import 'side-effect';
            export * from 'export-star';
            export * as all from 'export-star-as';
            export {t, u as v} from 'export-named';
            const e = await import('dynamic');
            const f = import("dynamic-with-options", { with: { type: 'json' } });
            const g = module.require('module-require');
            const h = import.meta.resolve('meta-resolve');
            import from from 'default-named-from';
            import json from './data.json' with { type: 'json' };
            const n = require('with-escape\x2djs');
            const o = require(/** @type {string} */ ("parenthesized"));
            const p = require(('wrapped-with-options'), 2);
        "#;
        assert_eq!(
            found(source),
            [
                "single",
                "double",
                "template",
                "resolved",
                "default-import",
                "named-import",
                "namespace-import",
                "mixed-import",
                "side-effect",
                "export-star",
                "export-star-as",
                "export-named",
                "dynamic",
                "dynamic-with-options",
                "module-require",
                "meta-resolve",
                "default-named-from",
                "./data.json",
                "with-escape-js",
                "parenthesized",
                "wrapped-with-options",
            ]
        );
    }

    #[test]
    fn comments_strings_templates_and_regexes_do_not_count() {
        let source = r#"#!/usr/bin/env node require('shebang')
            // require('line-comment')
            /* require('block-comment')
               import x from 'block-comment-import' */
            const s = "require('in-double')" + 'import("in-single")';
            const t = `require('in-template') ${ "nested" } import 'still-template'`;
            const u = `${`require('in-nested-template')`}`;
            const v = require(`dynamic-${name}`);
            const r = /require('in-regex')/g;
            const k = [/"/, require('after-quote-regex')];
            const cls = /[/]require('in-class')/;
            const q = x.require('other-object');
            obj.import('method-named-import');
            const w = require(cond ? 'a' : 'b');
            const pp = require(('a') + 'b');
            export { local };
            const after = require('real');
        "#;
        assert_eq!(found(source), ["after-quote-regex", "real"]);
    }

    #[test]
    fn division_and_regex_are_told_apart_by_the_previous_token() {
        // Division: a quote after it would open a string if read as a regex.
        let source = r#"
            const half = total / 2; const q = "/"; require('after-division');
            const ratio = (a + b) / c + '/'; require('after-paren-division');
            const m = items[0] / 3 + '/'; require('after-bracket-division');
            function f() { return /'/.test(x) } require('after-return-regex');
            if (typeof /"/ === 'object') require('after-typeof-regex');
            x = a
              / 2 + "/" + require('divided-require');
        "#;
        assert_eq!(
            found(source),
            [
                "after-division",
                "after-paren-division",
                "after-bracket-division",
                "after-return-regex",
                "after-typeof-regex",
                "divided-require",
            ]
        );
    }

    #[test]
    fn requires_inside_template_substitutions_count() {
        let source = "const t = `a ${ require('in-substitution') + `b ${ { k: require('deeper') }.k } c` } d`;\n\
                      const n = require('after-template');";
        assert_eq!(
            found(source),
            ["in-substitution", "deeper", "after-template"]
        );
    }

    #[test]
    fn broken_and_non_utf8_input_does_not_panic() {
        let mut source = b"require('\xff\xfe'); require('ok\xc3\xa9'); ".to_vec();
        source.extend_from_slice(b"const \xe9t\xe9 = require('latin1-ident');");
        let names = specifiers(&source);
        assert_eq!(names[1], "ok\u{e9}");
        assert_eq!(names[2], "latin1-ident");
        for cut in [
            "require('unterminated",
            "`unterminated ${ require('x'",
            "/* never closed",
            "/unterminated regex",
            "'\\",
            "\"\\u{110000}\"",
            "'\\u12'",
            "`\\x`",
            "require(",
            "import",
            "export {",
        ] {
            specifiers(cut.as_bytes());
        }
        // A string broken by a newline ends there; the next line still counts.
        assert_eq!(
            found("const s = 'don't\nrequire('next-line');"),
            ["next-line"]
        );
    }

    #[test]
    fn shebang_lines_naming_node_are_recognised() {
        assert!(is_node_shebang(b"#!/usr/bin/env node\n"));
        assert!(is_node_shebang(b"#!/usr/local/bin/node --harmony\nx"));
        assert!(is_node_shebang(
            b"#!/usr/bin/env -S nodejs --max-old-space-size=99"
        ));
        assert!(!is_node_shebang(b"#!/bin/sh\nnode app.js\n"));
        assert!(!is_node_shebang(b"#!/usr/bin/env nodemon"));
        assert!(!is_node_shebang(b"node"));
    }
}
