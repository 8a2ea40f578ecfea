//! Expectations of probe steps: checked against the original image's answer
//! while profiling, and against the slim image's for verification-only steps.

use super::answer::{shorten, Answer};
use super::http::HttpAnswer;
use super::script::{CommandExpect, HttpExpect};

pub fn http_unmet(expect: &HttpExpect, reply: &HttpAnswer) -> Option<String> {
    if let Some(status) = expect.status {
        if reply.status != status {
            return Some(format!("expected status {status}, got {}", reply.status));
        }
    }
    if let Some(needle) = &expect.body_contains {
        if !String::from_utf8_lossy(&reply.body).contains(needle.as_str()) {
            return Some(format!(
                "expected the body to contain {needle:?}, got {:?}",
                shorten(&reply.body)
            ));
        }
    }
    if expect.json.is_empty() {
        return None;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&reply.body) else {
        return Some(format!(
            "expected a JSON body, got {:?}",
            shorten(&reply.body)
        ));
    };
    expect
        .json
        .iter()
        .find_map(|(pointer, wanted)| match json.pointer(pointer) {
            Some(found) if found == wanted => None,
            Some(found) => Some(format!("expected {pointer} to be {wanted}, got {found}")),
            None => Some(format!(
                "expected {pointer} to be {wanted}, but the body has no {pointer}"
            )),
        })
}

pub fn command_unmet(expect: &CommandExpect, answer: &Answer) -> Option<String> {
    let (exit, output) = match answer {
        Answer::Command { exit, output } => (*exit, output),
        Answer::NoAnswer { error } => return Some(error.clone()),
        _ => return None,
    };
    if let Some(wanted) = expect.exit {
        if exit != wanted {
            return Some(format!(
                "expected exit code {wanted}, got {exit}: {}",
                crate::escape::text(&shorten(output.as_bytes()))
            ));
        }
    }
    match &expect.output_contains {
        Some(needle) if !output.contains(needle.as_str()) => Some(format!(
            "expected the output to contain {needle:?}, got {:?}",
            shorten(output.as_bytes())
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::answer::tests::reply;
    use std::collections::BTreeMap;

    #[test]
    fn checks_http_expectations() {
        let expect = HttpExpect {
            status: Some(200),
            body_contains: Some("fruit".into()),
            json: BTreeMap::from([("/ok".to_string(), serde_json::json!(true))]),
        };
        assert_eq!(
            http_unmet(&expect, &reply(200, &[], r#"{"fruit": 1, "ok": true}"#)),
            None
        );
        assert_eq!(
            http_unmet(&expect, &reply(500, &[], "")).unwrap(),
            "expected status 200, got 500"
        );
        let wrong = http_unmet(&expect, &reply(200, &[], r#"{"fruit": 1, "ok": false}"#)).unwrap();
        assert_eq!(wrong, "expected /ok to be true, got false");
        assert!(http_unmet(&expect, &reply(200, &[], "fruit, not json"))
            .unwrap()
            .contains("expected a JSON body"));
    }

    #[test]
    fn checks_command_expectations() {
        let expect = CommandExpect {
            exit: Some(0),
            output_contains: Some("ok".into()),
        };
        let answer = |exit, output: &str| Answer::Command {
            exit,
            output: output.into(),
        };
        assert_eq!(command_unmet(&expect, &answer(0, "all ok")), None);
        assert!(command_unmet(&expect, &answer(127, "sh: not found"))
            .unwrap()
            .starts_with("expected exit code 0, got 127"));
        assert!(command_unmet(&expect, &answer(0, "nope"))
            .unwrap()
            .contains("to contain \"ok\""));
    }
}
