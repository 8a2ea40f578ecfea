//! Helpers for the end-to-end tests: the real rslim binary, the real Docker
//! daemon (or Podman's service, through [`Engine`]), the fixture images
//! `scripts/setup` builds.
#![allow(dead_code)]

pub mod crash;
pub mod registry;
pub mod routes;
pub mod schema;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};
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

    /// rslim's containers (by its owner label), their volumes and rslim's
    /// labelled volumes, and the temporary tags: nothing else on the engine
    /// (other work's containers and volumes come and go) is counted.
    pub fn daemon_state(self) -> DaemonState {
        self.rslim_state(|_| true)
    }

    /// [`Engine::daemon_state`] restricted to what the rslim process `pid`
    /// of this machine made: what one run left behind, whatever other rslim
    /// runs on the same engine are doing meanwhile.
    pub fn leftovers_of(self, pid: u32) -> DaemonState {
        let here = Machine::current();
        self.rslim_state(|owner| owner.host == here.host && owner.pid == pid)
    }

    fn rslim_state(self, mine: impl Fn(&OwnerLabel) -> bool) -> DaemonState {
        let label = format!("label={OWNER_LABEL}");
        let owner_format = format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
        let owned = |listing: String| -> Vec<String> {
            listing
                .lines()
                .filter_map(|line| {
                    let (name, owner) = line.split_once(' ')?;
                    mine(&OwnerLabel::parse(owner)?).then(|| name.to_string())
                })
                .collect()
        };
        let containers = owned(self.docker_ok(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &label,
            "--format",
            &owner_format,
        ]));
        let volume_format = format!("{{{{.Name}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
        let mut volumes: BTreeSet<String> = owned(self.docker_ok(&[
            "volume",
            "ls",
            "--filter",
            &label,
            "--format",
            &volume_format,
        ]))
        .into_iter()
        .collect();
        // Podman does not label the volumes: those of the containers count.
        if !containers.is_empty() {
            let mut args = vec![
                "container",
                "inspect",
                "--format",
                "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
            ];
            args.extend(containers.iter().map(String::as_str));
            // A container removed meanwhile fails the inspect: its volumes went with it.
            let out = self.docker(&args);
            volumes.extend(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_string),
            );
        }
        let tags = self
            .docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .filter(|tag| {
                temp_tag_owner(tag).is_some_and(|(machine, pid)| {
                    mine(&OwnerLabel {
                        host: if machine == Machine::current().token_machine() {
                            Machine::current().host.clone()
                        } else {
                            String::new()
                        },
                        pid,
                    })
                })
            })
            .map(str::to_string)
            .collect();
        DaemonState {
            containers: containers.into_iter().collect(),
            volumes,
            tags,
        }
    }

    /// Runs rslim and checks that it left nothing of its own on the engine
    /// (no container, volume or temporary tag of its pid): on success and
    /// on failure alike.
    pub fn rslim_leaving_nothing(self, args: &[&str]) -> Output {
        self.rslim_leaving_nothing_with(args, &[])
    }

    /// As [`Engine::rslim_leaving_nothing`], with `env` set for rslim.
    pub fn rslim_leaving_nothing_with(self, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
        let child = self
            .command(env!("CARGO_BIN_EXE_rslim"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run rslim");
        let pid = child.id();
        let out = child.wait_with_output().expect("cannot wait for rslim");
        let left = self.leftovers_of(pid);
        assert!(
            left.is_empty(),
            "rslim {args:?} ({self:?}) left {left:?} behind; stderr:\n{}",
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
        self.run_build_with(image, tag, extra, &[])
    }

    /// As [`Engine::run_build`], with `env` set for rslim.
    pub fn run_build_with(
        self,
        image: &str,
        tag: &str,
        extra: &[&str],
        env: &[(&str, &OsStr)],
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
        let out = self.rslim_leaving_nothing_with(&args, env);
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

/// What of rslim's is on the engine, to show a run left nothing behind.
/// Only rslim's own things count (its labelled containers, their volumes,
/// labelled volumes, temporary tags), so that other work on the same engine
/// cannot make the check flaky.
#[derive(Debug, PartialEq, Eq)]
pub struct DaemonState {
    pub containers: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
    pub tags: BTreeSet<String>,
}

impl DaemonState {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.volumes.is_empty() && self.tags.is_empty()
    }
}

/// This machine as rslim's owner labels name it (src/leftovers/owner.rs).
pub struct Machine {
    pub host: String,
    pub boot: String,
    pub pidns: String,
}

impl Machine {
    pub fn current() -> &'static Machine {
        static CURRENT: std::sync::OnceLock<Machine> = std::sync::OnceLock::new();
        CURRENT.get_or_init(|| {
            let read = |path: &str| std::fs::read_to_string(path).unwrap().trim().to_string();
            let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
            let ns = ns.to_str().unwrap();
            Machine {
                host: read("/proc/sys/kernel/hostname"),
                boot: read("/proc/sys/kernel/random/boot_id"),
                pidns: ns["pid:[".len()..ns.len() - 1].to_string(),
            }
        })
    }

    /// The owner label rslim would give a process `pid` started at `start`.
    pub fn label(&self, pid: u32, start: u64) -> String {
        format!(
            "host={},boot={},pidns={},pid={pid},start={start}",
            self.host, self.boot, self.pidns
        )
    }

    /// The machine part of the tokens in temporary tags and temp names.
    pub fn token_machine(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(&self.host)
            .chain_update([0])
            .chain_update(&self.boot)
            .chain_update([0])
            .chain_update(&self.pidns)
            .finalize();
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()[..12]
            .to_string()
    }
}

/// The start time of `pid` in clock ticks after boot (`/proc/<pid>/stat`).
pub fn process_start(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// The host and pid of an owner label.
pub struct OwnerLabel {
    pub host: String,
    pub pid: u32,
}

impl OwnerLabel {
    fn parse(label: &str) -> Option<OwnerLabel> {
        let field = |key: &str| {
            label
                .split(',')
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        };
        Some(OwnerLabel {
            host: field("host")?.to_string(),
            pid: field("pid")?.parse().ok()?,
        })
    }
}

/// The machine hash and pid in a temporary tag
/// (`[localhost/]rslim-tmp/<purpose>-<machine>-<pid>-<start>-<nonce>:<tag>`).
pub fn temp_tag_owner(tag: &str) -> Option<(String, u32)> {
    let tag = tag.strip_prefix("localhost/").unwrap_or(tag);
    let name = tag.strip_prefix("rslim-tmp/")?.split(':').next()?;
    let parts: Vec<&str> = name.split('-').collect();
    match parts.as_slice() {
        [_purpose, machine, pid, _start, _nonce] => Some((machine.to_string(), pid.parse().ok()?)),
        _ => None,
    }
}

pub fn daemon_state() -> DaemonState {
    Engine::Docker.daemon_state()
}

pub fn leftovers_of(pid: u32) -> DaemonState {
    Engine::Docker.leftovers_of(pid)
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
