//! What a step got back, reduced to what `--verify` compares: the status,
//! kept headers and body digest of an HTTP answer (volatile parts removed),
//! the exit code and output of a command.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::hex;
use super::http::HttpAnswer;
use super::script::Ignore;

/// Bytes of a body or output kept in answers, for reports and diffs.
const SHOWN_BYTES: usize = 200;

/// Headers that change from one run to the next by design; never compared.
pub const VOLATILE_HEADERS: &[&str] = &[
    "age",
    "connection",
    "content-length",
    "date",
    "etag",
    "expires",
    "keep-alive",
    "last-modified",
    "server",
    "set-cookie",
    "transfer-encoding",
];

/// What a step got back, reduced to what is compared.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    Http {
        status: u16,
        /// Lower-cased names; volatile and ignored headers left out.
        headers: BTreeMap<String, String>,
        /// Of the body with the ignored JSON fields removed.
        body_sha256: String,
        body_bytes: usize,
        /// The start of the body, for people; not compared.
        body_start: String,
    },
    Command {
        exit: i64,
        output: String,
    },
    /// The request or command got no answer at all.
    NoAnswer {
        error: String,
    },
    Waited,
}

impl Answer {
    /// The answer without its for-people parts (the start of the body, and
    /// its length, which ignored JSON fields may change): what is compared.
    pub fn comparable(&self) -> Answer {
        let mut answer = self.clone();
        if let Answer::Http {
            body_start,
            body_bytes,
            ..
        } = &mut answer
        {
            body_start.clear();
            *body_bytes = 0;
        }
        answer
    }
}

/// Reduces a reply to what `--verify` compares.
pub fn http_answer(reply: &HttpAnswer, ignore: &Ignore) -> Answer {
    let skipped = |name: &str| {
        VOLATILE_HEADERS.contains(&name)
            || ignore.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    };
    let headers = reply
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| !skipped(k))
        .collect();
    Answer::Http {
        status: reply.status,
        headers,
        body_sha256: hex(&Sha256::digest(without_ignored_fields(&reply.body, ignore))),
        body_bytes: reply.body.len(),
        body_start: shorten(&reply.body),
    }
}

/// The body with the ignored JSON Pointers removed (re-serialised, keys
/// sorted), or as it is when it is not JSON or nothing is ignored.
fn without_ignored_fields(body: &[u8], ignore: &Ignore) -> Vec<u8> {
    if ignore.json_fields.is_empty() {
        return body.to_vec();
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    for pointer in &ignore.json_fields {
        remove_pointer(&mut value, pointer);
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec())
}

fn remove_pointer(value: &mut serde_json::Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(map)) => {
            map.remove(&key);
        }
        Some(serde_json::Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>() {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}

/// The first bytes as text, on one line, for messages and diffs.
pub fn shorten(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN_BYTES)]);
    let mut line = text.replace('\n', "⏎").replace('\r', "");
    if bytes.len() > SHOWN_BYTES {
        line.push('…');
    }
    line
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> HttpAnswer {
        HttpAnswer {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn volatile_and_ignored_parts_do_not_change_the_answer() {
        let ignore = Ignore {
            headers: vec!["X-Request-Id".into()],
            json_fields: vec!["/time".into(), "/items/0".into()],
        };
        let first = reply(
            200,
            &[
                ("Date", "Mon"),
                ("X-Request-Id", "1"),
                ("Content-Type", "application/json"),
            ],
            r#"{"ok": true, "time": 1, "items": [9, 2]}"#,
        );
        let second = reply(
            200,
            &[
                ("Date", "Tue"),
                ("X-Request-Id", "2"),
                ("Content-Type", "application/json"),
            ],
            r#"{"items":[8,2],"time":2,"ok":true}"#,
        );
        assert_eq!(
            http_answer(&first, &ignore).comparable(),
            http_answer(&second, &ignore).comparable()
        );
        let other_type = reply(200, &[("Content-Type", "text/plain")], r#"{"ok": true}"#);
        assert_ne!(
            http_answer(&first, &ignore).comparable(),
            http_answer(&other_type, &ignore).comparable()
        );
        // Nothing ignored: the raw bytes count.
        let none = Ignore::default();
        assert_ne!(http_answer(&first, &none), http_answer(&second, &none));
    }
}
