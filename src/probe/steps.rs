//! Running one probe step against a running container and reducing what
//! came back to an [`Answer`]: what `--verify` compares between the fat and
//! the slim image, and what expectations are checked against.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::hex;
use super::http::{self, HttpAnswer, Reply, Request};
use super::script::{CommandExpect, CommandStep, HttpExpect, HttpStep, Ignore, Step};
use crate::docker::Docker;

/// Longest a request or a command may take before it counts as no answer.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);
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

/// A running container, from the outside (HTTP, host commands) and the
/// inside (`docker exec` as the image's user).
pub struct Endpoint<'a> {
    pub docker: &'a Docker,
    pub container: &'a str,
    /// The image's USER (or `0`), for exec steps.
    pub user: String,
    /// (container port, host port on 127.0.0.1)
    pub ports: Vec<(u16, u16)>,
}

/// The image's USER, which exec steps run as (root when it names none).
pub fn image_user(config: &crate::image::ImageConfig) -> String {
    config
        .run
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".into())
}

impl Endpoint<'_> {
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|(c, _)| *c == container_port)
            .map(|(_, h)| *h)
    }
}

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

/// One step's answer, and the expectation it missed, if any.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub answer: Answer,
    pub unmet: Option<String>,
    pub ms: u128,
}

pub async fn run_step(step: &Step, ignore: &Ignore, at: &Endpoint<'_>) -> Outcome {
    let started = Instant::now();
    let (answer, unmet) = match step {
        Step::Http(h) => http_step(h, ignore, at).await,
        Step::Exec(c) => {
            let answer = exec_step(c, at).await;
            let unmet = command_unmet(&c.expect, &answer);
            (answer, unmet)
        }
        Step::HostExec(c) => {
            let answer = host_exec_step(c, at).await;
            let unmet = command_unmet(&c.expect, &answer);
            (answer, unmet)
        }
        Step::Wait(w) => {
            tokio::time::sleep(Duration::from_secs_f64(w.seconds)).await;
            (Answer::Waited, None)
        }
    };
    Outcome {
        answer,
        unmet,
        ms: started.elapsed().as_millis(),
    }
}

async fn http_step(
    step: &HttpStep,
    ignore: &Ignore,
    at: &Endpoint<'_>,
) -> (Answer, Option<String>) {
    let port = step.port.unwrap_or_default();
    let Some(host_port) = at.host_port(port) else {
        let error = format!("port {port} is not published");
        return (
            Answer::NoAnswer {
                error: error.clone(),
            },
            Some(error),
        );
    };
    let headers: Vec<(String, String)> = step.headers.clone().into_iter().collect();
    let request = Request {
        method: &step.method,
        path: &step.path,
        headers: &headers,
        body: &step.body_bytes,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
    let error = match http::send(addr, &request, STEP_TIMEOUT).await {
        Ok(Reply::Http(reply)) => {
            let unmet = http_unmet(&step.expect, &reply);
            return (http_answer(&reply, ignore), unmet);
        }
        Ok(Reply::NotHttp(bytes)) => format!("not HTTP: {}", shorten(&bytes)),
        Ok(Reply::Closed) => "the connection closed without an answer".to_string(),
        Err(e) => e.to_string(),
    };
    (
        Answer::NoAnswer {
            error: error.clone(),
        },
        Some(error),
    )
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
                shorten(output.as_bytes())
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

async fn exec_step(step: &CommandStep, at: &Endpoint<'_>) -> Answer {
    let argv: Vec<&str> = step.cmd.iter().map(String::as_str).collect();
    match tokio::time::timeout(STEP_TIMEOUT, at.docker.exec(at.container, &argv, &at.user)).await {
        Ok(Ok((exit, output))) => Answer::Command { exit, output },
        Ok(Err(e)) => Answer::NoAnswer {
            error: e.to_string(),
        },
        Err(_) => Answer::NoAnswer {
            error: format!("still running after {}s", STEP_TIMEOUT.as_secs()),
        },
    }
}

/// Runs a command on the host with `RSLIM_HOST`, `RSLIM_PORT_<port>` and
/// `RSLIM_URL` (the first port) set; its stdout and stderr interleaved.
async fn host_exec_step(step: &CommandStep, at: &Endpoint<'_>) -> Answer {
    let mut command = std::process::Command::new(&step.cmd[0]);
    command.args(&step.cmd[1..]).env("RSLIM_HOST", "127.0.0.1");
    for (container_port, host_port) in &at.ports {
        command.env(
            format!("RSLIM_PORT_{container_port}"),
            host_port.to_string(),
        );
    }
    if let Some((_, host_port)) = at.ports.first() {
        command.env("RSLIM_URL", format!("http://127.0.0.1:{host_port}"));
    }
    let ran = tokio::task::spawn_blocking(move || run_with_deadline(command, STEP_TIMEOUT)).await;
    match ran {
        Ok(Ok((exit, output))) => Answer::Command { exit, output },
        Ok(Err(error)) => Answer::NoAnswer { error },
        Err(e) => Answer::NoAnswer {
            error: e.to_string(),
        },
    }
}

fn run_with_deadline(
    mut command: std::process::Command,
    limit: Duration,
) -> std::result::Result<(i64, String), String> {
    let spool = tempfile::tempfile().map_err(|e| e.to_string())?;
    let both = spool.try_clone().map_err(|e| e.to_string())?;
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(spool.try_clone().map_err(|e| e.to_string())?)
        .stderr(both)
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {}s; killed", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut spool = spool;
    let mut output = Vec::new();
    spool.rewind().map_err(|e| e.to_string())?;
    spool.read_to_end(&mut output).map_err(|e| e.to_string())?;
    let exit = status.code().map_or(-1, i64::from);
    Ok((exit, String::from_utf8_lossy(&output).into_owned()))
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
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> HttpAnswer {
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
            http_answer(&first, &ignore).without_start(),
            http_answer(&second, &ignore).without_start()
        );
        let other_type = reply(200, &[("Content-Type", "text/plain")], r#"{"ok": true}"#);
        assert_ne!(
            http_answer(&first, &ignore).without_start(),
            http_answer(&other_type, &ignore).without_start()
        );
        // Nothing ignored: the raw bytes count.
        let none = Ignore::default();
        assert_ne!(http_answer(&first, &none), http_answer(&second, &none));
    }

    impl Answer {
        fn without_start(mut self) -> Answer {
            if let Answer::Http {
                body_start,
                body_bytes,
                ..
            } = &mut self
            {
                body_start.clear();
                *body_bytes = 0;
            }
            self
        }
    }

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

    #[test]
    fn host_commands_run_with_a_deadline_and_interleaved_output() {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(
            run_with_deadline(command, Duration::from_secs(10)).unwrap(),
            (3, "out\nerr\n".to_string())
        );
        let mut slow = std::process::Command::new("sleep");
        slow.arg("5");
        let started = Instant::now();
        assert!(run_with_deadline(slow, Duration::from_millis(200))
            .unwrap_err()
            .contains("killed"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
