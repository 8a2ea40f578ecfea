//! Helpers for the end-to-end tests: the real rslim binary, the real Docker
//! daemon (or Podman's service, through [`Engine`]), the fixture images
//! `scripts/setup` builds.
#![allow(dead_code)]

pub mod routes;

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Builds share the daemon and the leftover checks look at all of it, so
/// the tests of one binary run one at a time.
static DAEMON: Mutex<()> = Mutex::new(());

pub fn exclusive() -> MutexGuard<'static, ()> {
    DAEMON.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which engine a helper talks to. `Docker` is whatever the environment
/// names (DOCKER_HOST, else the local daemon), as it always was; `Podman` is
/// the rootful service `scripts/setup` starts, which the docker CLI and rslim
/// both reach through DOCKER_HOST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

/// Podman's rootful service socket, started by `scripts/setup`.
pub const PODMAN_SOCKET: &str = "/run/podman/podman.sock";

impl Engine {
    /// `program` with its environment pointed at this engine.
    pub fn command(self, program: &str) -> Command {
        let mut command = Command::new(program);
        if self == Engine::Podman {
            command
                .env("DOCKER_HOST", format!("unix://{PODMAN_SOCKET}"))
                .env_remove("CONTAINER_HOST")
                .env_remove("RSLIM_ENGINE");
        }
        command
    }

    pub fn rslim(self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_rslim"))
            .args(args)
            .output()
            .expect("cannot run rslim")
    }

    pub fn docker(self, args: &[&str]) -> Output {
        self.command("docker")
            .args(args)
            .output()
            .expect("cannot run docker")
    }

    pub fn docker_ok(self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} ({self:?}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The image must exist: `scripts/setup` builds every fixture (and
    /// copies the ones tests/podman.rs uses into Podman).
    pub fn require_image(self, image: &str) {
        assert!(
            self.docker(&["image", "inspect", image]).status.success(),
            "fixture image {image} is missing from {self:?}: run scripts/setup first"
        );
    }

    pub fn daemon_state(self) -> DaemonState {
        let lines = |out: String| out.lines().map(str::to_string).collect();
        DaemonState {
            containers: lines(self.docker_ok(&[
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                &format!("label={OWNER_LABEL}"),
            ])),
            volumes: lines(self.docker_ok(&["volume", "ls", "-q"])),
        }
    }

    /// Runs rslim and checks the engine holds exactly what it held before
    /// (images aside) — on success and on failure alike.
    pub fn rslim_leaving_nothing(self, args: &[&str]) -> Output {
        let before = self.daemon_state();
        let out = self.rslim(args);
        let after = self.daemon_state();
        assert_eq!(
            before,
            after,
            "rslim {args:?} ({self:?}) left containers or volumes behind; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `image` with `port` published on 127.0.0.1, asks each path with
    /// curl, and removes the container (and its volumes) again.
    pub fn answers(self, image: &str, port: u16, paths: &[&str]) -> Vec<Answer> {
        let publish = format!("127.0.0.1::{port}");
        let id = self.docker_ok(&["run", "-d", "-p", &publish, image]);
        let result = std::panic::catch_unwind(|| {
            let host_port = self
                .docker_ok(&["port", &id, &port.to_string()])
                .lines()
                .next()
                .and_then(|l| l.rsplit(':').next())
                .expect("no published port")
                .to_string();
            self.wait_for_http(&host_port, &id);
            paths
                .iter()
                .map(|path| curl(&host_port, path))
                .collect::<Vec<_>>()
        });
        self.docker_ok(&["rm", "-fv", &id]);
        result.unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    fn wait_for_http(self, host_port: &str, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if curl(host_port, "/").status != "000" {
                return;
            }
            if Instant::now() > deadline {
                let logs = self.docker(&["logs", id]);
                panic!(
                    "{id} never answered HTTP; logs:\n{}{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `Config` of an image as the engine reports it.
    pub fn image_config(self, image: &str) -> serde_json::Value {
        let text = self.docker_ok(&["image", "inspect", "--format", "{{json .Config}}", image]);
        serde_json::from_str(&text).unwrap()
    }

    pub fn image_size(self, image: &str) -> u64 {
        self.docker_ok(&["image", "inspect", "--format", "{{.Size}}", image])
            .parse()
            .unwrap()
    }

    pub fn remove_image(self, image: &str) {
        let _ = self.docker(&["image", "rm", "-f", image]);
    }

    /// Runs `rslim build IMAGE --tag TAG --report R EXTRA...`, checking that it
    /// leaves nothing behind; returns the exit code, stderr and the report (if
    /// one was written).
    pub fn run_build(
        self,
        image: &str,
        tag: &str,
        extra: &[&str],
    ) -> (Option<i32>, String, Option<serde_json::Value>) {
        self.require_image(image);
        let dir = tempfile::tempdir().unwrap();
        let report_path = dir.path().join("report.json");
        let mut args = vec![
            "build",
            image,
            "--tag",
            tag,
            "--report",
            report_path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = self.rslim_leaving_nothing(&args);
        let report = std::fs::read(&report_path)
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).expect("the report is not JSON"));
        (out.status.code(), stderr(&out), report)
    }
}

pub fn rslim(args: &[&str]) -> Output {
    Engine::Docker.rslim(args)
}

pub fn docker(args: &[&str]) -> Output {
    Engine::Docker.docker(args)
}

pub fn docker_ok(args: &[&str]) -> String {
    Engine::Docker.docker_ok(args)
}

/// The image must exist: `scripts/setup` builds every fixture.
pub fn require_image(image: &str) {
    Engine::Docker.require_image(image)
}

/// The label rslim puts on every container it creates.
pub const OWNER_LABEL: &str = "io.rslim.owner";

/// rslim's containers and all volumes on the daemon, to show a run left
/// nothing behind. (Containers are matched by rslim's label so that other
/// work on the same daemon does not make the check flaky.)
#[derive(Debug, PartialEq, Eq)]
pub struct DaemonState {
    pub containers: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
}

pub fn daemon_state() -> DaemonState {
    Engine::Docker.daemon_state()
}

/// Runs rslim and checks the daemon holds exactly what it held before
/// (images aside) — on success and on failure alike.
pub fn rslim_leaving_nothing(args: &[&str]) -> Output {
    Engine::Docker.rslim_leaving_nothing(args)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An HTTP answer reduced to what must match: status and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub path: String,
    pub status: String,
    pub body: Vec<u8>,
}

/// Starts `image` with `port` published on 127.0.0.1, asks each path with
/// curl, and removes the container (and its volumes) again.
pub fn answers(image: &str, port: u16, paths: &[&str]) -> Vec<Answer> {
    Engine::Docker.answers(image, port, paths)
}

fn curl(host_port: &str, path: &str) -> Answer {
    let url = format!("http://127.0.0.1:{host_port}{path}");
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "5",
            &url,
        ])
        .output()
        .expect("cannot run curl");
    let mut body = out.stdout;
    let split = body.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&body[split..]).trim().to_string();
    body.truncate(split);
    Answer {
        path: path.to_string(),
        status,
        body,
    }
}

/// The `Config` of an image as the daemon reports it.
pub fn image_config(image: &str) -> serde_json::Value {
    Engine::Docker.image_config(image)
}

pub fn image_size(image: &str) -> u64 {
    Engine::Docker.image_size(image)
}

pub fn remove_image(image: &str) {
    Engine::Docker.remove_image(image)
}

/// Runs `rslim build IMAGE --tag TAG --report R EXTRA...`, checking that it
/// leaves nothing behind; returns the exit code, stderr and the report (if
/// one was written).
pub fn run_build(
    image: &str,
    tag: &str,
    extra: &[&str],
) -> (Option<i32>, String, Option<serde_json::Value>) {
    Engine::Docker.run_build(image, tag, extra)
}
