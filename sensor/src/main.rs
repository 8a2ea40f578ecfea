//! rslim-sensor: PID 1 of the profiling container. It watches file opens with
//! fanotify, runs the application described in /.rslim/config.json, forwards
//! signals, reaps zombies and writes /.rslim/findings.json when the
//! application is gone. `rslim-sensor --listening` prints the listening TCP
//! ports; `rslim-sensor exec --user U [--keep-home] -- CMD...` runs an exec
//! step confined like the application. `rslim-sensor serve-tree` walks the
//! image's filesystem and serves its files to rslim (the walker container).

mod bpf;
mod confine;
mod heartbeat;
mod launch;
mod listening;
mod lookups;
mod serve_tree;
mod supervise;
mod user;
mod watch;

use confine::Confinement;
use rslim_sensor::{
    seal, AppOutcome, ExecRequest, Findings, SensorConfig, WirePath, CONFIG_PATH, FINDINGS_PATH,
    KEY_PATH,
};
use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

/// Exit code when the sensor itself cannot work (like `docker run` for daemon errors).
const SENSOR_FAILED: i32 = 125;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [] => run(),
        [flag] if flag == "--listening" => listening::print_listening(),
        [command] if command == "serve-tree" => serve_tree::serve(std::path::Path::new("/")),
        [command, flag] if command == "serve-tree" && flag == "--view" => serve_tree::serve_view(),
        [command, root] if command == "serve-tree" => serve_tree::serve(std::path::Path::new(root)),
        [command, rest @ ..] if command == "exec" => match ExecRequest::parse(rest) {
            Ok(request) => exec(&request),
            Err(e) => {
                eprintln!("rslim-sensor: {e}");
                2
            }
        },
        _ => {
            eprintln!(
                "rslim-sensor: takes no arguments (or --listening, serve-tree, or exec --user U -- CMD); \
                 it reads {CONFIG_PATH}"
            );
            2
        }
    };
    std::process::exit(code);
}

fn read_config() -> Result<SensorConfig, String> {
    let text = std::fs::read(CONFIG_PATH).map_err(|e| format!("cannot read {CONFIG_PATH}: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("{CONFIG_PATH} is not a sensor config: {e}"))
}

/// Reads a file of the image, treating a missing one as empty (no users or groups).
fn read_or_empty(path: &str) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot read {path}: {e}")),
    }
}

/// Resolves `user` against the image's /etc/passwd and /etc/group.
fn credentials(user: Option<&str>) -> Result<user::Credentials, String> {
    let passwd = read_or_empty("/etc/passwd")?;
    let group = read_or_empty("/etc/group")?;
    user::resolve(user, &passwd, &group).map_err(|e| e.to_string())
}

/// `rslim-sensor exec`: runs an exec step or the healthcheck in place of this
/// process, with the same confinement and user switch as the application.
/// `docker exec` starts it as root with the container's CAP_SYS_ADMIN, which
/// the command must not inherit. Returns only when the command cannot start.
fn exec(request: &ExecRequest) -> i32 {
    let credentials = match credentials(Some(&request.user)) {
        Ok(credentials) => credentials,
        Err(e) => {
            eprintln!("rslim-sensor: {e}");
            return 126;
        }
    };
    let confinement = match Confinement::new() {
        Ok(confinement) => confinement,
        Err(e) => {
            eprintln!("rslim-sensor: {e}");
            return SENSOR_FAILED;
        }
    };
    let launch = launch::Launch {
        argv: &request.command,
        // docker exec already runs in the container's working directory.
        workdir: None,
        credentials: &credentials,
        keep_home: request.keep_home,
    };
    let failure = launch::exec(&launch, confinement);
    eprintln!("rslim-sensor: {}", failure.message);
    failure.exit_code
}

fn to_wire(paths: BTreeSet<Vec<u8>>) -> Vec<WirePath> {
    paths.into_iter().map(WirePath::from_bytes).collect()
}

/// The key the findings are sealed with, read once and removed before the
/// app starts (see `rslim_sensor::seal`). Without one (a hand-made config)
/// the findings are sealed with an empty key, which rslim refuses.
static SEAL_KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

fn take_seal_key() {
    let key = std::fs::read(KEY_PATH).unwrap_or_default();
    let _ = std::fs::remove_file(KEY_PATH);
    let _ = SEAL_KEY.set(key);
}

fn write_findings(findings: &Findings) -> std::io::Result<()> {
    let temporary = format!("{FINDINGS_PATH}.tmp");
    let json = serde_json::to_vec(findings)?;
    let key = SEAL_KEY.get().map(Vec::as_slice).unwrap_or_default();
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&seal::seal(key, &json))?;
    file.flush()?;
    drop(file);
    std::fs::rename(&temporary, FINDINGS_PATH)
}

/// Writes findings for a run where the application never started and returns `code`.
fn not_started(error: String, mark: &str, mut errors: Vec<String>, code: i32) -> i32 {
    eprintln!("rslim-sensor: {error}");
    errors.sort();
    let findings = Findings {
        files: vec![],
        dirs: vec![],
        executed: vec![],
        looked_up: vec![],
        lookups: 0,
        lookups_dropped: 0,
        pids: vec![],
        events: 0,
        overflows: 0,
        mark: mark.to_string(),
        stop_requested: false,
        abandoned: false,
        app: AppOutcome::NotStarted { error },
        errors,
    };
    if let Err(e) = write_findings(&findings) {
        eprintln!("rslim-sensor: cannot write {FINDINGS_PATH}: {e}");
    }
    code
}

fn run() -> i32 {
    let started = Instant::now();
    take_seal_key();
    let config = match read_config() {
        Ok(config) => config,
        Err(e) => return not_started(e, "none", vec![], SENSOR_FAILED),
    };
    let mut errors = Vec::new();
    let plan = supervise::SignalPlan::new(config.stop_signal.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        supervise::SignalPlan::new(None).expect("the default plan has no stop signal to parse")
    });
    // Before any thread exists, so the reader thread inherits the blocked mask.
    let signals = match plan.block() {
        Ok(signals) => signals,
        Err(e) => {
            return not_started(
                format!("cannot block signals: {e}"),
                "none",
                errors,
                SENSOR_FAILED,
            )
        }
    };
    let watch = match watch::setup(&config.mount_marks) {
        Ok(watch) => watch,
        Err(e) => return not_started(e, "none", errors, SENSOR_FAILED),
    };
    let mark = watch.mark;
    errors.extend(watch.errors.iter().cloned());

    let credentials = match credentials(config.user.as_deref()) {
        Ok(credentials) => credentials,
        Err(e) => return not_started(e, mark, errors, 126),
    };

    let mut confinement = match Confinement::new() {
        Ok(confinement) => confinement,
        Err(e) => return not_started(e, mark, errors, SENSOR_FAILED),
    };
    // The sensor's end of the hand-over of the lookup listener.
    let mut lookup_channel = None;
    if config.trace_lookups {
        match lookups::channel() {
            Ok((sensor_end, handoff)) => {
                confinement = confinement.tracing_lookups(handoff);
                lookup_channel = Some(sensor_end);
            }
            Err(e) => errors.push(format!("lookups are not traced: {e}")),
        }
    }

    let own_pid = nix::unistd::getpid().as_raw();
    let reader = match watch::Reader::start(watch, own_pid) {
        Ok(reader) => reader,
        Err(e) => {
            return not_started(
                format!("cannot start the event reader: {e}"),
                mark,
                errors,
                SENSOR_FAILED,
            )
        }
    };
    eprintln!(
        "rslim-sensor: watching with a {mark} mark after {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let launch = launch::Launch {
        argv: &config.argv,
        workdir: config.workdir.as_deref(),
        credentials: &credentials,
        keep_home: config.image_sets_home,
    };
    let mut tracer = None;
    let heartbeat = heartbeat::Heartbeat::new(
        Duration::from_secs(config.heartbeat_timeout_secs),
        SEAL_KEY.get().cloned().unwrap_or_default(),
        started,
    );
    let (app, stop_requested, abandoned, code) = match launch::spawn(&launch, confinement) {
        Ok(child) => {
            // Until the tracer runs, the app waits in its first stat call.
            if let Some(sensor_end) = &lookup_channel {
                match lookups::receive_listener(sensor_end)
                    .and_then(|listener| listener.map(lookups::Tracer::start).transpose())
                {
                    Ok(started) => tracer = started,
                    Err(e) => errors.push(format!("lookups are not traced: {e}")),
                }
            }
            let app_pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let grace = Duration::from_secs(config.stop_grace_secs);
            let done = supervise::supervise(app_pid, &plan, &signals, grace, heartbeat);
            let code = done.app.exit_code(SENSOR_FAILED);
            (done.app, done.stop_requested, done.abandoned, code)
        }
        Err(e) => {
            eprintln!("rslim-sensor: {}", e.message);
            (
                AppOutcome::NotStarted { error: e.message },
                false,
                false,
                e.exit_code,
            )
        }
    };
    supervise::kill_remaining();
    // Only now: a listener closed while a traced process lives fails its stat calls.
    let traced = tracer.map(lookups::Tracer::finish).unwrap_or_default();
    errors.extend(traced.errors);
    let collected = reader.finish();
    errors.extend(collected.errors);
    errors.sort();
    errors.dedup();
    let findings = Findings {
        files: to_wire(collected.files),
        dirs: to_wire(collected.dirs),
        executed: to_wire(collected.executed),
        looked_up: to_wire(traced.paths),
        lookups: traced.notifications,
        lookups_dropped: traced.dropped,
        pids: collected.pids.into_iter().collect(),
        events: collected.events,
        overflows: collected.overflows,
        mark: mark.to_string(),
        stop_requested,
        abandoned,
        app,
        errors,
    };
    if let Err(e) = write_findings(&findings) {
        eprintln!("rslim-sensor: cannot write {FINDINGS_PATH}: {e}");
        return SENSOR_FAILED;
    }
    // rslim stopped the app and is polling for the findings: stay until it
    // has them and removes the container. An app that ended by itself, or a
    // sensor that gave up on rslim, exits at once (its exit code is read).
    if findings.stop_requested && !findings.abandoned && nix::unistd::getpid().as_raw() == 1 {
        supervise::linger(&plan, &signals, supervise::LINGER);
    }
    code
}
