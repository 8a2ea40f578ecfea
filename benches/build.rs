//! `cargo bench --bench build`: what `rslim build` costs next to its floor,
//! both measured in the same run, on the images of issue 11:
//!
//! - `rslim-examples/nginx:fat`: examples/nginx, made by scripts/setup;
//! - `rslim-bench/gobuilder:fat`: the Go toolchain, gcc and git with a
//!   small Go HTTP server (benches/images/gobuilder), most of it unused;
//! - `rslim-bench/nginx-5g:fat`: the nginx example plus 5 GB it never opens
//!   (benches/images/nginx-5g).
//!
//! All are built on the debootstrap base scripts/setup makes.
//!
//! The floor is the work no slimming tool can avoid: a plain container of
//! the image started with its port published on 127.0.0.1, `GET /`
//! answered, the container stopped and removed, then `docker load` of the
//! slim image. Builds and floors alternate, so both see the same load.
//! Each run builds twice: first with an empty index cache (a first build
//! of the image, which walks it), then again with the index that build
//! kept (`RSLIM_CACHE_DIR`, a fresh directory per run).
//! Peak RSS is rslim's own (`wait4` on the child). Prints numbers; asserts
//! nothing about time. Needs `scripts/setup && scripts/bench-setup`.
//!
//! env: RSLIM_BENCH_RUNS (default 3) runs per image; RSLIM_BENCH_SKIP_5G=1
//! skips the 5 GB image (also skipped when $TMPDIR cannot hold its export);
//! RSLIM_BENCH_ONLY=TEXT measures only the images whose name contains TEXT.
//! `cargo test` never builds this file (benches are built by `cargo bench`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// (image, what it is, the 5 GB one that can be skipped)
const IMAGES: &[(&str, &str, bool)] = &[
    ("rslim-examples/nginx:fat", "nginx on Debian minbase", false),
    (
        "rslim-bench/gobuilder:fat",
        "Go builder (golang-go, gcc, git)",
        false,
    ),
    (
        "rslim-bench/nginx-5g:fat",
        "nginx + 5 GB unused files",
        true,
    ),
];
/// Label on the floor's containers: its value is the bench's pid, so a run
/// can remove what a killed one left.
const OWNER_LABEL: &str = "io.rslim.bench-owner";
/// The slim images' repository prefix; the bench's pid follows it.
const SLIM_REPO: &str = "rslim-bench/slim";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    let runs: usize = std::env::var("RSLIM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let skip_5g = std::env::var("RSLIM_BENCH_SKIP_5G").as_deref() == Ok("1");
    let only = std::env::var("RSLIM_BENCH_ONLY").unwrap_or_default();
    remove_dead_runs_leftovers();
    let scratch = tempfile::tempdir().unwrap();
    println!(
        "rslim build against its floor: {runs} runs per image, medians; temp dir {}\n",
        std::env::temp_dir().display()
    );
    let mut rows = Vec::new();
    for &(image, what, big) in IMAGES.iter().filter(|(image, ..)| image.contains(&only)) {
        let Some(size) = image_size(image) else {
            println!("{image}: missing, run scripts/bench-setup first\n");
            continue;
        };
        if big && skip_5g {
            println!("{image}: skipped (RSLIM_BENCH_SKIP_5G=1)\n");
            continue;
        }
        let free = free_bytes(&std::env::temp_dir());
        if free < size + size / 10 {
            println!(
                "{image}: skipped, the temp dir has {:.1} GB free and the export needs {:.1} GB\n",
                free as f64 / 1e9,
                size as f64 / 1e9
            );
            continue;
        }
        let Some(port) = exposed_port(image) else {
            println!("{image}: skipped, it exposes no TCP port to answer GET / on\n");
            continue;
        };
        let bench = ImageBench {
            image,
            port,
            slim_tag: format!(
                "{SLIM_REPO}-{}-{}:latest",
                std::process::id(),
                image.rsplit('/').next().unwrap().replace(':', "-")
            ),
            archive: scratch.path().join("slim.tar"),
            cache: scratch.path().join("cache"),
        };
        let _cleanup = RemoveOnDrop {
            containers: Vec::new(),
            image: Some(bench.slim_tag.clone()),
        };
        let measured: Vec<Measured> = (0..runs).map(|run| bench.measure(run)).collect();
        let row = Row::new(what, image, size, &measured);
        row.print_detail(&measured);
        rows.push(row);
    }
    print_table(&rows, runs);
}

struct ImageBench {
    image: &'static str,
    port: u16,
    slim_tag: String,
    archive: PathBuf,
    /// Each run's walk index cache, emptied before its first build.
    cache: PathBuf,
}

/// Two builds (the first walks the image, the second uses the index the
/// first kept) and one floor, back to back.
struct Measured {
    first: Build,
    again: Build,
    /// Plain container: start, `GET /` answered, stop, remove.
    container: Duration,
    /// `docker load` of the slim image.
    load: Duration,
}

impl Measured {
    fn floor(&self) -> Duration {
        self.container + self.load
    }
}

struct Build {
    wall: Duration,
    peak_rss_kb: u64,
    stages: Vec<(String, f64)>,
    original: u64,
    slim: u64,
}

impl ImageBench {
    fn measure(&self, run: usize) -> Measured {
        // Each build loads a slim image the engine does not have yet.
        docker(&["image", "rm", "-f", &self.slim_tag]);
        let _ = std::fs::remove_dir_all(&self.cache);
        let first = self.build(run);
        docker(&["image", "rm", "-f", &self.slim_tag]);
        let again = self.build(run);
        if run == 0 {
            let archive = self.archive.to_str().unwrap();
            check(
                docker(&["save", "-o", archive, &self.slim_tag]),
                "docker save",
            );
        }
        let container = self.plain_container(run);
        docker(&["image", "rm", "-f", &self.slim_tag]);
        let started = Instant::now();
        check(
            docker(&["load", "-q", "-i", self.archive.to_str().unwrap()]),
            "docker load",
        );
        Measured {
            first,
            again,
            container,
            load: started.elapsed(),
        }
    }

    fn build(&self, run: usize) -> Build {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let stderr_path = dir.path().join("stderr");
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_rslim"))
            .args(["build", self.image, "--tag", &self.slim_tag, "--report"])
            .arg(&report)
            .env("RSLIM_CACHE_DIR", &self.cache)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let (status, peak_rss_kb) = wait_with_rusage(child);
        let wall = started.elapsed();
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        assert!(
            status == 0,
            "run {run} of rslim build {} failed (wait status {status}):\n{stderr}",
            self.image
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        Build {
            wall,
            peak_rss_kb,
            stages: report["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let stage = s["stage"].as_str().unwrap().to_string();
                    (stage, s["ms"].as_f64().unwrap())
                })
                .collect(),
            original: report["original_bytes"].as_u64().unwrap(),
            slim: report["slim_bytes"].as_u64().unwrap(),
        }
    }

    /// `docker run -d -p 127.0.0.1:P:PORT`, `GET /` until it is answered,
    /// `docker stop`, `docker rm`: timed from the run to the removal.
    fn plain_container(&self, run: usize) -> Duration {
        let name = format!("rslim-bench-floor-{}-{run}", std::process::id());
        let mut cleanup = RemoveOnDrop {
            containers: vec![name.clone()],
            image: None,
        };
        let host_port = free_port();
        let started = Instant::now();
        check(
            docker(&[
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                &format!("{OWNER_LABEL}={}", std::process::id()),
                "-p",
                &format!("127.0.0.1:{host_port}:{}", self.port),
                self.image,
            ]),
            "docker run",
        );
        wait_for_http(host_port, &name);
        check(docker(&["stop", &name]), "docker stop");
        check(docker(&["rm", &name]), "docker rm");
        let elapsed = started.elapsed();
        cleanup.containers.clear();
        elapsed
    }
}

/// Waits for the child and returns its wait status and its peak RSS in kB.
/// `wait4` reports the child's own resource use; getrusage(RUSAGE_CHILDREN)
/// would mix in every docker CLI process this bench ran.
fn wait_with_rusage(child: std::process::Child) -> (i32, u64) {
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 writes both out-params,
    // and `pid` is our own child, not yet reaped (std's Child never waits
    // unless asked, and is dropped here without being asked).
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { nix::libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    (status, usage.ru_maxrss as u64)
}

/// Polls `GET /` on 127.0.0.1:`port` until an HTTP answer arrives.
/// docker-proxy accepts before the app listens, so a connect proves nothing.
fn wait_for_http(port: u16, container: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if http_answered(port) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{container} did not answer GET / on 127.0.0.1:{port} within {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn http_answered(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/")
}

/// A port free on 127.0.0.1 now; the kernel picks it.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn check(output: Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The image's size as the engine counts it, or None when it is missing.
fn image_size(image: &str) -> Option<u64> {
    let out = docker(&["image", "inspect", "-f", "{{.Size}}", image]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// The image's first exposed TCP port.
fn exposed_port(image: &str) -> Option<u16> {
    let out = docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.ExposedPorts}}",
        image,
    ]);
    let ports: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut tcp: Vec<u16> = ports
        .as_object()?
        .keys()
        .filter_map(|key| key.strip_suffix("/tcp")?.parse().ok())
        .collect();
    tcp.sort_unstable();
    tcp.first().copied()
}

fn free_bytes(dir: &Path) -> u64 {
    let stat = nix::sys::statvfs::statvfs(dir).unwrap();
    stat.blocks_available() as u64 * stat.fragment_size() as u64
}

/// What bench runs that were killed left: floor containers (labelled with
/// the run's pid) and slim tags (`rslim-bench/slim-<pid>-…`) whose pid is gone.
fn remove_dead_runs_leftovers() {
    let dead =
        |pid: &str| pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists();
    let containers = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={OWNER_LABEL}"),
        "--format",
        &format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}"),
    ]);
    for line in String::from_utf8_lossy(&containers.stdout).lines() {
        if let Some((id, _)) = line.split_once(' ').filter(|(_, pid)| dead(pid)) {
            docker(&["rm", "-f", id]);
        }
    }
    let images = docker(&[
        "images",
        "--filter",
        &format!("reference={SLIM_REPO}-*"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    for tag in String::from_utf8_lossy(&images.stdout).lines() {
        let pid = tag
            .strip_prefix(SLIM_REPO)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next())
            .unwrap_or("");
        if dead(pid) {
            docker(&["image", "rm", "-f", tag]);
        }
    }
}

/// Removes what a measurement created when it ends, a panic included.
struct RemoveOnDrop {
    containers: Vec<String>,
    image: Option<String>,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for name in &self.containers {
            docker(&["rm", "-f", name]);
        }
        if let Some(image) = &self.image {
            docker(&["image", "rm", "-f", image]);
        }
    }
}

struct Row {
    what: &'static str,
    image: &'static str,
    size: u64,
    kept: u64,
    first: f64,
    again: f64,
    floor: f64,
    peak_rss_kb: u64,
}

impl Row {
    fn new(what: &'static str, image: &'static str, size: u64, runs: &[Measured]) -> Row {
        Row {
            what,
            image,
            size,
            kept: runs[0].first.slim,
            first: median(runs.iter().map(|m| m.first.wall.as_secs_f64())),
            again: median(runs.iter().map(|m| m.again.wall.as_secs_f64())),
            floor: median(runs.iter().map(|m| m.floor().as_secs_f64())),
            peak_rss_kb: runs
                .iter()
                .flat_map(|m| [m.first.peak_rss_kb, m.again.peak_rss_kb])
                .max()
                .unwrap(),
        }
    }

    fn print_detail(&self, runs: &[Measured]) {
        let secs = |f: &dyn Fn(&Measured) -> f64| {
            runs.iter()
                .map(|m| format!("{:.2}", f(m)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{} ({}): {:.1} MB -> {:.1} MB (report: {:.1} MB -> {:.1} MB)",
            self.image,
            self.what,
            self.size as f64 / 1e6,
            self.kept as f64 / 1e6,
            runs[0].first.original as f64 / 1e6,
            runs[0].first.slim as f64 / 1e6,
        );
        println!(
            "  first build   {:6.2} s   runs: {}",
            self.first,
            secs(&|m| m.first.wall.as_secs_f64())
        );
        println!(
            "  again         {:6.2} s   runs: {}   (the index kept by the first)",
            self.again,
            secs(&|m| m.again.wall.as_secs_f64())
        );
        println!(
            "  floor         {:6.2} s   runs: {}",
            self.floor,
            secs(&|m| m.floor().as_secs_f64())
        );
        println!(
            "    container   {:6.2} s   (run, GET / answered, stop, rm)",
            median(runs.iter().map(|m| m.container.as_secs_f64()))
        );
        println!(
            "    docker load {:6.2} s",
            median(runs.iter().map(|m| m.load.as_secs_f64()))
        );
        println!(
            "  ratio         {:6.2}x first, {:.2}x again",
            self.first / self.floor,
            self.again / self.floor
        );
        println!(
            "  peak RSS      {:6.1} MB  (max of the runs)",
            self.peak_rss_kb as f64 / 1024.0
        );
        for (which, build) in [
            (
                "first build",
                (|m: &Measured| &m.first) as fn(&Measured) -> &Build,
            ),
            ("again", |m: &Measured| &m.again),
        ] {
            println!("  stages of the {which} (ms, median, then each run)");
            for (stage, _) in &build(&runs[0]).stages {
                let each: Vec<f64> = runs
                    .iter()
                    .map(|m| {
                        build(m)
                            .stages
                            .iter()
                            .filter(|(s, _)| s == stage)
                            .map(|(_, ms)| ms)
                            .sum()
                    })
                    .collect();
                let listed: Vec<String> = each.iter().map(|ms| format!("{ms:.0}")).collect();
                println!(
                    "    {stage:<8} {:7.0}   runs: {}",
                    median(each.iter().copied()),
                    listed.join(" ")
                );
            }
        }
        println!();
    }
}

fn print_table(rows: &[Row], runs: usize) {
    println!(
        "| image | size | kept | first build | again (kept index) | floor, same run | ratio first / again | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {}, `{}` | {:.0} MB | {:.1} MB | {:.2} s | {:.2} s | {:.2} s | {:.2}x / {:.2}x | {:.1} MB |",
            row.what,
            row.image,
            row.size as f64 / 1e6,
            row.kept as f64 / 1e6,
            row.first,
            row.again,
            row.floor,
            row.first / row.floor,
            row.again / row.floor,
            row.peak_rss_kb as f64 / 1024.0
        );
    }
    println!("\nmedians of {runs} runs; peak RSS is the largest of the runs");
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}
