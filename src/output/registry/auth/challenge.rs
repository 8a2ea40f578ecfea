//! `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"`
//! or `Basic realm="…"`.

use std::collections::BTreeMap;

/// One challenge: its scheme, lowercased, and its parameters, names lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in one header value. Returns what could be read
/// before a syntax error rather than nothing: registries' headers are
/// sometimes sloppy and the first challenge is what matters.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut parser = Parser {
        rest: header.trim(),
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        parser.skip_separators();
        let Some(token) = parser.token() else { break };
        parser.skip_spaces();
        if parser.peek() == Some('=') {
            // `name=value` belongs to the challenge before it.
            parser.bump();
            parser.skip_spaces();
            let Some(value) = parser.value() else { break };
            match challenges.last_mut() {
                Some(challenge) => {
                    challenge.params.insert(token.to_ascii_lowercase(), value);
                }
                None => break,
            }
        } else {
            challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    challenges
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.rest = &self.rest[c.len_utf8()..];
        }
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_separators(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    /// An RFC 7230 token (also accepts token68 characters such as '/').
    fn token(&mut self) -> Option<String> {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c)))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let token = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        Some(token)
    }

    /// A quoted string with backslash escapes, or an unquoted value. That
    /// should be a token, but some registries send URLs unquoted, so it
    /// runs to the next comma or space.
    fn value(&mut self) -> Option<String> {
        if self.peek() != Some('"') {
            let end = self.rest.find([',', ' ', '\t']).unwrap_or(self.rest.len());
            let value = self.rest[..end].to_string();
            self.rest = &self.rest[end..];
            return (!value.is_empty()).then_some(value);
        }
        self.bump();
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Some(value);
                }
                '\\' => value.push(chars.next()?.1),
                c => value.push(c),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer_challenge() {
        let challenges = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull,push""#,
        );
        assert_eq!(challenges.len(), 1);
        let c = &challenges[0];
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(
            c.param("scope"),
            Some("repository:library/ubuntu:pull,push")
        );
    }

    #[test]
    fn basic_challenge_with_spaces_case_and_escapes() {
        let challenges = parse_challenges(r#"  basic  Realm = "my \"registry\", really" "#);
        assert_eq!(challenges.len(), 1);
        assert_eq!(challenges[0].scheme, "basic");
        assert_eq!(
            challenges[0].param("realm"),
            Some(r#"my "registry", really"#)
        );
    }

    #[test]
    fn several_challenges_and_unquoted_values() {
        let challenges = parse_challenges(
            r#"Basic realm="a", Bearer realm=http://127.0.0.1:1/token, error=invalid_token"#,
        );
        assert_eq!(challenges.len(), 2);
        assert_eq!(challenges[0].param("realm"), Some("a"));
        assert_eq!(challenges[1].scheme, "bearer");
        assert_eq!(
            challenges[1].param("realm"),
            Some("http://127.0.0.1:1/token")
        );
        assert_eq!(challenges[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn broken_headers_keep_what_was_read() {
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges("=x").is_empty());
        let unterminated = parse_challenges(r#"Bearer realm="https://x/token"#);
        assert_eq!(unterminated.len(), 1);
        assert_eq!(unterminated[0].param("realm"), None);
    }
}
