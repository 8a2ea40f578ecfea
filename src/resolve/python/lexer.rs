//! A Python tokenizer that knows just enough to tell code from strings and
//! comments: names, string literals (every prefix, triple quotes, f-strings
//! with nested replacement fields as Python 3.12 reads them), numbers,
//! one-character operators and logical line ends. Indentation is not
//! tracked: an `import` means the same at any depth.
//!
//! It works on bytes. Everything Python's grammar cares about is ASCII; bytes
//! from 0x80 up only occur inside names (Unicode identifiers), strings and
//! comments, so treating them as name characters never splits a character.
//! Broken input never panics: an unterminated single-quoted string ends at
//! its line, anything else at the end of the file.

/// One token. Names borrow from the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'s> {
    Name(&'s str),
    /// A string literal. `plain` is its value when it is an ordinary
    /// (not f-, b- or t-) string without backslashes: the only kind that can
    /// name a module for `importlib.import_module`.
    Str {
        plain: Option<String>,
    },
    Number,
    /// Any other character outside strings: `.`, `,`, `(`, `*`, `;`, …
    Op(u8),
    /// The end of a logical line (not inside brackets, not after `\`).
    Newline,
}

/// The tokens of `source`.
pub fn tokenize(source: &str) -> Vec<Token<'_>> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut lexer = Lexer {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    while let Some(raw) = lexer.next_raw() {
        match raw {
            Raw::LineEnd => {
                if depth == 0 && !matches!(tokens.last(), None | Some(Token::Newline)) {
                    tokens.push(Token::Newline);
                }
            }
            Raw::Token(token) => {
                if let Token::Op(op) = token {
                    match op {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                tokens.push(token);
            }
        }
    }
    tokens
}

enum Raw<'s> {
    Token(Token<'s>),
    /// A physical line end; whether it ends a logical line is the caller's call.
    LineEnd,
}

/// How a string literal's body is read.
#[derive(Clone, Copy)]
struct StrKind {
    quote: u8,
    triple: bool,
    raw: bool,
}

/// Whether a replacement field or string ran to its proper end.
#[derive(PartialEq, Eq)]
enum End {
    Closed,
    /// A single-quoted literal met a line end, or the file ended.
    Unterminated,
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// The next token, skipping blanks, comments and `\` continuations.
    fn next_raw(&mut self) -> Option<Raw<'s>> {
        loop {
            let byte = self.peek(0)?;
            match byte {
                b' ' | b'\t' | b'\x0c' => self.pos += 1,
                b'\n' | b'\r' => {
                    self.pos += 1;
                    return Some(Raw::LineEnd);
                }
                b'#' => self.skip_line(),
                b'\\' => {
                    // A continuation joins lines; a stray backslash is dropped.
                    self.pos += 1;
                    self.skip_line_end();
                }
                b'\'' | b'"' => {
                    return Some(Raw::Token(self.string(StrPrefix::default())));
                }
                b'0'..=b'9' => {
                    self.number();
                    return Some(Raw::Token(Token::Number));
                }
                b'.' if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => {
                    self.number();
                    return Some(Raw::Token(Token::Number));
                }
                _ if is_name_start(byte) => {
                    let start = self.pos;
                    while self.peek(0).is_some_and(is_name_char) {
                        self.pos += 1;
                    }
                    let name = &self.src[start..self.pos];
                    if let (Some(prefix), Some(b'\'' | b'"')) =
                        (StrPrefix::parse(name), self.peek(0))
                    {
                        return Some(Raw::Token(self.string(prefix)));
                    }
                    return Some(Raw::Token(Token::Name(name)));
                }
                _ => {
                    self.pos += 1;
                    return Some(Raw::Token(Token::Op(byte)));
                }
            }
        }
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|b| b != b'\n' && b != b'\r') {
            self.pos += 1;
        }
    }

    /// Skips one line end (`\n`, `\r\n` or `\r`) if one is next.
    fn skip_line_end(&mut self) {
        match (self.peek(0), self.peek(1)) {
            (Some(b'\r'), Some(b'\n')) => self.pos += 2,
            (Some(b'\r' | b'\n'), _) => self.pos += 1,
            _ => {}
        }
    }

    /// Skips a backslash and the character it escapes (a line end counts as one).
    fn skip_escape(&mut self) {
        self.pos += 1;
        match self.peek(0) {
            Some(b'\r' | b'\n') => self.skip_line_end(),
            Some(_) => self.pos += 1,
            None => {}
        }
    }

    /// Digits, letters, `_` and `.`, with a sign after an exponent. Numbers are
    /// only skipped, so `0x1e-5` read as one number does no harm.
    fn number(&mut self) {
        while let Some(byte) = self.peek(0) {
            if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.' {
                self.pos += 1;
                if matches!(byte, b'e' | b'E') && matches!(self.peek(0), Some(b'+' | b'-')) {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads a string literal whose opening quote is at `pos`.
    fn string(&mut self, prefix: StrPrefix) -> Token<'s> {
        let quote = self.bytes[self.pos];
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        let kind = StrKind {
            quote,
            triple,
            raw: prefix.raw,
        };
        self.pos += if triple { 3 } else { 1 };
        let body_start = self.pos;
        if prefix.formatted {
            self.formatted_literal(kind, false);
            return Token::Str { plain: None };
        }
        let mut has_backslash = false;
        let body_end = loop {
            let Some(byte) = self.peek(0) else {
                break self.pos;
            };
            if self.at_closing_quote(kind) {
                let end = self.pos;
                self.pos += if triple { 3 } else { 1 };
                break end;
            }
            match byte {
                b'\\' => {
                    has_backslash = true;
                    self.skip_escape();
                }
                b'\n' | b'\r' if !triple => break self.pos,
                _ => self.pos += 1,
            }
        };
        let plain =
            (!prefix.bytes && !has_backslash).then(|| self.src[body_start..body_end].to_string());
        Token::Str { plain }
    }

    fn at_closing_quote(&self, kind: StrKind) -> bool {
        self.peek(0) == Some(kind.quote)
            && (!kind.triple
                || (self.peek(1) == Some(kind.quote) && self.peek(2) == Some(kind.quote)))
    }

    /// Literal text of an f-string: the body, or (`in_spec`) a format spec
    /// after `:`, which ends at the `}` closing its replacement field.
    fn formatted_literal(&mut self, kind: StrKind, in_spec: bool) -> End {
        loop {
            let Some(byte) = self.peek(0) else {
                return End::Unterminated;
            };
            if self.at_closing_quote(kind) {
                if in_spec {
                    // The string ends inside a replacement field: leave the
                    // quote for the outer body to close.
                    return End::Unterminated;
                }
                self.pos += if kind.triple { 3 } else { 1 };
                return End::Closed;
            }
            match byte {
                b'\\' => self.formatted_escape(kind),
                b'{' if self.peek(1) == Some(b'{') && !in_spec => self.pos += 2,
                b'{' => {
                    self.pos += 1;
                    if self.replacement_field(kind) == End::Unterminated {
                        return self.close_unterminated(kind);
                    }
                }
                b'}' if in_spec => {
                    self.pos += 1;
                    return End::Closed;
                }
                // `}}` is an escaped brace; a lone `}` is an error to skip.
                b'}' => self.pos += if self.peek(1) == Some(b'}') { 2 } else { 1 },
                b'\n' | b'\r' if !kind.triple => return End::Unterminated,
                _ => self.pos += 1,
            }
        }
    }

    /// After an inner part gave up: finish the string if its closing quote
    /// is next, otherwise report it unterminated.
    fn close_unterminated(&mut self, kind: StrKind) -> End {
        if self.at_closing_quote(kind) {
            self.pos += if kind.triple { 3 } else { 1 };
            return End::Closed;
        }
        End::Unterminated
    }

    /// A backslash in an f-string's literal text. `\{` leaves the brace to
    /// open a field; `\N{NAME}` names a character and opens nothing.
    fn formatted_escape(&mut self, kind: StrKind) {
        match self.peek(1) {
            Some(b'{' | b'}') => self.pos += 1,
            Some(b'N') if !kind.raw && self.peek(2) == Some(b'{') => {
                self.pos += 3;
                while self
                    .peek(0)
                    .is_some_and(|b| b != b'}' && b != kind.quote && b != b'\n')
                {
                    self.pos += 1;
                }
                if self.peek(0) == Some(b'}') {
                    self.pos += 1;
                }
            }
            _ => self.skip_escape(),
        }
    }

    /// The expression inside `{…}` of an f-string, after the `{`: skipped
    /// token by token, to the `}` that closes it, through a format spec after
    /// a top-level `:`. It is read as Python 3.12 reads it: a quote starts a
    /// nested string, and the field may span lines. Code that older versions
    /// accept has neither, so reading it the new way is right for both (and
    /// a file that is not valid Python cannot be imported anyway).
    fn replacement_field(&mut self, kind: StrKind) -> End {
        let mut depth = 0usize;
        loop {
            let Some(raw) = self.next_raw() else {
                return End::Unterminated;
            };
            match raw {
                // Python 3.12 lets a field span lines, comments included.
                Raw::LineEnd => {}
                Raw::Token(Token::Op(b'(' | b'[' | b'{')) => depth += 1,
                Raw::Token(Token::Op(b')' | b']')) => depth = depth.saturating_sub(1),
                Raw::Token(Token::Op(b'}')) if depth == 0 => return End::Closed,
                Raw::Token(Token::Op(b'}')) => depth -= 1,
                Raw::Token(Token::Op(b':')) if depth == 0 => {
                    return self.formatted_literal(kind, true);
                }
                Raw::Token(_) => {}
            }
        }
    }
}

/// What a string's prefix letters mean for reading it.
#[derive(Debug, Clone, Copy, Default)]
struct StrPrefix {
    raw: bool,
    bytes: bool,
    /// f-strings and t-strings (template strings, 3.14): fields in braces.
    formatted: bool,
}

impl StrPrefix {
    /// `name` as a string prefix (`r`, `b`, `rb`, `f`, `Rf`, `u`, `t`, …).
    fn parse(name: &str) -> Option<StrPrefix> {
        if name.is_empty() || name.len() > 2 {
            return None;
        }
        let mut prefix = StrPrefix::default();
        let mut unicode = false;
        for byte in name.bytes() {
            let seen = match byte.to_ascii_lowercase() {
                b'r' => std::mem::replace(&mut prefix.raw, true),
                b'b' => std::mem::replace(&mut prefix.bytes, true),
                b'f' | b't' => std::mem::replace(&mut prefix.formatted, true),
                b'u' => std::mem::replace(&mut unicode, true),
                _ => return None,
            };
            if seen {
                return None;
            }
        }
        let valid = !((prefix.bytes && prefix.formatted) || (unicode && name.len() > 1));
        valid.then_some(prefix)
    }
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

fn is_name_char(byte: u8) -> bool {
    is_name_start(byte) || byte.is_ascii_digit()
}
