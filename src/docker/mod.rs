//! The Docker Engine API, behind one small type with just the calls rslim
//! makes. Every daemon error is turned into a [`Failure`] with the exit code
//! the user should see; nothing else in rslim touches bollard. The engine
//! behind it is Docker or Podman's compatible service ([`engine`]); where
//! Podman answers differently, the call handles it ([`podman`]).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, HostConfigLogConfig, ImageInspect,
    Mount, MountType, MountVolumeOptions, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder,
    KillContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    TagImageOptionsBuilder, UploadToContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use crate::error::{ExitKind, FailWith, Failure, Result};

mod attach;
mod created;
pub mod engine;
mod images;
mod leftovers;
mod podman;
pub use attach::{AttachedReader, AttachedWriter};
pub use created::CreatedContainers;
pub use engine::{choose_engine, Engine, EngineKind};
pub use images::{CreatedImages, TEMP_REPOSITORY};
pub use leftovers::Labelled;

/// Label put on every container rslim creates, and on the volumes they
/// mount, naming the rslim process that owns them
/// ([`crate::leftovers::owner`]), so leftovers are findable and a later run
/// can tell whether their owner is gone.
pub const OWNER_LABEL: &str = "io.rslim.owner";

#[derive(Clone)]
pub struct Docker {
    api: bollard::Docker,
    engine: Engine,
    /// The daemon's `SecurityOptions` (`GET /info`), asked once.
    security_options: std::sync::Arc<tokio::sync::OnceCell<Vec<String>>>,
}

/// What rslim asks of a profiling (or verification) container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// Container TCP ports to publish on 127.0.0.1 at random host ports.
    pub publish_tcp: Vec<u16>,
    pub cap_add: Vec<String>,
    /// `NAME=value` pairs added to the image's environment (`docker run -e`).
    pub env: Vec<String>,
    /// The image's VOLUMEs, mounted as `volumes_as` says.
    pub volumes: Vec<String>,
    pub volumes_as: VolumeMount,
    /// Capabilities taken away (`--cap-drop`), e.g. `ALL`.
    pub cap_drop: Vec<String>,
    /// No network at all (`--network none`).
    pub no_network: bool,
    /// Keep stdin open for an attached client (`docker run -i`), and log
    /// nothing: what goes through stdio is for the client alone.
    pub stdin: bool,
}

/// A container's logged stdout and stderr ([`Docker::output`]).
#[derive(Debug, Clone, Default)]
pub struct LoggedOutput {
    /// (from stderr, bytes), in the engine's order.
    pub chunks: Vec<(bool, Bytes)>,
    /// Bytes kept in `chunks`, and logged in all.
    pub kept: usize,
    pub total: usize,
}

/// What a container of rslim's gets at the image's VOLUMEs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VolumeMount {
    /// An anonymous volume, as `docker run` makes for a VOLUME (the engine
    /// fills it from the image on start, and removing the container with
    /// its volumes removes it), but carrying rslim's owner label, so it can
    /// be told from other volumes on the engine (Docker keeps the label;
    /// Podman's compatible API drops it).
    #[default]
    Labelled,
    /// A tmpfs: no volume at all, for a container that never starts (the
    /// export, which reads the image's files, never a mount).
    Tmpfs,
}

/// The mounts for `paths` (absolute ones; others are left to the engine).
fn volume_mounts(
    paths: &[String],
    kind: VolumeMount,
    owner: &str,
) -> (Vec<Mount>, HashMap<String, String>) {
    let mut targets: Vec<String> = paths
        .iter()
        .map(|p| match p.trim_end_matches('/') {
            "" => p.clone(),
            trimmed => trimmed.to_string(),
        })
        .filter(|p| p.starts_with('/') && p != "/")
        .collect();
    targets.sort();
    targets.dedup();
    match kind {
        VolumeMount::Labelled => {
            let mounts = targets
                .into_iter()
                .map(|target| Mount {
                    target: Some(target),
                    typ: Some(MountType::VOLUME),
                    volume_options: Some(MountVolumeOptions {
                        labels: Some(HashMap::from([(
                            OWNER_LABEL.to_string(),
                            owner.to_string(),
                        )])),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            (mounts, HashMap::new())
        }
        VolumeMount::Tmpfs => (
            Vec::new(),
            targets.into_iter().map(|t| (t, String::new())).collect(),
        ),
    }
}

impl Docker {
    /// Connects to the engine `--engine` and the environment name
    /// ([`engine::find_endpoint`]: DOCKER_HOST, CONTAINER_HOST, the local
    /// sockets), checks that it answers and finds out which engine it is.
    pub async fn connect() -> Result<Docker> {
        let endpoint = engine::find_endpoint(engine::chosen_engine(), &engine::HostEnv::current())?;
        let unreachable = |e: &dyn std::fmt::Display| {
            let (what, hint) = match endpoint.likely_kind() {
                EngineKind::Docker => ("the Docker daemon", "is dockerd running?"),
                EngineKind::Podman => (
                    "the Podman service",
                    "is `podman system service` running? `systemctl enable --now podman.socket` starts it",
                ),
            };
            Failure::msg(
                ExitKind::DaemonUnreachable,
                format!(
                    "cannot reach {what} at {} (from {}): {e} ({hint})",
                    endpoint.host, endpoint.chosen_by
                ),
            )
        };
        let api = bollard::Docker::connect_with_host(&endpoint.host)
            .map_err(|e| unreachable(&e))?
            .with_timeout(Duration::from_secs(600));
        match tokio::time::timeout(Duration::from_secs(10), api.ping()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(unreachable(&e)),
            Err(_) => return Err(unreachable(&"no answer within 10 s")),
        }
        let kind = engine::identify(&api, &endpoint.host).await;
        if let Some(wanted) = endpoint.wanted.filter(|&w| w != kind) {
            return Err(Failure::msg(
                ExitKind::Usage,
                format!(
                    "--engine {}, but {} (from {}) is served by {kind}: drop --engine or \
                     point {} at {wanted}",
                    wanted.to_string().to_lowercase(),
                    endpoint.host,
                    endpoint.chosen_by,
                    match wanted {
                        EngineKind::Docker => "DOCKER_HOST",
                        EngineKind::Podman => "CONTAINER_HOST",
                    }
                ),
            ));
        }
        let engine = Engine {
            kind,
            host: endpoint.host,
        };
        Ok(Docker {
            api,
            engine,
            security_options: Default::default(),
        })
    }

    /// The engine behind the API.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Fails when the engine's containers live in a user namespace (rootless
    /// Podman or Docker, Docker's userns-remap): CAP_SYS_ADMIN there is not
    /// CAP_SYS_ADMIN in the host's namespace, which fanotify needs. Creating
    /// a container with SYS_ADMIN checks this; a caller may check earlier.
    pub async fn check_host_sys_admin(&self) -> Result<()> {
        let how = match self.engine.kind {
            EngineKind::Podman => engine::podman_is_rootless(&self.engine.host)
                .await
                .unwrap_or(false)
                .then_some("rootless Podman"),
            EngineKind::Docker => {
                let has = self.has_security_option().await?;
                if has("name=rootless") {
                    Some("rootless Docker")
                } else if has("name=userns") {
                    Some("Docker with userns-remap")
                } else {
                    None
                }
            }
        };
        match how {
            Some(how) => Err(engine::user_namespace_failure(&self.engine, how)),
            None => Ok(()),
        }
    }

    /// Whether a container given CAP_SYS_ADMIN may bind-mount: Docker's
    /// default seccomp profile allows it with the capability, but its
    /// AppArmor profile (`docker-default`) denies every mount, and SELinux
    /// policies may. Podman is not asked (its walker reads as before).
    pub async fn containers_may_bind(&self) -> bool {
        if self.engine.kind != EngineKind::Docker {
            return false;
        }
        let Ok(has) = self.has_security_option().await else {
            return false;
        };
        !has("name=apparmor") && !has("name=selinux")
    }

    /// Whether the daemon's security options (`name=seccomp,profile=…`,
    /// `name=rootless`, …) include a `key=value` pair, from `GET /info`
    /// asked once for this connection.
    async fn has_security_option(&self) -> Result<impl Fn(&str) -> bool + '_> {
        let options = self
            .security_options
            .get_or_try_init(|| async {
                match self.api.info().await {
                    Ok(info) => Ok(info.security_options.unwrap_or_default()),
                    Err(e) => Err(api_failure("cannot read the daemon's info".into(), e)),
                }
            })
            .await?;
        Ok(|pair: &str| options.iter().any(|o| o.split(',').any(|kv| kv == pair)))
    }

    pub async fn inspect_image(&self, image: &str) -> Result<ImageInspect> {
        let mut inspect = self.api.inspect_image(image).await.map_err(|e| match status(&e) {
            Some(404) => Failure::msg(
                ExitKind::ImageNotFound,
                format!("image {image} is not present locally (build or pull it first, or pass --pull)"),
            ),
            _ => api_failure(format!("cannot inspect image {image}"), e),
        })?;
        if self.engine.kind == EngineKind::Podman {
            self.complete_podman_inspect(&mut inspect).await?;
        }
        Ok(inspect)
    }

    pub async fn pull_image(&self, image: &str) -> Result<()> {
        let (name, tag) = split_reference(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut progress = self.api.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| {
                Failure::msg(
                    ExitKind::ImageNotFound,
                    format!("cannot pull {image}: {}", short_error(&e)),
                )
            })?;
        }
        Ok(())
    }

    /// Streams `docker save IMAGE` into `out` (a temp file), never holding
    /// the image in memory.
    pub async fn save_image(&self, image: &str, out: &mut tokio::fs::File) -> Result<u64> {
        let what = format!("cannot export image {image}");
        spool(self.api.export_image(image), out, what).await
    }

    /// Streams `docker export CONTAINER` (its merged filesystem) into `out`.
    pub async fn export_container(
        &self,
        container: &str,
        out: &mut tokio::fs::File,
    ) -> Result<u64> {
        let what = "cannot export the image's filesystem".to_string();
        spool(self.api.export_container(container), out, what).await
    }

    pub async fn tag_image(&self, image: &str, reference: &str) -> Result<()> {
        let (repo, tag) = split_reference(reference);
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.api
            .tag_image(image, Some(options))
            .await
            .map_err(|e| api_failure(format!("cannot tag {image} as {reference}"), e))
    }

    /// Creates a container. One that asks for CAP_SYS_ADMIN (the sensor's)
    /// is refused up front when the engine cannot give it for real.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        if spec.cap_add.iter().any(|cap| cap == "SYS_ADMIN") {
            self.check_host_sys_admin().await?;
        }
        let mut bindings = HashMap::new();
        let mut exposed = Vec::new();
        for port in &spec.publish_tcp {
            let key = format!("{port}/tcp");
            exposed.push(key.clone());
            let loopback = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            };
            bindings.insert(key, Some(vec![loopback]));
        }
        let owner = crate::leftovers::owner::Owner::current().label();
        let (mounts, tmpfs) = volume_mounts(&spec.volumes, spec.volumes_as, &owner);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.cmd.clone(),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            // The engine merges these into the image's Env, as `docker run -e` does.
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            exposed_ports: Some(exposed),
            labels: Some(HashMap::from([(OWNER_LABEL.to_string(), owner)])),
            open_stdin: spec.stdin.then_some(true),
            attach_stdin: spec.stdin.then_some(true),
            attach_stdout: spec.stdin.then_some(true),
            // The engine closes stdin when the client goes: a killed rslim's
            // walker sees the end of its input and exits.
            stdin_once: spec.stdin.then_some(true),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                cap_add: Some(spec.cap_add.clone()),
                cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
                network_mode: spec.no_network.then(|| "none".to_string()),
                log_config: spec.stdin.then(|| HostConfigLogConfig {
                    typ: Some("none".into()),
                    config: None,
                }),
                mounts: (!mounts.is_empty()).then_some(mounts),
                tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = self
            .api
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                api_failure(format!("cannot create a container from {}", spec.image), e)
            })?;
        Ok(created.id)
    }

    /// Extracts a tar archive into the container's filesystem at `/`.
    pub async fn upload_tar(&self, container: &str, tar: Vec<u8>) -> Result<()> {
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.api
            .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| api_failure("cannot copy the sensor into the container".into(), e))
    }

    pub async fn start_container(&self, container: &str) -> Result<()> {
        self.api
            .start_container(container, None)
            .await
            .map_err(|e| api_failure("cannot start the profiling container".into(), e))
    }

    pub async fn inspect_container(&self, container: &str) -> Result<ContainerInspectResponse> {
        self.api
            .inspect_container(container, None)
            .await
            .map_err(|e| api_failure("cannot inspect the profiling container".into(), e))
    }

    /// Host port published for `container_port/tcp`, once the container runs.
    pub async fn published_port(
        &self,
        container: &str,
        container_port: u16,
    ) -> Result<Option<u16>> {
        let inspect = self.inspect_container(container).await?;
        let key = format!("{container_port}/tcp");
        Ok(inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|mut ports| ports.remove(&key))
            .flatten()
            .into_iter()
            .flatten()
            .find_map(|b| b.host_port?.parse().ok()))
    }

    pub async fn kill_container(&self, container: &str, signal: &str) -> Result<()> {
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        match self.api.kill_container(container, Some(options)).await {
            // 409: it is not running any more, which is what we wanted.
            Err(e) if status(&e) == Some(409) => Ok(()),
            // Podman says so with a 500 ("container state improper").
            Err(e) if status(&e) == Some(500) && !self.is_running(container).await => Ok(()),
            other => {
                other.map_err(|e| api_failure("cannot signal the profiling container".into(), e))
            }
        }
    }

    async fn is_running(&self, container: &str) -> bool {
        match self.api.inspect_container(container, None).await {
            Ok(inspect) => inspect.state.and_then(|s| s.running).unwrap_or(false),
            // Gone, or unreadable: certainly not signalled by us now.
            Err(_) => false,
        }
    }

    /// Waits until the container stops; returns its exit code.
    pub async fn wait_container(&self, container: &str) -> Result<i64> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut waits = self.api.wait_container(container, Some(options));
        match waits.next().await {
            Some(Ok(done)) => Ok(done.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(api_failure(
                "cannot wait for the profiling container".into(),
                e,
            )),
            None => Err(Failure::msg(
                ExitKind::Internal,
                "the daemon ended the wait without a status",
            )),
        }
    }

    /// The last `lines` lines of the container's stdout and stderr.
    pub async fn logs_tail(&self, container: &str, lines: usize) -> Result<String> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let chunks: Vec<_> = self
            .api
            .logs(container, Some(options))
            .try_collect()
            .await
            .map_err(|e| api_failure("cannot read the container's logs".into(), e))?;
        Ok(chunks
            .iter()
            .map(|c| String::from_utf8_lossy(&c.clone().into_bytes()).into_owned())
            .collect())
    }

    /// Everything the container wrote, in the order the engine logged it:
    /// (whether it came from stderr, the bytes), at most `max_bytes` in all
    /// (the rest is counted, not kept). Complete once the container exited.
    pub async fn output(&self, container: &str, max_bytes: usize) -> Result<LoggedOutput> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = self.api.logs(container, Some(options));
        let mut logged = LoggedOutput::default();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| api_failure("cannot read the container's logs".into(), e))?;
            let from_stderr = matches!(chunk, bollard::container::LogOutput::StdErr { .. });
            let bytes = chunk.into_bytes();
            logged.total += bytes.len();
            let room = max_bytes.saturating_sub(logged.kept);
            if room > 0 {
                let kept = bytes.slice(..bytes.len().min(room));
                logged.kept += kept.len();
                logged.chunks.push((from_stderr, kept));
            }
        }
        Ok(logged)
    }

    /// The container's last log lines, as a block to append to an error
    /// message ("\n  last log lines:\n    ..."); empty when there are none.
    pub async fn log_excerpt(&self, container: &str) -> String {
        /// Enough to show why an app failed without burying the error.
        const LINES: usize = 15;
        match self.logs_tail(container, LINES).await {
            Ok(logs) if !logs.trim().is_empty() => {
                let indented: Vec<String> = logs
                    .trim_end()
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect();
                format!("\n  last log lines:\n{}", indented.join("\n"))
            }
            _ => String::new(),
        }
    }

    /// The tar archive of `path` inside the (possibly stopped) container.
    pub async fn download(&self, container: &str, path: &str) -> Result<Vec<u8>> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let chunks: Vec<Bytes> = self
            .api
            .download_from_container(container, Some(options))
            .try_collect()
            .await
            .map_err(|e| api_failure(format!("cannot copy {path} out of the container"), e))?;
        Ok(chunks.concat())
    }

    /// Streams the archive API's tar of `path` in a container into `out`;
    /// `false` when the container has no such path.
    pub async fn download_to(
        &self,
        container: &str,
        path: &str,
        out: &mut tokio::fs::File,
    ) -> Result<bool> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.api.download_from_container(container, Some(options));
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Err(e) if status(&e) == Some(404) => return Ok(false),
                other => other.map_err(|e| {
                    api_failure(format!("cannot copy {path} out of the container"), e)
                })?,
            };
            out.write_all(&chunk).await.fail_with(ExitKind::Internal)?;
        }
        out.flush().await.fail_with(ExitKind::Internal)?;
        Ok(true)
    }

    /// Like [`Docker::download`], but gives up once the archive exceeds
    /// `max_bytes`: what the container holds may be hostile and huge.
    pub async fn download_capped(
        &self,
        container: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.api.download_from_container(container, Some(options));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| api_failure(format!("cannot copy {path} out of the container"), e))?;
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(Failure::msg(
                    ExitKind::SensorFailed,
                    format!("{path} in the container is larger than {max_bytes} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Runs `cmd` in the running container as `user`; returns (exit code, stdout+stderr).
    pub async fn exec(&self, container: &str, cmd: &[&str], user: &str) -> Result<(i64, String)> {
        let options = bollard::exec::CreateExecOptions {
            cmd: Some(cmd.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            user: Some(user),
            ..Default::default()
        };
        let failed = |e| api_failure(format!("cannot run {:?} in the container", cmd), e);
        let exec = self
            .api
            .create_exec(container, options)
            .await
            .map_err(failed)?;
        let mut output = String::new();
        if let bollard::exec::StartExecResults::Attached {
            output: mut stream, ..
        } = self.api.start_exec(&exec.id, None).await.map_err(failed)?
        {
            while let Some(chunk) = stream.next().await {
                output.push_str(&String::from_utf8_lossy(
                    &chunk.map_err(failed)?.into_bytes(),
                ));
            }
        }
        let code = self
            .api
            .inspect_exec(&exec.id)
            .await
            .map_err(failed)?
            .exit_code
            .unwrap_or(-1);
        Ok((code, output))
    }

    /// Removes the container and its volumes; `false` when there was none.
    pub async fn remove_container_if_present(&self, container: &str) -> Result<bool> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.api.remove_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(api_failure(
                format!("cannot remove container {container}"),
                e,
            )),
        }
    }

    /// Removes the container and its anonymous volumes; a container that is
    /// already gone is not an error.
    pub async fn remove_container(&self, container: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.api.remove_container(container, Some(options)).await {
            Err(e) if status(&e) == Some(404) => Ok(()),
            other => {
                other.map_err(|e| api_failure(format!("cannot remove container {container}"), e))
            }
        }
    }
}

/// Writes a byte stream from the daemon into `out`; `what` names the
/// failure. Returns the bytes written.
async fn spool(
    stream: impl futures_util::Stream<Item = std::result::Result<Bytes, bollard::errors::Error>>,
    out: &mut tokio::fs::File,
    what: String,
) -> Result<u64> {
    let mut stream = std::pin::pin!(stream);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| api_failure(what.clone(), e))?;
        out.write_all(&chunk).await.fail_with(ExitKind::Internal)?;
        written += chunk.len() as u64;
    }
    out.flush().await.fail_with(ExitKind::Internal)?;
    Ok(written)
}

fn status(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn short_error(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            message.trim().to_string()
        }
        other => other.to_string(),
    }
}

fn api_failure(what: String, error: bollard::errors::Error) -> Failure {
    let kind = match error {
        bollard::errors::Error::DockerResponseServerError { .. } => ExitKind::Internal,
        // Transport errors: the daemon went away under us.
        bollard::errors::Error::HyperResponseError { .. }
        | bollard::errors::Error::IOError { .. }
        | bollard::errors::Error::RequestTimeoutError => ExitKind::DaemonUnreachable,
        _ => ExitKind::Internal,
    };
    Failure::msg(kind, format!("{what}: {}", short_error(&error)))
}

/// `repo:tag` → (`repo`, `tag`), minding registry ports (`host:5000/app`) and digests.
pub fn split_reference(reference: &str) -> (&str, &str) {
    if reference.contains('@') {
        return (reference, "");
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_labelled_anonymous_mounts_or_tmpfs() {
        let paths = [
            "/app/data/".to_string(),
            "/app/data".into(),
            "rel".into(),
            "/".into(),
            "/b".into(),
        ];
        let (mounts, tmpfs) = volume_mounts(&paths, VolumeMount::Labelled, "pid=1");
        assert!(tmpfs.is_empty());
        let targets: Vec<_> = mounts.iter().map(|m| m.target.clone().unwrap()).collect();
        assert_eq!(targets, ["/app/data", "/b"]);
        for mount in &mounts {
            assert_eq!(mount.typ, Some(MountType::VOLUME));
            assert_eq!(mount.source, None, "anonymous: removed with the container");
            let labels = mount
                .volume_options
                .as_ref()
                .unwrap()
                .labels
                .as_ref()
                .unwrap();
            assert_eq!(labels[OWNER_LABEL], "pid=1");
        }
        let (mounts, tmpfs) = volume_mounts(&paths, VolumeMount::Tmpfs, "pid=1");
        assert!(mounts.is_empty());
        assert_eq!(tmpfs.len(), 2);
        assert_eq!(tmpfs["/app/data"], "");
    }

    #[test]
    fn splits_image_references() {
        assert_eq!(split_reference("nginx"), ("nginx", "latest"));
        assert_eq!(split_reference("nginx:1.25"), ("nginx", "1.25"));
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/app:v2"),
            ("localhost:5000/app", "v2")
        );
    }
}
