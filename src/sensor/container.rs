//! One profiling container: created from the original image with the sensor
//! as its entrypoint, CAP_SYS_ADMIN (and CAP_SYS_PTRACE when lookups are
//! traced) added, not `--privileged`, for the sensor alone, the image's TCP ports published on 127.0.0.1 only. Everything run in
//! it goes through the sensor, which confines it to `docker run`'s privileges.

use std::path::PathBuf;
use std::time::Duration;

use rslim_sensor::{
    Findings, SensorConfig, CONFIG_PATH, FINDINGS_PATH, HEARTBEAT_PATH, KEY_PATH, SENSOR_DIR,
    SENSOR_EXE, SENSOR_PATH,
};

use super::embedded::sensor_binary;
use super::ExecVia;
use crate::docker::{ContainerSpec, CreatedContainers, Docker, VolumeMount};
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::ImageConfig;

/// Names of the containers rslim creates, so cleanup can find them even when
/// interrupted before the daemon returned an id.
pub fn container_name(purpose: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("rslim-{purpose}-{}-{nanos:08x}", std::process::id())
}

#[derive(Debug, Clone)]
pub struct ProfilingOptions {
    pub stop_grace: Duration,
    /// Record what the app looks up with stat/access/readlink (the sensor then needs CAP_SYS_PTRACE).
    pub trace_lookups: bool,
    /// How long the sensor lets the app run without a heartbeat from rslim
    /// before it stops the app and exits ([`Heartbeat`]); zero: forever.
    pub heartbeat_timeout: Duration,
}

/// The default of `--heartbeat-timeout`: long enough for a daemon that
/// stalls for minutes (a big export or load beside the build), short enough
/// that a killed rslim's container stops soon after.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(180);

/// Renews the sensor's heartbeat while rslim profiles: every
/// [`Heartbeat::interval`], a new sealed heartbeat file goes into the
/// container through the archive API (docs/sensor.md, "The heartbeat").
/// The renewals stop when this is dropped or [`Heartbeat::stop`]ped.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    /// A quarter of the timeout, between 250 ms and 10 s: three renewals
    /// can be lost before the sensor gives up, and the default costs one
    /// archive upload (about 20 ms of the daemon's time) every 10 s.
    pub fn interval(timeout: Duration) -> Duration {
        (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(10))
    }

    fn start(docker: &Docker, container: &str, key: &[u8], timeout: Duration) -> Heartbeat {
        let (docker, container, key) = (docker.clone(), container.to_string(), key.to_vec());
        let every = Heartbeat::interval(timeout);
        Heartbeat(tokio::spawn(async move {
            for sequence in 1u64.. {
                tokio::time::sleep(every).await;
                let Ok(tar) = heartbeat_tar(&key, sequence) else {
                    return;
                };
                // A failed renewal is retried by the next one; the sensor
                // gives up only after several in a row.
                let _ = docker.upload_tar(&container, tar).await;
            }
        }))
    }

    pub fn stop(&self) {
        self.0.abort();
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `/.rslim/heartbeat` as a tar to extract at `/`.
fn heartbeat_tar(key: &[u8], sequence: u64) -> std::io::Result<Vec<u8>> {
    let content = rslim_sensor::seal::heartbeat(key, sequence);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(content.len() as u64);
    let mut builder = tar::Builder::new(Vec::new());
    let path = PathBuf::from(HEARTBEAT_PATH.trim_start_matches('/'));
    builder.append_data(&mut header, path, content.as_slice())?;
    builder.into_inner()
}

pub struct ProfilingContainer {
    pub id: String,
    pub name: String,
    /// (container port, host port on 127.0.0.1)
    pub ports: Vec<(u16, u16)>,
    /// The image sets HOME: commands run through the sensor keep it.
    image_sets_home: bool,
    /// The key the sensor seals its findings with (see `rslim_sensor::seal`).
    seal_key: Vec<u8>,
    heartbeat_timeout: Duration,
    /// Running from start until the findings are in.
    heartbeat: Option<Heartbeat>,
}

/// What the sensor starts in the container: the image's own command (the
/// profiling container), or a `run` step's (docs/probes.md, "`run`").
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Replace the image's CMD, as `docker run IMAGE ARGS` does (the
    /// ENTRYPOINT stays); `None` keeps it.
    pub args: Option<Vec<String>>,
    /// `NAME=value` pairs added to the image's environment.
    pub env: Vec<String>,
    /// Publish the image's TCP ports on 127.0.0.1 (the probes need them).
    pub publish: bool,
}

impl Launch {
    /// The image's command, its ports published: the profiling container.
    pub fn image() -> Launch {
        Launch {
            publish: true,
            ..Launch::default()
        }
    }
}

impl ProfilingContainer {
    /// Creates the container through `created`, so that every exit path,
    /// an interrupt mid-create included, removes it.
    pub async fn create(
        docker: &Docker,
        created: &CreatedContainers,
        image: &str,
        name: &str,
        config: &ImageConfig,
        options: &ProfilingOptions,
    ) -> Result<ProfilingContainer> {
        let launch = Launch::image();
        Self::create_with(docker, created, image, name, config, options, &launch).await
    }

    /// [`ProfilingContainer::create`] for what `launch` says to start.
    pub async fn create_with(
        docker: &Docker,
        created: &CreatedContainers,
        image: &str,
        name: &str,
        config: &ImageConfig,
        options: &ProfilingOptions,
        launch: &Launch,
    ) -> Result<ProfilingContainer> {
        let run = &config.run;
        let spec = ContainerSpec {
            name: name.to_string(),
            image: image.to_string(),
            entrypoint: Some(vec![SENSOR_PATH.to_string()]),
            cmd: None,
            // The sensor needs root for fanotify; it drops to the image's USER for the app.
            user: Some("0".into()),
            working_dir: None,
            publish_tcp: match launch.publish {
                true => run.tcp_ports(),
                false => Vec::new(),
            },
            // fanotify needs SYS_ADMIN; reading the path arguments of traced
            // lookups needs SYS_PTRACE. The sensor drops both for the app.
            cap_add: if options.trace_lookups {
                vec!["SYS_ADMIN".into(), "SYS_PTRACE".into()]
            } else {
                vec!["SYS_ADMIN".into()]
            },
            env: launch.env.clone(),
            volumes: run.volume_paths(),
            volumes_as: VolumeMount::Labelled,
            ..ContainerSpec::default()
        };
        let id = created.create(docker, &spec).await?;
        let argv = match &launch.args {
            Some(args) => {
                let mut argv = run.entrypoint.clone().unwrap_or_default();
                argv.extend(args.iter().cloned());
                argv
            }
            None => run.argv(),
        };
        let sets_home = |kv: &String| kv.starts_with("HOME=");
        let sensor_config = SensorConfig {
            argv,
            user: run.user.clone().filter(|u| !u.is_empty()),
            workdir: run.working_dir.clone().filter(|w| !w.is_empty()),
            mount_marks: run.volume_paths(),
            stop_grace_secs: options.stop_grace.as_secs(),
            stop_signal: run.stop_signal.clone().filter(|s| !s.is_empty()),
            image_sets_home: run.env_var("HOME").is_some() || launch.env.iter().any(sets_home),
            trace_lookups: options.trace_lookups,
            heartbeat_timeout_secs: options.heartbeat_timeout.as_secs(),
        };
        let seal_key = new_seal_key()?;
        docker
            .upload_tar(&id, sensor_tar(&sensor_config, &seal_key)?)
            .await?;
        Ok(ProfilingContainer {
            id,
            name: name.to_string(),
            ports: Vec::new(),
            image_sets_home: sensor_config.image_sets_home,
            seal_key,
            heartbeat_timeout: Duration::from_secs(sensor_config.heartbeat_timeout_secs),
            heartbeat: None,
        })
    }

    /// Commands in this container run through the sensor (see [`ExecVia::Sensor`]).
    pub fn exec_via(&self) -> ExecVia {
        ExecVia::Sensor {
            keep_home: self.image_sets_home,
        }
    }

    /// Starts the container, and the heartbeat that keeps the sensor from
    /// stopping the app.
    pub async fn start(&mut self, docker: &Docker, container_ports: &[u16]) -> Result<()> {
        docker.start_container(&self.id).await?;
        if !self.heartbeat_timeout.is_zero() {
            self.heartbeat = Some(Heartbeat::start(
                docker,
                &self.id,
                &self.seal_key,
                self.heartbeat_timeout,
            ));
        }
        for &port in container_ports {
            if let Some(host) = docker.published_port(&self.id, port).await? {
                self.ports.push((port, host));
            }
        }
        Ok(())
    }

    /// TCP ports the app listens on inside the container, from the sensor's
    /// view of /proc/net. docker-proxy accepts on published ports even when
    /// nothing listens behind them, so a connect from the host proves nothing.
    pub async fn listening_ports(&self, docker: &Docker) -> Result<Option<Vec<u16>>> {
        let (code, output) = match docker
            .exec(&self.id, &[SENSOR_EXE, "--listening"], "0")
            .await
        {
            Ok(answer) => answer,
            // The container stopped: the app is gone.
            Err(_) => return Ok(None),
        };
        if code != 0 {
            return Ok(None);
        }
        Ok(Some(
            output
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect(),
        ))
    }

    /// Runs the image's HEALTHCHECK once, as the image's user and confined
    /// like the app, so the sensor sees what it needs (e.g. curl and its
    /// libraries): the slim image carries the healthcheck over and must
    /// still be able to run it.
    pub async fn run_healthcheck(
        &self,
        docker: &Docker,
        config: &ImageConfig,
    ) -> Result<Option<i64>> {
        let Some(argv) = healthcheck_argv(&config.raw) else {
            return Ok(None);
        };
        let user = config
            .run
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "0".into());
        let (user, argv) = self.exec_via().wrap(&user, &argv);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, _) = docker.exec(&self.id, &argv, &user).await?;
        Ok(Some(code))
    }

    pub async fn is_running(&self, docker: &Docker) -> Result<bool> {
        let inspect = docker.inspect_container(&self.id).await?;
        Ok(inspect.state.and_then(|s| s.running).unwrap_or(false))
    }

    /// Ends profiling and returns what the sensor saw. With a signal, sends
    /// it (the sensor forwards it and gives the app its grace time); then
    /// waits for the findings. The sensor writes them (atomically) as soon as
    /// the app is gone and, after a stop we asked for, stays until it is
    /// removed (`supervise::linger`), so they are read from the running
    /// container instead of after the engine's teardown.
    pub async fn stop_and_collect(
        &self,
        docker: &Docker,
        signal: Option<&str>,
        options: &ProfilingOptions,
    ) -> Result<Findings> {
        if let Some(signal) = signal {
            docker.kill_container(&self.id, signal).await?;
        }
        let poll = async {
            loop {
                if let Ok(findings) = self.findings(docker).await {
                    return findings;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        };
        let exited = async {
            docker.wait_container(&self.id).await?;
            self.findings(docker).await
        };
        let budget = options.stop_grace + Duration::from_secs(10);
        let collected = async {
            tokio::select! {
                findings = poll => Ok(findings),
                findings = exited => findings,
            }
        };
        let findings = match signal {
            // The app exits on its own: no deadline but the user's Ctrl-C.
            None => collected.await,
            Some(_) => tokio::time::timeout(budget, collected)
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::msg(
                        ExitKind::SensorFailed,
                        format!(
                            "the sensor wrote no findings {}s after the stop signal",
                            budget.as_secs()
                        ),
                    ))
                }),
        };
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.stop();
        }
        findings
    }

    /// The heartbeat timeout this container's sensor was given.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    /// The sensor's findings, if they are there and sealed with this
    /// container's key: the app may have written or altered the file.
    pub async fn findings(&self, docker: &Docker) -> Result<Findings> {
        let tar = docker
            .download_capped(&self.id, FINDINGS_PATH, MAX_FINDINGS_BYTES + 64 * 1024)
            .await
            .map_err(|e| {
                Failure::msg(
                    ExitKind::SensorFailed,
                    format!("the sensor left no usable findings ({e}); was it killed?"),
                )
            })?;
        read_findings(&tar, &self.seal_key)
    }
}

/// Findings larger than this are refused (a real run writes a few MB at most:
/// the sensor keeps at most 200,000 looked-up paths).
pub const MAX_FINDINGS_BYTES: u64 = 32 << 20;
/// More paths than this in all of the findings' lists cannot be a real run.
const MAX_FINDINGS_PATHS: usize = 1_000_000;

fn tampered(why: impl std::fmt::Display) -> Failure {
    Failure::msg(
        ExitKind::SensorFailed,
        format!(
            "the sensor's findings {why}; the app may have tampered with them, so nothing \
             was kept"
        ),
    )
}

/// Reads the findings out of the archive API's tar: one regular file, at
/// most [`MAX_FINDINGS_BYTES`], sealed with `key`, whose paths are absolute
/// and free of `..`.
pub fn read_findings(tar: &[u8], key: &[u8]) -> Result<Findings> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive
        .entries()
        .map_err(|e| tampered(format_args!("are not a tar archive ({e})")))?;
    let mut entry = entries
        .next()
        .ok_or_else(|| tampered("archive is empty"))?
        .map_err(|e| tampered(format_args!("are unreadable ({e})")))?;
    if !entry.header().entry_type().is_file() {
        return Err(tampered("are not a regular file"));
    }
    if entry.size() > MAX_FINDINGS_BYTES {
        return Err(tampered(format_args!(
            "are {} bytes, over the {MAX_FINDINGS_BYTES}-byte limit",
            entry.size()
        )));
    }
    let mut sealed = Vec::with_capacity(entry.size() as usize);
    (&mut entry)
        .take(MAX_FINDINGS_BYTES)
        .read_to_end(&mut sealed)
        .map_err(|e| tampered(format_args!("are unreadable ({e})")))?;
    let json = rslim_sensor::seal::open(key, &sealed)
        .ok_or_else(|| tampered("are not sealed with this run's key"))?;
    let findings: Findings = serde_json::from_slice(json)
        .map_err(|e| tampered(format_args!("are not findings ({e})")))?;
    let lists = [
        &findings.files,
        &findings.dirs,
        &findings.executed,
        &findings.looked_up,
    ];
    if lists.iter().map(|list| list.len()).sum::<usize>() > MAX_FINDINGS_PATHS {
        return Err(tampered("hold implausibly many paths"));
    }
    let bad_path = |path: &rslim_sensor::WirePath| {
        let path = path.to_path_buf();
        !path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
    };
    if let Some(path) = lists
        .iter()
        .flat_map(|list| list.iter())
        .find(|p| bad_path(p))
    {
        return Err(tampered(format_args!(
            "name a path that is not absolute and plain: {:?}",
            path.to_path_buf()
        )));
    }
    Ok(findings)
}

/// A fresh random key for sealing one run's findings.
fn new_seal_key() -> Result<Vec<u8>> {
    use std::io::Read;
    let mut key = vec![0u8; rslim_sensor::seal::KEY_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut key))
        .fail_with(ExitKind::Internal)?;
    Ok(key)
}

/// `/.rslim/sensor` alone, as a tar to extract at `/`: for the walker
/// container (`rslim-sensor serve-tree`), which needs no config.
pub fn sensor_only_tar() -> Result<Vec<u8>> {
    root_owned_tar(&[
        (SENSOR_DIR, 0o755, tar::EntryType::Directory, &[]),
        (SENSOR_PATH, 0o755, tar::EntryType::Regular, sensor_binary()),
    ])
}

/// `/.rslim/sensor`, `/.rslim/config.json` and the seal key (readable by
/// root only, and removed by the sensor before the app starts) as a tar to
/// extract at `/`.
fn sensor_tar(config: &SensorConfig, key: &[u8]) -> Result<Vec<u8>> {
    let config_json = serde_json::to_vec(config).fail_with(ExitKind::Internal)?;
    root_owned_tar(&[
        (SENSOR_DIR, 0o755, tar::EntryType::Directory, &[]),
        (SENSOR_PATH, 0o755, tar::EntryType::Regular, sensor_binary()),
        (CONFIG_PATH, 0o644, tar::EntryType::Regular, &config_json),
        (KEY_PATH, 0o400, tar::EntryType::Regular, key),
    ])
}

/// A tar of `(absolute path, mode, kind, bytes)` entries owned by root, to
/// extract at `/`.
fn root_owned_tar(entries: &[(&str, u32, tar::EntryType, &[u8])]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for &(path, mode, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, path.trim_start_matches('/'), data)
            .fail_with(ExitKind::Internal)?;
    }
    builder.into_inner().fail_with(ExitKind::Internal)
}

/// The command of the image's HEALTHCHECK: `["CMD", args...]` as is,
/// `["CMD-SHELL", text]` through the image's SHELL (default `/bin/sh -c`).
pub fn healthcheck_argv(config: &serde_json::Value) -> Option<Vec<String>> {
    let run = config.get("config")?;
    let test: Vec<String> =
        serde_json::from_value(run.get("Healthcheck")?.get("Test")?.clone()).ok()?;
    let (kind, rest) = test.split_first()?;
    match kind.as_str() {
        "CMD" if !rest.is_empty() => Some(rest.to_vec()),
        "CMD-SHELL" if !rest.is_empty() => {
            let shell: Vec<String> = run
                .get("Shell")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .filter(|s: &Vec<String>| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            Some(shell.into_iter().chain([rest.join(" ")]).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{healthcheck_argv, read_findings, MAX_FINDINGS_BYTES};
    use rslim_sensor::seal::seal;
    use serde_json::json;

    fn findings_json(files: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "files": files, "dirs": [], "executed": [], "pids": [], "events": 1,
            "overflows": 0, "mark": "filesystem", "stop_requested": true,
            "app": {"outcome": "exited", "code": 0}, "errors": []
        }))
        .unwrap()
    }

    fn tar_of(kind: tar::EntryType, data: &[u8], claimed_size: Option<u64>) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        if kind == tar::EntryType::Symlink {
            header.set_size(0);
            builder
                .append_link(&mut header, "findings.json", "/etc/shadow")
                .unwrap();
        } else {
            builder
                .append_data(&mut header, "findings.json", data)
                .unwrap();
        }
        let mut bytes = builder.into_inner().unwrap();
        if let Some(size) = claimed_size {
            // Rewrite the size field (octal, 12 bytes at 124) and its checksum.
            let mut header = tar::Header::new_gnu();
            header.as_mut_bytes().copy_from_slice(&bytes[..512]);
            header.set_size(size);
            header.set_cksum();
            bytes[..512].copy_from_slice(header.as_bytes());
        }
        bytes
    }

    #[test]
    fn only_sealed_plain_findings_are_accepted() {
        let key = [3u8; 32];
        let good = findings_json(&["/etc/os-release"]);
        let accepted = read_findings(
            &tar_of(tar::EntryType::Regular, &seal(&key, &good), None),
            &key,
        )
        .unwrap();
        assert_eq!(accepted.files.len(), 1);
        let refused = |tar: Vec<u8>, why: &str| {
            let error = read_findings(&tar, &key).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
            assert!(error.contains("tampered"), "{error}");
        };
        // Written by the app without the key, or with another one.
        refused(tar_of(tar::EntryType::Regular, &good, None), "not sealed");
        refused(
            tar_of(tar::EntryType::Regular, &seal(&[4u8; 32], &good), None),
            "not sealed",
        );
        refused(
            tar_of(tar::EntryType::Symlink, b"", None),
            "not a regular file",
        );
        refused(
            tar_of(tar::EntryType::Regular, b"x", Some(MAX_FINDINGS_BYTES + 1)),
            "over the",
        );
        // Sealed, but not plain absolute paths: refused all the same.
        for bad in ["etc/passwd", "/srv/../../etc/shadow"] {
            let json = findings_json(&[bad]);
            refused(
                tar_of(tar::EntryType::Regular, &seal(&key, &json), None),
                "not absolute and plain",
            );
        }
        refused(Vec::new(), "archive is empty");
    }

    #[test]
    fn the_heartbeat_is_a_sealed_file_renewed_well_within_the_timeout() {
        use super::{heartbeat_tar, Heartbeat};
        use std::io::Read;
        use std::time::Duration;
        let key = [9u8; 32];
        let tar = heartbeat_tar(&key, 7).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some(".rslim/heartbeat"));
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(rslim_sensor::seal::open_heartbeat(&key, &content), Some(7));
        let every = Heartbeat::interval(super::HEARTBEAT_TIMEOUT);
        assert_eq!(every, Duration::from_secs(10));
        assert_eq!(
            Heartbeat::interval(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            Heartbeat::interval(Duration::from_millis(100)),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn reads_healthcheck_commands() {
        let shell = json!({"config": {"Healthcheck": {"Test": ["CMD-SHELL", "curl -fs http://localhost/ || exit 1"]}}});
        assert_eq!(
            healthcheck_argv(&shell).unwrap(),
            ["/bin/sh", "-c", "curl -fs http://localhost/ || exit 1"]
        );
        let exec = json!({"config": {"Healthcheck": {"Test": ["CMD", "/bin/check", "-q"]}}});
        assert_eq!(healthcheck_argv(&exec).unwrap(), ["/bin/check", "-q"]);
        let custom_shell = json!({"config": {"Shell": ["/bin/bash", "-ec"], "Healthcheck": {"Test": ["CMD-SHELL", "true"]}}});
        assert_eq!(
            healthcheck_argv(&custom_shell).unwrap(),
            ["/bin/bash", "-ec", "true"]
        );
        assert_eq!(
            healthcheck_argv(&json!({"config": {"Healthcheck": {"Test": ["NONE"]}}})),
            None
        );
        assert_eq!(healthcheck_argv(&json!({"config": {}})), None);
    }
}
