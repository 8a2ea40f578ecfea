//! Which engine rslim talks to, and how it was found. Docker and Podman both
//! serve the Docker Engine API (Podman through `podman system service`), so
//! one client serves both; this module only picks the socket, tells the two
//! apart, and says whether the engine's containers live in a user namespace
//! (where the sensor cannot work). The differences in the answers are
//! handled where the calls are (see docs/design.md, "Podman").

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{ExitKind, Failure, Result};

/// The engines rslim knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    Docker,
    Podman,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        })
    }
}

/// The engine a [`super::Docker`] is connected to.
#[derive(Debug, Clone)]
pub struct Engine {
    pub kind: EngineKind,
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
}

pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
pub const PODMAN_ROOTFUL_SOCKET: &str = "/run/podman/podman.sock";

/// `--engine`, set once by `main` for the whole process, like DOCKER_HOST.
static CHOSEN: OnceLock<Option<EngineKind>> = OnceLock::new();

/// Records `--engine` for every later [`super::Docker::connect`].
pub fn choose_engine(kind: Option<EngineKind>) {
    let _ = CHOSEN.set(kind);
}

pub(super) fn chosen_engine() -> Option<EngineKind> {
    CHOSEN.get().copied().flatten()
}

/// What the endpoint is chosen from. [`HostEnv::current`] reads the real
/// environment; tests pass their own.
pub struct HostEnv {
    pub docker_host: Option<String>,
    pub container_host: Option<String>,
    pub xdg_runtime_dir: Option<String>,
    pub uid: u32,
    pub socket_exists: Box<dyn Fn(&Path) -> bool>,
}

impl HostEnv {
    pub fn current() -> HostEnv {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        HostEnv {
            docker_host: var("DOCKER_HOST"),
            container_host: var("CONTAINER_HOST"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            uid: nix::unistd::getuid().as_raw(),
            socket_exists: Box::new(|path| path.exists()),
        }
    }

    /// Podman's sockets in the order its own remote client would pick them:
    /// root's service first for root, the user's own (rootless) first for
    /// everyone else.
    fn podman_sockets(&self) -> Vec<String> {
        let mut rootless = Vec::new();
        if let Some(dir) = &self.xdg_runtime_dir {
            rootless.push(format!("{dir}/podman/podman.sock"));
        }
        let per_uid = format!("/run/user/{}/podman/podman.sock", self.uid);
        if !rootless.contains(&per_uid) {
            rootless.push(per_uid);
        }
        let rootful = PODMAN_ROOTFUL_SOCKET.to_string();
        match self.uid {
            0 => std::iter::once(rootful).chain(rootless).collect(),
            _ => rootless.into_iter().chain([rootful]).collect(),
        }
    }
}

/// Where to connect, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    /// What picked it, for messages.
    pub chosen_by: &'static str,
    /// The engine `--engine` asked for.
    pub wanted: Option<EngineKind>,
}

impl Endpoint {
    /// The engine this endpoint most likely leads to, before it answered.
    pub fn likely_kind(&self) -> EngineKind {
        match self.wanted {
            Some(kind) => kind,
            None if self.chosen_by == "CONTAINER_HOST" || self.host.contains("podman") => {
                EngineKind::Podman
            }
            None => EngineKind::Docker,
        }
    }
}

/// Picks the endpoint:
/// - `--engine docker`: DOCKER_HOST, else the Docker socket;
/// - `--engine podman`: CONTAINER_HOST, else the first Podman socket that exists
///   (`/run/podman/podman.sock`, `$XDG_RUNTIME_DIR/podman/podman.sock`, ...);
/// - neither: DOCKER_HOST, then CONTAINER_HOST, then the Docker socket if it
///   exists, then the Podman sockets, and the Docker socket as a last resort
///   (so the error names the usual place).
pub fn find_endpoint(wanted: Option<EngineKind>, env: &HostEnv) -> Result<Endpoint> {
    let endpoint = |host: &str, chosen_by| Endpoint {
        host: host.to_string(),
        chosen_by,
        wanted,
    };
    let variable = |name: &'static str, value: &Option<String>| -> Result<Option<Endpoint>> {
        value
            .as_deref()
            .map(|host| check_scheme(name, host).map(|()| endpoint(host, name)))
            .transpose()
    };
    let docker_socket = format!("unix://{DOCKER_SOCKET}");
    let podman_socket = || {
        env.podman_sockets()
            .into_iter()
            .find(|path| (env.socket_exists)(Path::new(path)))
            .map(|path| endpoint(&format!("unix://{path}"), "the Podman socket found"))
    };
    match wanted {
        Some(EngineKind::Docker) => Ok(variable("DOCKER_HOST", &env.docker_host)?
            .unwrap_or_else(|| endpoint(&docker_socket, "the default Docker socket"))),
        Some(EngineKind::Podman) => {
            if let Some(found) = variable("CONTAINER_HOST", &env.container_host)? {
                return Ok(found);
            }
            podman_socket().ok_or_else(|| {
                Failure::msg(
                    ExitKind::DaemonUnreachable,
                    format!(
                        "--engine podman: no Podman socket at {}; start the service \
                         (`sudo systemctl enable --now podman.socket`, or \
                         `podman system service --time=0 &`) or set CONTAINER_HOST",
                        env.podman_sockets().join(", ")
                    ),
                )
            })
        }
        None => {
            if let Some(found) = variable("DOCKER_HOST", &env.docker_host)? {
                return Ok(found);
            }
            if let Some(found) = variable("CONTAINER_HOST", &env.container_host)? {
                return Ok(found);
            }
            if (env.socket_exists)(Path::new(DOCKER_SOCKET)) {
                return Ok(endpoint(&docker_socket, "the default Docker socket"));
            }
            Ok(podman_socket()
                .unwrap_or_else(|| endpoint(&docker_socket, "the default Docker socket")))
        }
    }
}

/// The transports the client speaks: Unix sockets and plain TCP.
fn check_scheme(variable: &str, host: &str) -> Result<()> {
    if host.starts_with("unix://") || host.starts_with("tcp://") || host.starts_with("http://") {
        return Ok(());
    }
    let hint = if host.starts_with("ssh://") {
        "rslim does not tunnel over ssh; forward the remote socket \
         (`ssh -nNT -L /tmp/engine.sock:/run/podman/podman.sock user@host &`) and use \
         unix:///tmp/engine.sock"
    } else {
        "use unix:///path/to/socket or tcp://host:port"
    };
    Err(Failure::msg(
        ExitKind::Usage,
        format!("{variable}={host} is not an address rslim can use: {hint}"),
    ))
}

/// A reply read with [`raw_get`].
pub(super) struct RawReply {
    pub status: u16,
    head: String,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// One `GET` on the engine's socket, for what the API client does not show:
/// the headers of `/_ping` (Podman adds `Libpod-Api-Version`) and Podman's
/// own `/libpod/...` endpoints. HTTP/1.0, so the server closes the
/// connection after the reply and the body needs no chunk decoding.
pub(super) async fn raw_get(host: &str, path: &str) -> std::io::Result<RawReply> {
    /// More than Podman's largest answer we ask for (an image's inspect).
    const LIMIT: u64 = 16 << 20;
    let request = format!("GET {path} HTTP/1.0\r\nHost: rslim\r\nUser-Agent: rslim\r\n\r\n");
    let mut bytes = Vec::new();
    let exchange = async {
        if let Some(socket) = host.strip_prefix("unix://") {
            let mut stream = tokio::net::UnixStream::connect(socket).await?;
            stream.write_all(request.as_bytes()).await?;
            stream.take(LIMIT).read_to_end(&mut bytes).await
        } else {
            let address = host
                .trim_start_matches("tcp://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let mut stream = tokio::net::TcpStream::connect(address).await?;
            stream.write_all(request.as_bytes()).await?;
            stream.take(LIMIT).read_to_end(&mut bytes).await
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 30 s"))??;
    parse_reply(bytes)
}

fn parse_reply(mut bytes: Vec<u8>) -> std::io::Result<RawReply> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("the engine's reply has no end of headers"))?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("the engine's reply has no status"))?;
    let body = bytes.split_off(end + 4);
    let reply = RawReply { status, head, body };
    if reply
        .header("Transfer-Encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("chunked"))
    {
        return Err(invalid(
            "the engine sent a chunked reply to an HTTP/1.0 request",
        ));
    }
    Ok(reply)
}

/// Which engine answered `/_ping`: Podman's service adds its own
/// `Libpod-Api-Version` header to every reply, Docker never does.
pub(super) fn kind_from_ping(reply: &RawReply) -> EngineKind {
    match reply.header("Libpod-Api-Version") {
        Some(_) => EngineKind::Podman,
        None => EngineKind::Docker,
    }
}

/// Which engine serves `api`: from the `/_ping` headers (a millisecond),
/// else from `/version`'s components, which Podman's service takes about
/// 0.4 s to answer because it asks conmon and the OCI runtime.
pub(super) async fn identify(api: &bollard::Docker, host: &str) -> EngineKind {
    if let Ok(reply) = raw_get(host, "/_ping").await {
        if reply.status == 200 {
            return kind_from_ping(&reply);
        }
    }
    let podman = api
        .version()
        .await
        .ok()
        .and_then(|v| v.components)
        .is_some_and(|c| c.iter().any(|component| component.name.contains("Podman")));
    match podman {
        true => EngineKind::Podman,
        false => EngineKind::Docker,
    }
}

/// Whether rootless Podman serves `host`. A rootless service runs as its
/// user and creates its socket as that user, so a local socket owned by
/// root is rootful without asking; otherwise Podman's own `/info` says.
pub(super) async fn podman_is_rootless(host: &str) -> std::io::Result<bool> {
    if let Some(path) = host.strip_prefix("unix://") {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(path)?.uid() == 0 {
            return Ok(false);
        }
    }
    let reply = raw_get(host, "/info").await?;
    let info: serde_json::Value = serde_json::from_slice(&reply.body)?;
    Ok(info["Rootless"].as_bool().unwrap_or(false))
}

/// The failure for an engine whose containers live in a user namespace.
pub(super) fn user_namespace_failure(engine: &Engine, how: &str) -> Failure {
    Failure::msg(
        ExitKind::SensorFailed,
        format!(
            "{} at {} runs containers in a user namespace ({how}): the sensor's fanotify \
             watch needs CAP_SYS_ADMIN in the host's initial user namespace, which no \
             container of this engine can have, so the app cannot be profiled here. \
             Use rootful Podman (as root: `sudo rslim build --engine podman ...`, with \
             `sudo systemctl enable --now podman.socket` or `sudo podman system service \
             --time=0 &`) or Docker (`--engine docker`); `rslim xray` works as it is",
            engine.kind, engine.host
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(docker: Option<&str>, container: Option<&str>, uid: u32, sockets: &[&str]) -> HostEnv {
        let sockets: Vec<String> = sockets.iter().map(|s| s.to_string()).collect();
        HostEnv {
            docker_host: docker.map(str::to_string),
            container_host: container.map(str::to_string),
            xdg_runtime_dir: Some(format!("/run/user/{uid}")),
            uid,
            socket_exists: Box::new(move |p| sockets.iter().any(|s| Path::new(s) == p)),
        }
    }

    fn host(wanted: Option<EngineKind>, env: &HostEnv) -> String {
        find_endpoint(wanted, env)
            .map(|e| e.host)
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn docker_host_comes_first_then_container_host() {
        let both = env(Some("unix:///a.sock"), Some("unix:///b.sock"), 0, &[]);
        assert_eq!(host(None, &both), "unix:///a.sock");
        let podman_only = env(None, Some("unix:///b.sock"), 0, &[DOCKER_SOCKET]);
        assert_eq!(host(None, &podman_only), "unix:///b.sock");
        assert_eq!(
            find_endpoint(None, &podman_only).unwrap().likely_kind(),
            EngineKind::Podman
        );
    }

    #[test]
    fn without_variables_the_docker_socket_wins_then_podman_is_found() {
        let docker = env(None, None, 0, &[DOCKER_SOCKET, PODMAN_ROOTFUL_SOCKET]);
        assert_eq!(host(None, &docker), "unix:///var/run/docker.sock");
        let podman = env(None, None, 0, &[PODMAN_ROOTFUL_SOCKET]);
        assert_eq!(host(None, &podman), "unix:///run/podman/podman.sock");
        let nothing = env(None, None, 0, &[]);
        assert_eq!(host(None, &nothing), "unix:///var/run/docker.sock");
    }

    #[test]
    fn engine_podman_finds_root_and_user_sockets_and_ignores_docker_host() {
        let user = "/run/user/1000/podman/podman.sock";
        let both = [PODMAN_ROOTFUL_SOCKET, user];
        let podman = Some(EngineKind::Podman);
        assert_eq!(
            host(podman, &env(Some("unix:///d.sock"), None, 0, &both)),
            "unix:///run/podman/podman.sock"
        );
        assert_eq!(
            host(podman, &env(None, None, 1000, &both)),
            format!("unix://{user}")
        );
        assert_eq!(
            host(podman, &env(None, None, 1000, &[PODMAN_ROOTFUL_SOCKET])),
            "unix:///run/podman/podman.sock"
        );
        assert_eq!(
            host(podman, &env(None, Some("tcp://10.0.0.1:8888"), 0, &both)),
            "tcp://10.0.0.1:8888"
        );
        let missing = host(podman, &env(None, None, 0, &[]));
        assert!(
            missing.contains("no Podman socket at /run/podman/podman.sock"),
            "{missing}"
        );
    }

    #[test]
    fn engine_docker_ignores_container_host() {
        let env = env(None, Some("unix:///b.sock"), 0, &[PODMAN_ROOTFUL_SOCKET]);
        assert_eq!(
            host(Some(EngineKind::Docker), &env),
            "unix:///var/run/docker.sock"
        );
    }

    #[test]
    fn ssh_and_unknown_schemes_are_refused_with_advice() {
        let ssh = host(
            None,
            &env(None, Some("ssh://me@box/run/podman/podman.sock"), 0, &[]),
        );
        assert!(ssh.contains("ssh -nNT -L"), "{ssh}");
        let odd = host(None, &env(Some("npipe:////./pipe/docker"), None, 0, &[]));
        assert!(odd.contains("DOCKER_HOST=npipe"), "{odd}");
    }

    #[test]
    fn reads_the_ping_headers() {
        let podman = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 4.3.1\r\n\
                       Server: Libpod/4.3.1 (linux)\r\n\r\nOK";
        let reply = parse_reply(podman.to_vec()).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"OK");
        assert_eq!(reply.header("libpod-api-version"), Some("4.3.1"));
        assert_eq!(kind_from_ping(&reply), EngineKind::Podman);
        let docker =
            b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nServer: Docker/20.10.24 (linux)\r\n\r\nOK";
        assert_eq!(
            kind_from_ping(&parse_reply(docker.to_vec()).unwrap()),
            EngineKind::Docker
        );
        assert!(parse_reply(b"HTTP/1.0 200 OK\r\n".to_vec()).is_err());
    }
}
