//! Helpers for the tests of what a killed rslim leaves behind: a build
//! killed with SIGKILL at a given stage (known from its progress lines on
//! stderr), and churn, unrelated containers with volumes coming and going
//! on the same engine while a test runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DaemonState, Engine};

/// A build that was killed with SIGKILL (and reaped).
pub struct Killed {
    pub pid: u32,
    /// What it printed on stderr before it was killed.
    pub stderr: String,
}

/// When to kill, once the progress line of a stage appeared.
pub enum When<'a> {
    /// Right away.
    Now,
    /// After this long.
    After(Duration),
    /// As soon as this holds (polled every 5 ms, for at most 30 s).
    Once(&'a dyn Fn() -> bool),
}

impl Engine {
    /// `rslim ARGS` with TMPDIR set to `tmp`, stdin closed, output captured.
    pub fn rslim_in(self, tmp: &Path, args: &[&str]) -> Child {
        self.command(env!("CARGO_BIN_EXE_rslim"))
            .args(args)
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run rslim")
    }

    /// Runs `rslim ARGS` with TMPDIR `tmp` to its end, and checks that it
    /// left nothing of its own on the engine.
    pub fn rslim_in_leaving_nothing(self, tmp: &Path, args: &[&str]) -> Output {
        let child = self.rslim_in(tmp, args);
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let left = self.leftovers_of(pid);
        assert!(
            left.is_empty(),
            "rslim {args:?} ({self:?}) left {left:?}; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `rslim ARGS` with TMPDIR `tmp`, waits for the progress line of
    /// `stage` (`rslim: [stage] ...`), then kills it with SIGKILL `when` says.
    pub fn rslim_killed_at(self, tmp: &Path, args: &[&str], stage: &str, when: When) -> Killed {
        let mut child = self.rslim_in(tmp, args);
        let pid = child.id();
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        let marker = format!("[{stage}]");
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = lines.read_line(&mut line).unwrap();
            seen.push_str(&line);
            if n == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rslim {args:?} ended before the {marker} stage:\n{seen}");
            }
            if line.contains(&marker) {
                break;
            }
        }
        match when {
            When::Now => {}
            When::After(pause) => std::thread::sleep(pause),
            When::Once(ready) => {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !ready() {
                    assert!(Instant::now() < deadline, "never ready to kill:\n{seen}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        child.kill().unwrap();
        // Reaped, so that its pid is really gone (a zombie is dead all the same).
        child.wait().unwrap();
        Killed { pid, stderr: seen }
    }
}

/// Every entry of `dir` (a test's private TMPDIR).
pub fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

/// Unrelated work on the same engine: a loop that runs containers with an
/// anonymous volume and a named one, and removes them again.
pub struct Churn {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Churned>,
}

/// What the churn made, to show the leftover check never counted it.
#[derive(Debug, Default)]
pub struct Churned {
    pub rounds: usize,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
}

impl Churn {
    pub fn start(engine: Engine, image: &'static str) -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut churned = Churned::default();
                while !stop.load(Ordering::Relaxed) {
                    let volume =
                        format!("rslim-test-churn-{}-{}", std::process::id(), churned.rounds);
                    engine.docker_ok(&["volume", "create", &volume]);
                    let mount = format!("{volume}:/named");
                    let id = engine.docker_ok(&[
                        "run",
                        "-d",
                        "-v",
                        "/anonymous",
                        "-v",
                        &mount,
                        "--entrypoint",
                        "sleep",
                        image,
                        "30",
                    ]);
                    let inspect = engine.docker_ok(&[
                        "container",
                        "inspect",
                        "--format",
                        "{{range .Mounts}}{{.Name}} {{end}}",
                        &id,
                    ]);
                    churned
                        .volumes
                        .extend(inspect.split_whitespace().map(str::to_string));
                    std::thread::sleep(Duration::from_millis(100));
                    engine.docker_ok(&["rm", "-fv", &id]);
                    engine.docker_ok(&["volume", "rm", &volume]);
                    churned.containers.push(id);
                    churned.rounds += 1;
                }
                churned
            }
        });
        Churn { stop, thread }
    }

    pub fn finish(self) -> Churned {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the churn failed")
    }
}

impl DaemonState {
    /// Whether anything of `churned` is counted here.
    pub fn counts_any_of(&self, churned: &Churned) -> bool {
        let short = |id: &String| id[..12.min(id.len())].to_string();
        churned
            .containers
            .iter()
            .any(|id| self.containers.iter().any(|c| c.starts_with(&short(id))))
            || churned.volumes.iter().any(|v| self.volumes.contains(v))
    }
}
