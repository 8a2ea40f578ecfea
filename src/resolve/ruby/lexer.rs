//! A Ruby tokenizer that knows just enough of the language to tell code from
//! everything else: comments, `=begin`/`=end`, `__END__`, string literals
//! (with `#{…}` holes), `%`-literals, here-documents, regexps, symbols and
//! character literals. What is left are words and punctuation, in which
//! [`super::loads`] finds `require` and its kin.
//!
//! Where Ruby's own lexer depends on what the parser knows (`/` and `%` as
//! an operator or a literal, `<<` as a shift or a here-document, `?` as a
//! ternary or a character), this one follows Ruby's heuristic from the
//! previous token: after a value it is an operator, except after a method
//! name with a space before and none after (`puts /x/`, `foo <<~EOS`).

/// One token: what it is, and whether whitespace came before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexed {
    pub token: Token,
    pub spaced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An identifier, constant or keyword (`require`, `File`, `__dir__`, `empty?`).
    Word(String),
    /// A global variable: `$LOAD_PATH`, `$:`.
    Global(String),
    /// A hash key or keyword argument written `name:`.
    Label(String),
    /// A string literal.
    Str(Str),
    /// The words of a `%w[…]` or `%i[…]` list.
    Words(Vec<String>),
    /// `:name` or `:"name"`.
    Symbol(String),
    /// One punctuation character (`.`, `,`, `(`, `<`…); operators come a character at a time.
    Punct(char),
    /// The end of a line.
    Newline,
    /// A value that names nothing: a number, regexp, here-document, backtick
    /// command, instance variable or character literal.
    Value,
}

/// A string literal's text, with `\0` where each `#{…}` hole was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Str {
    pub text: String,
    /// The code inside each hole, in order.
    pub holes: Vec<String>,
}

impl Str {
    /// No interpolation: the text is the string's value.
    pub fn is_plain(&self) -> bool {
        self.holes.is_empty()
    }

    /// The text before the first hole.
    pub fn literal_prefix(&self) -> &str {
        self.text.split('\0').next().unwrap_or("")
    }
}

/// Words after which a value is expected, not an operator.
const KEYWORDS: &[&str] = &[
    "and", "begin", "case", "class", "def", "defined?", "do", "else", "elsif", "ensure", "if",
    "in", "module", "not", "or", "rescue", "return", "then", "unless", "until", "when", "while",
    "yield",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

pub fn tokenize(source: &str) -> Vec<Lexed> {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        at: 0,
        tokens: Vec::new(),
        heredocs: Vec::new(),
    };
    lexer.run();
    lexer.tokens
}

struct Heredoc {
    terminator: String,
    /// `<<~EOS` and `<<-EOS`: the terminator may be indented.
    indented: bool,
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    tokens: Vec<Lexed>,
    /// Here-documents opened on the current line; their bodies follow it.
    heredocs: Vec<Heredoc>,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || !c.is_ascii()
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn push(&mut self, token: Token, spaced: bool) {
        self.tokens.push(Lexed { token, spaced });
    }

    fn run(&mut self) {
        let mut spaced = false;
        if !self.line_start() {
            return;
        }
        while let Some(c) = self.peek(0) {
            match c {
                '\n' => {
                    self.at += 1;
                    self.push(Token::Newline, spaced);
                    self.skip_heredoc_bodies();
                    if !self.line_start() {
                        return;
                    }
                    spaced = false;
                    continue;
                }
                ' ' | '\t' | '\r' | '\x0c' | '\x0b' => {
                    self.at += 1;
                    spaced = true;
                    continue;
                }
                '\\' if self.peek(1) == Some('\n') => {
                    // A line continuation.
                    self.at += 2;
                    spaced = true;
                    continue;
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                    continue;
                }
                _ => {}
            }
            let token = self.token(c, spaced);
            self.push(token, spaced);
            spaced = false;
        }
    }

    /// At the start of a line: skips `=begin` … `=end`; false at `__END__`.
    fn line_start(&mut self) -> bool {
        loop {
            if self.line_is("__END__") {
                return false;
            }
            if !self.starts_word("=begin") {
                return true;
            }
            // Skip lines up to and including the one starting with `=end`.
            loop {
                self.skip_line();
                if self.peek(0).is_none() {
                    return false;
                }
                if self.starts_word("=end") {
                    self.skip_line();
                    break;
                }
            }
            if self.peek(0).is_none() {
                return false;
            }
        }
    }

    /// Moves past the next newline (or to the end).
    fn skip_line(&mut self) {
        while let Some(c) = self.peek(0) {
            self.at += 1;
            if c == '\n' {
                break;
            }
        }
    }

    /// The rest of the input starts with `word` followed by a blank or the line's end.
    fn starts_word(&self, word: &str) -> bool {
        let n = word.chars().count();
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek(i) == Some(c))
            && self.peek(n).is_none_or(|c| c.is_whitespace())
    }

    fn line_is(&self, text: &str) -> bool {
        let line: String = self.chars[self.at..]
            .iter()
            .take_while(|&&c| c != '\n')
            .collect();
        line.trim_end_matches('\r') == text
    }

    fn skip_heredoc_bodies(&mut self) {
        for heredoc in std::mem::take(&mut self.heredocs) {
            while self.peek(0).is_some() {
                let line: String = self.chars[self.at..]
                    .iter()
                    .take_while(|&&c| c != '\n')
                    .collect();
                self.skip_line();
                let line = line.trim_end_matches('\r');
                let line = if heredoc.indented {
                    line.trim_start()
                } else {
                    line
                };
                if line == heredoc.terminator {
                    break;
                }
            }
        }
    }

    fn last(&self) -> Option<&Token> {
        self.tokens.last().map(|lexed| &lexed.token)
    }

    /// Whether the previous token ends a value, so that `/`, `%`, `<<` and `?` are operators.
    fn after_value(&self) -> bool {
        match self.last() {
            None | Some(Token::Newline | Token::Label(_)) => false,
            Some(Token::Word(word)) => !is_keyword(word),
            Some(Token::Punct(c)) => matches!(c, ')' | ']' | '}'),
            Some(_) => true,
        }
    }

    /// Whether a `/`, `%`, `<<` or `?` here starts a literal: not after a
    /// value, or after a method name with a space before and none after.
    fn literal_here(&self, spaced: bool, next: Option<char>) -> bool {
        if !self.after_value() {
            return true;
        }
        matches!(self.last(), Some(Token::Word(_)))
            && spaced
            && next.is_some_and(|c| !c.is_whitespace() && c != '=')
    }

    fn token(&mut self, c: char, spaced: bool) -> Token {
        match c {
            c if is_ident_start(c) => self.word(),
            '0'..='9' => {
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    || (self.peek(0) == Some('.')
                        && self.peek(1).is_some_and(|c| c.is_ascii_digit()))
                {
                    self.at += 1;
                }
                Token::Value
            }
            '@' => {
                while self.peek(0) == Some('@') {
                    self.at += 1;
                }
                self.ident_chars();
                Token::Value
            }
            '$' => self.global(),
            '\'' => {
                self.at += 1;
                Token::Str(self.quoted('\'', None, false, false))
            }
            '"' => {
                self.at += 1;
                Token::Str(self.quoted('"', None, true, false))
            }
            '`' => {
                self.at += 1;
                self.quoted('`', None, true, false);
                Token::Value
            }
            ':' => self.colon(),
            '%' if self.literal_here(spaced, self.peek(1)) => self.percent(),
            '/' if self.literal_here(spaced, self.peek(1)) => {
                self.at += 1;
                self.quoted('/', None, true, true);
                self.ident_chars();
                Token::Value
            }
            '<' if self.peek(1) == Some('<') && self.literal_here(spaced, self.peek(2)) => {
                self.heredoc().unwrap_or_else(|| {
                    self.at += 1;
                    Token::Punct('<')
                })
            }
            '?' if self.literal_here(spaced, self.peek(1)) && self.character_literal() => {
                Token::Value
            }
            other => {
                self.at += 1;
                Token::Punct(other)
            }
        }
    }

    fn ident_chars(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek(0).filter(|&c| is_ident_char(c)) {
            name.push(c);
            self.at += 1;
        }
        name
    }

    fn word(&mut self) -> Token {
        let mut name = self.ident_chars();
        if let Some(mark @ ('?' | '!')) = self.peek(0) {
            if self.peek(1) != Some('=') || self.peek(2) == Some('=') {
                name.push(mark);
                self.at += 1;
            }
        }
        if self.peek(0) == Some(':') && self.peek(1) != Some(':') {
            self.at += 1;
            return Token::Label(name);
        }
        Token::Word(name)
    }

    fn global(&mut self) -> Token {
        self.at += 1;
        let name = self.ident_chars();
        if !name.is_empty() {
            return Token::Global(format!("${name}"));
        }
        // `$:`, `$"`, `$/`, `$-w`: one special character (after `-`, one more).
        let mut name = String::from("$");
        if let Some(c) = self.peek(0) {
            name.push(c);
            self.at += 1;
            if c == '-' {
                if let Some(c) = self.peek(0) {
                    name.push(c);
                    self.at += 1;
                }
            }
        }
        Token::Global(name)
    }

    fn colon(&mut self) -> Token {
        self.at += 1;
        match self.peek(0) {
            Some(':') => {
                self.at += 1;
                Token::Punct(':')
            }
            Some(q @ ('"' | '\'')) => {
                self.at += 1;
                Token::Symbol(self.quoted(q, None, q == '"', false).text)
            }
            Some(c) if is_ident_start(c) => match self.word() {
                Token::Word(name) | Token::Label(name) => Token::Symbol(name),
                _ => Token::Value,
            },
            Some(c) if "+-*/%<>=!~^&|[]".contains(c) => {
                while self.peek(0).is_some_and(|c| "+-*/%<>=!~^&|[]@".contains(c)) {
                    self.at += 1;
                }
                Token::Value
            }
            _ => Token::Punct(':'),
        }
    }

    /// `%q(…)`, `%Q[…]`, `%w{…}`, `%i<…>`, `%r|…|`, `%x(…)`, `%s(…)`, `%(…)`.
    fn percent(&mut self) -> Token {
        let (kind, open) = match (self.peek(1), self.peek(2)) {
            (Some(k), Some(open)) if "qQwWiIrsx".contains(k) && !open.is_alphanumeric() => {
                (k, open)
            }
            (Some(open), _) if !open.is_alphanumeric() && !open.is_whitespace() && open != '=' => {
                ('Q', open)
            }
            _ => {
                self.at += 1;
                return Token::Punct('%');
            }
        };
        self.at += if kind == 'Q' && self.peek(1) == Some(open) {
            2
        } else {
            3
        };
        let close = match open {
            '(' => ')',
            '[' => ']',
            '{' => '}',
            '<' => '>',
            other => other,
        };
        let nests = (open != close).then_some(open);
        let interpolates = matches!(kind, 'Q' | 'W' | 'I' | 'r' | 'x');
        let literal = self.quoted(close, nests, interpolates, false);
        match kind {
            'q' | 'Q' => Token::Str(literal),
            'w' | 'W' | 'i' | 'I' => Token::Words(
                literal
                    .text
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            ),
            'r' => {
                self.ident_chars();
                Token::Value
            }
            's' => Token::Symbol(literal.text),
            _ => Token::Value,
        }
    }

    /// `<<~EOS`, `<<-'EOS'`, `<<"EOS"`, `<<EOS`; the body is skipped at the
    /// end of the line. `None` (nothing consumed) for a shift operator.
    fn heredoc(&mut self) -> Option<Token> {
        let mut at = self.at + 2;
        let indented = matches!(self.chars.get(at), Some('~' | '-'));
        if indented {
            at += 1;
        }
        let quote = self
            .chars
            .get(at)
            .copied()
            .filter(|c| matches!(c, '\'' | '"' | '`'));
        if quote.is_some() {
            at += 1;
        }
        let start = at;
        while self.chars.get(at).is_some_and(|&c| match quote {
            Some(q) => c != q && c != '\n',
            None => is_ident_char(c),
        }) {
            at += 1;
        }
        let terminator: String = self.chars[start..at].iter().collect();
        let starts_like_a_name = terminator.chars().next().is_some_and(is_ident_start);
        if terminator.is_empty() || (quote.is_none() && !starts_like_a_name) {
            return None;
        }
        if let Some(q) = quote {
            if self.chars.get(at) != Some(&q) {
                return None;
            }
            at += 1;
        }
        self.at = at;
        self.heredocs.push(Heredoc {
            terminator,
            indented,
        });
        Some(Token::Value)
    }

    /// `?a`, `?\n`: a one-character string. False (nothing consumed) for a ternary `?`.
    fn character_literal(&mut self) -> bool {
        match (self.peek(1), self.peek(2)) {
            (Some('\\'), Some(_)) => {
                self.at += 3;
                // `?\C-a`, `?\M-a`, `?\u{1F600}`, `?\x41`: the rest of the escape.
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || "-{}".contains(c))
                {
                    self.at += 1;
                }
                true
            }
            (Some(c), next) if !c.is_whitespace() && next.is_none_or(|n| !is_ident_char(n)) => {
                self.at += 2;
                true
            }
            _ => false,
        }
    }

    /// Reads a literal up to its closing `close` (the opening one is
    /// consumed), with `#{…}` holes when it `interpolates`. Paired
    /// delimiters (`nests`) nest. A regexp stops at the line's end, so that
    /// a `/` taken for one by mistake cannot hide the rest of the file.
    fn quoted(
        &mut self,
        close: char,
        nests: Option<char>,
        interpolates: bool,
        line_only: bool,
    ) -> Str {
        let mut literal = Str::default();
        let mut depth = 0;
        while let Some(c) = self.peek(0) {
            if line_only && c == '\n' {
                return literal;
            }
            self.at += 1;
            match c {
                '\\' => {
                    if let Some(next) = self.peek(0) {
                        self.at += 1;
                        if interpolates {
                            literal.text.push(match next {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        } else {
                            // In '…' only the delimiters and the backslash are escaped.
                            if next != close && Some(next) != nests && next != '\\' {
                                literal.text.push('\\');
                            }
                            literal.text.push(next);
                        }
                    }
                }
                '#' if interpolates && self.peek(0) == Some('{') => {
                    self.at += 1;
                    let code = self.hole();
                    literal.text.push('\0');
                    literal.holes.push(code);
                }
                '#' if interpolates && matches!(self.peek(0), Some('@' | '$')) => {
                    let start = self.at;
                    self.at += 1;
                    while self.peek(0) == Some('@') {
                        self.at += 1;
                    }
                    self.ident_chars();
                    literal.text.push('\0');
                    literal
                        .holes
                        .push(self.chars[start..self.at].iter().collect());
                }
                c if Some(c) == nests => {
                    depth += 1;
                    literal.text.push(c);
                }
                c if c == close => {
                    if depth == 0 {
                        return literal;
                    }
                    depth -= 1;
                    literal.text.push(c);
                }
                c => literal.text.push(c),
            }
        }
        literal
    }

    /// The code of a `#{…}` hole (the `#{` is consumed), with nested braces
    /// and string literals.
    fn hole(&mut self) -> String {
        let mut code = String::new();
        let mut depth = 0;
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match c {
                // An escape in a regexp inside the hole: `#{s.gsub(/\"/, '')}`.
                '\\' => {
                    code.push(c);
                    if let Some(next) = self.peek(0) {
                        self.at += 1;
                        code.push(next);
                    }
                    continue;
                }
                '{' => depth += 1,
                '}' if depth == 0 => return code,
                '}' => depth -= 1,
                '\'' | '"' | '`' => {
                    let inner = self.quoted(c, None, c != '\'', false);
                    code.push(c);
                    code.push_str(&inner.text);
                    code.push(c);
                    continue;
                }
                _ => {}
            }
            code.push(c);
        }
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Vec<Token> {
        tokenize(source).into_iter().map(|l| l.token).collect()
    }

    fn words(source: &str) -> Vec<String> {
        tokens(source)
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    fn plain(text: &str) -> Token {
        Token::Str(Str {
            text: text.into(),
            holes: vec![],
        })
    }

    #[test]
    fn strings_symbols_labels_and_globals() {
        assert_eq!(
            tokens(r#"require 'a\'b'; x = "c#{d("}")}e" :sym :"s y" key: $: $LOAD_PATH"#),
            vec![
                Token::Word("require".into()),
                plain("a'b"),
                Token::Punct(';'),
                Token::Word("x".into()),
                Token::Punct('='),
                Token::Str(Str {
                    text: "c\0e".into(),
                    holes: vec![r#"d("}")"#.into()]
                }),
                Token::Symbol("sym".into()),
                Token::Symbol("s y".into()),
                Token::Label("key".into()),
                Token::Global("$:".into()),
                Token::Global("$LOAD_PATH".into()),
            ]
        );
    }

    #[test]
    fn comments_pod_heredocs_and_end_hide_their_words() {
        let source = "a # hidden\n\
                      =begin\nhidden2\n=end\n\
                      b(<<~EOS, <<-'RAW')\n  hidden3\n  EOS\nhidden4\n  RAW\n\
                      c = <<EOS.strip\nhidden5\nEOS\n\
                      d\n__END__\nhidden6\n";
        assert_eq!(words(source), ["a", "b", "c", "strip", "d"]);
    }

    #[test]
    fn slash_percent_shift_and_question_mark_follow_the_previous_token() {
        // After a value: operators. Elsewhere: literals whose insides are hidden.
        assert_eq!(words("x = a / b / c"), ["x", "a", "b", "c"]);
        assert_eq!(words("x = /hidden 'q/ + y"), ["x", "y"]);
        assert_eq!(words("split /hidden/"), ["split"]);
        assert_eq!(words("n % m"), ["n", "m"]);
        assert_eq!(words("x = %w[hidden words] + %q(hidden 'x)"), ["x"]);
        assert_eq!(words("a << b"), ["a", "b"]);
        assert_eq!(words("class << self"), ["class", "self"]);
        assert_eq!(words("c = x ? y : z"), ["c", "x", "y", "z"]);
        assert_eq!(words("c = ?' + v"), ["c", "v"]);
        assert_eq!(
            tokens("%w[json set]"),
            [Token::Words(vec!["json".into(), "set".into()])]
        );
        assert_eq!(words("empty? && done!"), ["empty?", "done!"]);
    }

    #[test]
    fn holes_with_escaped_quotes_end_where_ruby_ends_them() {
        let source = "to << %Q[ \"#{o}[#{d.gsub(/[\\\"\\[\\]]/, '\\\\')}]\" ]\nrequire";
        assert_eq!(words(source), ["to", "require"]);
    }

    #[test]
    fn a_mistaken_regexp_ends_with_its_line() {
        assert_eq!(words("x = / 'hidden\nrequire"), ["x", "require"]);
    }
}
