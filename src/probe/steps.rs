//! Running one probe step against a running container (HTTP from the host,
//! `docker exec` inside, commands on the host, waits) and reducing what came
//! back to an [`Answer`].

use std::io::{Read, Seek};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::answer::{http_answer, shorten, Answer};
use super::expect::{command_unmet, http_unmet};
use super::http::{self, Reply, Request};
use super::script::{CommandStep, HttpStep, Ignore, Step};
use crate::docker::Docker;
use crate::sensor::ExecVia;

/// Longest a request or a command may take before it counts as no answer.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running container, from the outside (HTTP, host commands) and the
/// inside (`docker exec` as the image's user).
pub struct Endpoint<'a> {
    pub docker: &'a Docker,
    pub container: &'a str,
    /// The image's USER (or `0`), for exec steps.
    pub user: String,
    /// How exec steps reach the container.
    pub exec_via: ExecVia,
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
        // Plans keep these apart: each gets a container of its own (run.rs).
        Step::Run(_) => {
            let error = "a run step needs a container of its own".to_string();
            (
                Answer::NoAnswer {
                    error: error.clone(),
                },
                Some(error),
            )
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

async fn exec_step(step: &CommandStep, at: &Endpoint<'_>) -> Answer {
    let (user, argv) = at.exec_via.wrap(&at.user, &step.cmd);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    match tokio::time::timeout(STEP_TIMEOUT, at.docker.exec(at.container, &argv, &user)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

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
