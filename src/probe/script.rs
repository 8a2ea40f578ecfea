//! Probe files: JSON lists of steps (HTTP requests, commands in the
//! container or on the host, waits) that exercise an app while it is
//! profiled, and again when `--verify` checks the slim image. docs/probes.md
//! describes the format.
//!
//! Every file is read and checked (syntax, unknown fields, ports the image
//! does not expose, missing body files) before any container starts, and
//! every error names the file, and the line and field where it can.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ExitKind, Failure, Result};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    pub steps: Vec<Step>,
    #[serde(default)]
    pub ignore: Ignore,
}

/// Volatile parts of answers that `--verify` does not compare.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// Header names (any case), on top of the always-ignored volatile ones.
    #[serde(default)]
    pub headers: Vec<String>,
    /// JSON Pointers (RFC 6901) removed from JSON bodies before hashing.
    #[serde(default)]
    pub json_fields: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Http(HttpStep),
    Exec(CommandStep),
    HostExec(CommandStep),
    Wait(WaitStep),
    /// A fresh container of the image with these args (src/probe/run.rs).
    Run(RunStep),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    /// Container port; filled in with the image's first exposed port when absent.
    pub port: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Relative to the probe file's directory; read when the file is loaded.
    pub body_file: Option<PathBuf>,
    #[serde(default)]
    pub expect: HttpExpect,
    /// The request body, from `body` or `body_file`.
    #[serde(skip)]
    pub body_bytes: Vec<u8>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    /// JSON Pointer → the value the body must hold there.
    #[serde(default)]
    pub json: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    /// argv; no shell unless you name one (`["sh", "-c", "..."]`).
    pub cmd: Vec<String>,
    #[serde(default)]
    pub expect: CommandExpect,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandExpect {
    pub exit: Option<i64>,
    pub output_contains: Option<String>,
}

/// `docker run IMAGE ARGS...` under the sensor: the args replace CMD, the
/// ENTRYPOINT stays; the answer is the exit code and the logged output.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunStep {
    /// Replace the image's CMD; empty keeps it, as `docker run IMAGE` does.
    #[serde(default)]
    pub args: Vec<String>,
    /// Added to the image's environment (`docker run -e NAME=value`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: CommandExpect,
}

impl RunStep {
    /// `NAME=value` pairs, as the engine takes them.
    pub fn env_pairs(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    pub seconds: f64,
}

fn default_method() -> String {
    "GET".into()
}

impl Step {
    /// A one-line description: `GET /db (port 8000)`, `exec sh -c ...`.
    pub fn describe(&self) -> String {
        match self {
            Step::Http(h) => match h.port {
                Some(port) => format!("{} {} (port {port})", h.method, h.path),
                None => format!("{} {}", h.method, h.path),
            },
            Step::Exec(c) => format!("exec {}", c.cmd.join(" ")),
            Step::HostExec(c) => format!("host-exec {}", c.cmd.join(" ")),
            Step::Wait(w) => format!("wait {}s", w.seconds),
            Step::Run(r) => {
                let mut text = String::from("run");
                for arg in &r.args {
                    text.push(' ');
                    text += &quoted(arg);
                }
                if r.args.is_empty() {
                    text += " (the image's CMD)";
                }
                if !r.env.is_empty() {
                    let env: Vec<String> = r.env_pairs().iter().map(|kv| quoted(kv)).collect();
                    text += &format!(" (env {})", env.join(" "));
                }
                text
            }
        }
    }

    pub fn wait_time(&self) -> Option<Duration> {
        match self {
            Step::Wait(w) => Some(Duration::from_secs_f64(w.seconds)),
            _ => None,
        }
    }
}

impl HttpStep {
    pub fn get(path: &str, port: u16) -> HttpStep {
        HttpStep {
            method: default_method(),
            path: path.to_string(),
            port: Some(port),
            headers: BTreeMap::new(),
            body: None,
            body_file: None,
            expect: HttpExpect::default(),
            body_bytes: Vec::new(),
        }
    }
}

/// Reads and checks a probe file against the image's exposed TCP ports.
pub fn load(path: &Path, exposed: &[u16]) -> Result<ProbeFile> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::msg(
            ExitKind::Usage,
            format!("cannot read probe file {shown}: {e}"),
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    check(&text, &shown.to_string(), base, exposed)
}

/// Parses and checks the text of a probe file: `shown` names it in errors,
/// body files are read relative to `base`.
pub fn check(text: &str, shown: &str, base: &Path, exposed: &[u16]) -> Result<ProbeFile> {
    let mut file = parse(text).map_err(|e| usage(format!("probe file {shown}: {e}")))?;
    let mut explicit_ports = 0;
    for (index, step) in file.steps.iter_mut().enumerate() {
        let at = format!(
            "probe file {shown}, step {} ({})",
            index + 1,
            step.describe()
        );
        match step {
            Step::Http(http) => {
                if let Some(port) = http.port {
                    let line = nth_key_line(text, "port", explicit_ports);
                    explicit_ports += 1;
                    check_port(port, exposed)
                        .map_err(|e| usage(format!("{at}, line {line}, field `port`: {e}")))?;
                }
                resolve_http(http, base, exposed).map_err(|e| usage(format!("{at}: {e}")))?;
            }
            Step::Exec(c) | Step::HostExec(c) if c.cmd.is_empty() => {
                return Err(usage(format!("{at}: field `cmd` is empty")));
            }
            Step::Run(r) => check_run(r).map_err(|e| usage(format!("{at}: {e}")))?,
            Step::Wait(w) if !(0.0..=3600.0).contains(&w.seconds) => {
                return Err(usage(format!(
                    "{at}: field `seconds` must be between 0 and 3600"
                )));
            }
            _ => {}
        }
    }
    for pointer in &file.ignore.json_fields {
        if !pointer.starts_with('/') {
            return Err(usage(format!(
                "probe file {shown}: field `ignore.json_fields`: {pointer:?} is not a JSON Pointer (it must start with `/`)"
            )));
        }
    }
    Ok(file)
}

/// Parses probe-file text; errors read `line L, column C: <what serde saw>`.
pub fn parse(text: &str) -> std::result::Result<ProbeFile, String> {
    serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let what = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(what, _)| what);
        format!("line {}, column {}: {what}", e.line(), e.column())
    })
}

/// `GET /path` or `POST /path` from `--http-probe-cmd`, on the first exposed port.
pub fn http_one_liner(text: &str, exposed: &[u16]) -> Result<HttpStep> {
    let bad = || {
        usage(format!(
            "--http-probe-cmd {text:?}: expected `METHOD /path` or `/path`, e.g. `GET /health`"
        ))
    };
    let mut words = text.split_whitespace();
    let (method, path) = match (words.next(), words.next(), words.next()) {
        (Some(path), None, None) if path.starts_with('/') => ("GET", path),
        (Some(method), Some(path), None) if path.starts_with('/') => (method, path),
        _ => return Err(bad()),
    };
    if !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad());
    }
    let port = first_port(exposed).map_err(|e| usage(format!("--http-probe-cmd {text:?}: {e}")))?;
    let mut step = HttpStep::get(path, port);
    step.method = method.to_string();
    Ok(step)
}

fn resolve_http(
    http: &mut HttpStep,
    base: &Path,
    exposed: &[u16],
) -> std::result::Result<(), String> {
    if !http.path.starts_with('/') {
        return Err(format!(
            "field `path` must start with `/`, not {:?}",
            http.path
        ));
    }
    if http.port.is_none() {
        http.port = Some(first_port(exposed)?);
    }
    http.body_bytes = match (&http.body, &http.body_file) {
        (Some(_), Some(_)) => return Err("give `body` or `body_file`, not both".into()),
        (Some(body), None) => body.clone().into_bytes(),
        (None, Some(file)) => {
            let full = base.join(file);
            std::fs::read(&full)
                .map_err(|e| format!("field `body_file`: cannot read {}: {e}", full.display()))?
        }
        (None, None) => Vec::new(),
    };
    for pointer in http.expect.json.keys() {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "field `expect.json`: {pointer:?} is not a JSON Pointer (it must start with `/`)"
            ));
        }
    }
    Ok(())
}

/// What the engine would refuse, refused here with the field named.
pub fn check_run(run: &RunStep) -> std::result::Result<(), String> {
    if let Some(name) = run
        .env
        .keys()
        .find(|name| name.is_empty() || name.contains(['=', '\0']))
    {
        return Err(format!(
            "field `env`: {name:?} is not a variable name (empty, or holds `=` or NUL)"
        ));
    }
    let nul = |text: &String| text.contains('\0');
    if run.args.iter().any(nul) || run.env.values().any(nul) {
        return Err("fields `args` and `env` cannot hold NUL characters".into());
    }
    Ok(())
}

/// An argument as a shell would need it written, for descriptions.
fn quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_=./:,@%+".contains(c);
    match !arg.is_empty() && arg.chars().all(plain) {
        true => arg.to_string(),
        false => format!("'{}'", arg.replace('\'', "'\\''")),
    }
}

fn first_port(exposed: &[u16]) -> std::result::Result<u16, String> {
    exposed.first().copied().ok_or_else(|| {
        "the image exposes no TCP port, so there is nothing to send HTTP to".to_string()
    })
}

fn check_port(port: u16, exposed: &[u16]) -> std::result::Result<(), String> {
    if exposed.contains(&port) {
        return Ok(());
    }
    let list: Vec<String> = exposed.iter().map(u16::to_string).collect();
    Err(match list.is_empty() {
        true => format!("the image exposes no TCP port, so port {port} cannot be probed"),
        false => format!(
            "port {port} is not exposed by the image (it exposes {}); give a container port",
            list.join(", ")
        ),
    })
}

/// The line of the `n`-th (0-based) `"key":` in the text, for messages.
fn nth_key_line(text: &str, key: &str, n: usize) -> usize {
    let quoted = format!("\"{key}\"");
    text.match_indices(&quoted)
        .filter(|(at, _)| {
            text[at + quoted.len()..].trim_start().starts_with(':') && !text[..*at].ends_with('\\')
        })
        .nth(n)
        .map_or(0, |(at, _)| text[..at].matches('\n').count() + 1)
}

fn usage(message: String) -> Failure {
    Failure::msg(ExitKind::Usage, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn loads_every_kind_of_step_and_fills_in_defaults() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "payload.json", "{\"a\": 1}");
        let path = write(
            dir.path(),
            "probe.json",
            r#"{"steps": [
                {"http": {"path": "/json", "expect": {"status": 200, "json": {"/ok": true}}}},
                {"http": {"method": "POST", "path": "/echo", "port": 9000, "body_file": "payload.json"}},
                {"exec": {"cmd": ["python3", "-c", "import sqlite3"], "expect": {"exit": 0}}},
                {"host_exec": {"cmd": ["true"]}},
                {"wait": {"seconds": 0.5}}
            ], "ignore": {"headers": ["x-request-id"], "json_fields": ["/time"]}}"#,
        );
        let file = load(&path, &[8000, 9000]).unwrap();
        assert_eq!(file.steps.len(), 5);
        let Step::Http(first) = &file.steps[0] else {
            panic!()
        };
        assert_eq!((first.method.as_str(), first.port), ("GET", Some(8000)));
        assert_eq!(first.expect.json["/ok"], serde_json::json!(true));
        let Step::Http(second) = &file.steps[1] else {
            panic!()
        };
        assert_eq!(second.body_bytes, b"{\"a\": 1}");
        assert_eq!(file.steps[4].wait_time(), Some(Duration::from_millis(500)));
        assert_eq!(file.ignore.json_fields, ["/time"]);
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "bad.json",
            "{\"steps\": [\n  {\"http\": {\"path\": \"/\"}}\n  {\"wait\": {\"seconds\": 1}}\n]}",
        );
        let error = load(&path, &[80]).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("probe file {}: line 3", path.display())),
            "{error}"
        );
    }

    #[test]
    fn unknown_fields_and_step_kinds_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "typo.json",
            "{\"steps\": [\n{\"http\": {\"path\": \"/\",\n \"expect\": {\"stauts\": 200}}}]}",
        );
        let failure = load(&path, &[80]).unwrap_err();
        assert_eq!(failure.kind, ExitKind::Usage);
        let error = failure.to_string();
        assert!(
            error.contains("line 3") && error.contains("unknown field `stauts`"),
            "{error}"
        );
        let path = write(
            dir.path(),
            "kind.json",
            r#"{"steps": [{"shell": {"cmd": ["ls"]}}]}"#,
        );
        let error = load(&path, &[80]).unwrap_err().to_string();
        assert!(error.contains("unknown variant `shell`"), "{error}");
    }

    #[test]
    fn a_port_the_image_does_not_expose_names_step_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "port.json",
            "{\"steps\": [\n {\"http\": {\"path\": \"/\", \"port\": 80}},\n {\"http\": {\"path\": \"/x\",\n   \"port\": 8080}}]}",
        );
        let error = load(&path, &[80]).unwrap_err().to_string();
        assert!(
            error.contains("step 2 (GET /x (port 8080)), line 4, field `port`: port 8080 is not exposed by the image (it exposes 80)"),
            "{error}"
        );
    }

    #[test]
    fn missing_body_files_and_empty_commands_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "b.json",
            r#"{"steps": [{"http": {"path": "/", "body_file": "nope.bin"}}]}"#,
        );
        let error = load(&path, &[80]).unwrap_err().to_string();
        assert!(error.contains("field `body_file`: cannot read"), "{error}");
        let path = write(
            dir.path(),
            "c.json",
            r#"{"steps": [{"exec": {"cmd": []}}]}"#,
        );
        assert!(load(&path, &[80])
            .unwrap_err()
            .to_string()
            .contains("field `cmd` is empty"));
    }

    #[test]
    fn reads_http_one_liners() {
        let step = http_one_liner("POST /items", &[8000]).unwrap();
        assert_eq!(
            (step.method.as_str(), step.path.as_str(), step.port),
            ("POST", "/items", Some(8000))
        );
        assert_eq!(http_one_liner("/db", &[8000]).unwrap().method, "GET");
        assert!(http_one_liner("GET db", &[8000]).is_err());
        assert!(http_one_liner("GET /", &[]).is_err());
    }
}
