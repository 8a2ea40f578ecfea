//! The wire format between the rslim controller and the in-container sensor.
//!
//! The controller writes a [`SensorConfig`] to [`CONFIG_PATH`] inside the
//! created container, the sensor runs the application under fanotify and
//! writes [`Findings`] to [`FINDINGS_PATH`]. This library is serde only so the
//! controller can depend on it without pulling in the sensor's system code.

pub mod seal;
pub mod tree;

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// Directory inside the container that holds everything rslim puts there.
pub const SENSOR_DIR: &str = "/.rslim";
/// Where the controller uploads the static sensor binary.
pub const SENSOR_PATH: &str = "/.rslim/sensor";
/// How the controller runs the sensor in a running container (the
/// `--listening` check, exec steps, the healthcheck): through PID 1's own
/// executable. A root app could replace the file at [`SENSOR_PATH`], but not
/// the one PID 1 runs: the kernel resolves /proc/1/exe only for a process that
/// holds every capability PID 1 holds, and the app has lost CAP_SYS_ADMIN.
pub const SENSOR_EXE: &str = "/proc/1/exe";
/// Where the controller uploads the key that seals the findings (see
/// [`seal`]); the sensor removes it before the app starts.
pub const KEY_PATH: &str = "/.rslim/key";
/// Where the controller uploads the [`SensorConfig`] as JSON.
pub const CONFIG_PATH: &str = "/.rslim/config.json";
/// Where the sensor leaves the [`Findings`] as JSON before it exits.
pub const FINDINGS_PATH: &str = "/.rslim/findings.json";
/// Where the controller renews its heartbeat (see [`seal::heartbeat`]).
pub const HEARTBEAT_PATH: &str = "/.rslim/heartbeat";
/// The name of [`HEARTBEAT_PATH`] in [`SENSOR_DIR`], for the upload.
pub const HEARTBEAT_FILE: &str = "heartbeat";

/// What the sensor should run, and how.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SensorConfig {
    /// The application's command line (entrypoint + cmd); argv[0] is looked up in PATH when it has no slash.
    pub argv: Vec<String>,
    /// The image's USER: `name`, `uid`, `name:group` or `uid:gid`; root when absent.
    pub user: Option<String>,
    /// The image's WORKDIR; the container's working directory when absent.
    pub workdir: Option<String>,
    /// Extra mount points (the image's VOLUMEs) to watch with mount marks.
    pub mount_marks: Vec<String>,
    /// How long the application may take to exit after a stop signal before it is killed.
    pub stop_grace_secs: u64,
    /// Whether the image's Env sets HOME. When it does not, the sensor sets HOME
    /// to the user's home from /etc/passwd (`/` without an entry), as Docker would
    /// for a container run as that user: Docker gives the sensor's root container HOME=/root.
    #[serde(default)]
    pub image_sets_home: bool,
    /// The image's StopSignal (e.g. `SIGWINCH` or `28`) when it is not one of
    /// TERM, INT or QUIT, which always start the stop protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Record the paths the app looks up with stat, access and readlink
    /// (needs CAP_SYS_PTRACE in the container besides CAP_SYS_ADMIN).
    #[serde(default)]
    pub trace_lookups: bool,
    /// Seconds the sensor lets the app run without a new heartbeat from the
    /// controller (at [`HEARTBEAT_PATH`]) before it ends the app as if it had
    /// been stopped, writes the findings and exits: a controller killed with
    /// SIGKILL leaves no running container behind for longer. 0: no limit.
    #[serde(default)]
    pub heartbeat_timeout_secs: u64,
}

/// What the sensor saw. Every list is sorted and free of duplicates.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Findings {
    /// Every non-directory that was opened (including the executed ones).
    pub files: Vec<WirePath>,
    /// Every directory that was opened (listed, or used as an `openat` base).
    pub dirs: Vec<WirePath>,
    /// Files opened for execution: programs, and interpreters loaded by the kernel.
    pub executed: Vec<WirePath>,
    /// Paths looked up (stat, access, readlink) by the app, whether they exist
    /// or not, absolute but not resolved: empty unless `trace_lookups`.
    #[serde(default)]
    pub looked_up: Vec<WirePath>,
    /// Lookup notifications answered, and lookups not recorded past the cap.
    #[serde(default)]
    pub lookups: u64,
    #[serde(default)]
    pub lookups_dropped: u64,
    /// Process ids (in the container's pid namespace) that caused events.
    pub pids: Vec<i32>,
    /// Number of fanotify events read.
    pub events: u64,
    /// Number of queue overflows: non-zero means accesses were lost.
    pub overflows: u64,
    /// `"filesystem"` or `"mount"`: which kind of mark watched the root.
    pub mark: String,
    /// Whether a stop signal arrived (the application did not exit on its own).
    pub stop_requested: bool,
    /// The controller's heartbeat stopped: the sensor ended the app itself
    /// (`stop_requested` is set too).
    #[serde(default)]
    pub abandoned: bool,
    /// How the application ended.
    pub app: AppOutcome,
    /// Problems that did not stop the run (e.g. a volume that could not be marked).
    pub errors: Vec<String>,
}

/// How the application ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AppOutcome {
    Exited { code: i32 },
    Signaled { signal: i32 },
    NotStarted { error: String },
}

impl AppOutcome {
    /// The exit status a shell would report for this outcome.
    pub fn exit_code(&self, not_started: i32) -> i32 {
        match self {
            AppOutcome::Exited { code } => *code,
            AppOutcome::Signaled { signal } => 128 + signal,
            AppOutcome::NotStarted { .. } => not_started,
        }
    }
}

/// A path as raw bytes: Linux paths need not be UTF-8. UTF-8 paths travel as
/// JSON strings, anything else as an array of bytes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(untagged)]
pub enum WirePath {
    Text(String),
    Bytes(Vec<u8>),
}

impl WirePath {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(text) => WirePath::Text(text),
            Err(err) => WirePath::Bytes(err.into_bytes()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            WirePath::Text(text) => text.as_bytes(),
            WirePath::Bytes(bytes) => bytes,
        }
    }

    pub fn to_path_buf(&self) -> PathBuf {
        PathBuf::from(OsString::from_vec(self.as_bytes().to_vec()))
    }
}

impl From<&std::path::Path> for WirePath {
    fn from(path: &std::path::Path) -> Self {
        WirePath::from_bytes(path.as_os_str().as_bytes().to_vec())
    }
}

/// An exec step or the healthcheck, run by `rslim-sensor exec` with the app's confinement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The user to run as, in `docker exec --user` syntax.
    pub user: String,
    /// Keep HOME as it is (the image sets it) instead of the user's home.
    pub keep_home: bool,
    pub command: Vec<String>,
}

impl ExecRequest {
    /// The `docker exec` argv (run as root) that has the sensor run this request.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = vec![
            SENSOR_EXE.to_string(),
            "exec".to_string(),
            "--user".to_string(),
            self.user.clone(),
        ];
        if self.keep_home {
            argv.push("--keep-home".to_string());
        }
        argv.push("--".to_string());
        argv.extend(self.command.iter().cloned());
        argv
    }

    /// Parses what follows `exec` in [`ExecRequest::to_argv`].
    pub fn parse(args: &[String]) -> Result<ExecRequest, String> {
        let mut user = None;
        let mut keep_home = false;
        let mut rest = args.iter();
        loop {
            match rest.next().map(String::as_str) {
                Some("--user") => {
                    user = Some(rest.next().ok_or("--user needs a value")?.clone());
                }
                Some("--keep-home") => keep_home = true,
                Some("--") => break,
                Some(other) => return Err(format!("exec: unknown argument {other:?}")),
                None => return Err("exec: the command must follow --".into()),
            }
        }
        let command: Vec<String> = rest.cloned().collect();
        if command.is_empty() {
            return Err("exec: no command after --".into());
        }
        Ok(ExecRequest {
            user: user.unwrap_or_else(|| "0".into()),
            keep_home,
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_findings() -> Findings {
        Findings {
            files: vec![
                WirePath::from_bytes(b"/etc/os-release".to_vec()),
                WirePath::from_bytes(b"/srv/caf\xe9.txt".to_vec()),
            ],
            dirs: vec![WirePath::from_bytes(b"/usr/share".to_vec())],
            executed: vec![WirePath::from_bytes(b"/usr/bin/cat".to_vec())],
            looked_up: vec![WirePath::from_bytes(b"/etc/app.conf".to_vec())],
            lookups: 3,
            lookups_dropped: 0,
            pids: vec![7, 9],
            events: 42,
            overflows: 0,
            mark: "filesystem".into(),
            stop_requested: true,
            abandoned: false,
            app: AppOutcome::Signaled { signal: 15 },
            errors: vec!["cannot mark /data: ENOENT".into()],
        }
    }

    #[test]
    fn exec_requests_round_trip_through_argv() {
        let request = ExecRequest {
            user: "app:staff".into(),
            keep_home: true,
            command: vec!["sh".into(), "-c".into(), "echo --user -- x".into()],
        };
        let argv = request.to_argv();
        assert_eq!(argv[0], SENSOR_EXE);
        assert_eq!(argv[1], "exec");
        assert_eq!(ExecRequest::parse(&argv[2..]).unwrap(), request);
        let plain = ExecRequest {
            keep_home: false,
            ..request
        };
        assert_eq!(ExecRequest::parse(&plain.to_argv()[2..]).unwrap(), plain);
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ExecRequest::parse(&strings(&["--user", "1", "--"])).is_err());
        assert!(ExecRequest::parse(&strings(&["--user"])).is_err());
        assert!(ExecRequest::parse(&strings(&["--bogus", "--", "true"])).is_err());
        assert_eq!(
            ExecRequest::parse(&strings(&["--", "true"])).unwrap().user,
            "0"
        );
    }

    #[test]
    fn utf8_paths_are_strings_and_others_bytes() {
        assert_eq!(
            WirePath::from_bytes(b"/etc/passwd".to_vec()),
            WirePath::Text("/etc/passwd".into())
        );
        let latin1 = WirePath::from_bytes(b"/srv/caf\xe9".to_vec());
        assert_eq!(latin1, WirePath::Bytes(b"/srv/caf\xe9".to_vec()));
        assert_eq!(latin1.as_bytes(), b"/srv/caf\xe9");
        assert_eq!(latin1.to_path_buf().as_os_str().as_bytes(), b"/srv/caf\xe9");
    }

    #[test]
    fn findings_round_trip_through_json_with_a_non_utf8_path() {
        let findings = sample_findings();
        let json = serde_json::to_string(&findings).unwrap();
        assert!(json.contains(r#""/etc/os-release""#), "{json}");
        assert!(
            json.contains("[47,115,114,118,47,99,97,102,233,46,116,120,116]"),
            "{json}"
        );
        assert!(
            json.contains(r#""outcome":"signaled","signal":15"#),
            "{json}"
        );
        let back: Findings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, findings);
    }

    #[test]
    fn app_outcomes_are_tagged_and_map_to_exit_codes() {
        let not_started: AppOutcome =
            serde_json::from_str(r#"{"outcome":"not_started","error":"no such file"}"#).unwrap();
        assert_eq!(
            not_started,
            AppOutcome::NotStarted {
                error: "no such file".into()
            }
        );
        assert_eq!(not_started.exit_code(127), 127);
        assert_eq!(AppOutcome::Exited { code: 3 }.exit_code(127), 3);
        assert_eq!(AppOutcome::Signaled { signal: 9 }.exit_code(127), 137);
    }

    #[test]
    fn config_round_trips_and_stop_signal_is_optional() {
        let config: SensorConfig = serde_json::from_str(
            r#"{"argv":["nginx","-g","daemon off;"],"user":"101:101","workdir":null,
                "mount_marks":["/var/cache/nginx"],"stop_grace_secs":5}"#,
        )
        .unwrap();
        assert_eq!(config.argv[0], "nginx");
        assert_eq!(config.user.as_deref(), Some("101:101"));
        assert_eq!(config.stop_signal, None);
        let with_signal = SensorConfig {
            stop_signal: Some("SIGWINCH".into()),
            ..config.clone()
        };
        let back: SensorConfig =
            serde_json::from_str(&serde_json::to_string(&with_signal).unwrap()).unwrap();
        assert_eq!(back, with_signal);
        assert_ne!(back, config);
    }
}
