//! Exercising the app while the sensor records: wait for each exposed port
//! to listen, then ask it for `GET /`. A port that answers something other
//! than HTTP (a database, a cache) is not an error: it is given a fixed time
//! to be used and profiling goes on.

pub mod answer;
pub mod crawl;
pub mod expect;
pub mod http;
pub mod plan;
pub mod run;
pub mod script;
pub mod steps;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{ExitKind, Failure, Result};
use http::{Reply, Request};

/// How often the app's listening sockets are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Attempts at the first request once a port listens (docker-proxy may lag).
const REQUEST_ATTEMPTS: u32 = 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The running app, as the probes see it.
pub trait Target {
    /// TCP ports listening inside the container; `None` once the app is gone.
    fn listening(&self) -> impl std::future::Future<Output = Result<Option<Vec<u16>>>>;
    /// The 127.0.0.1 port published for a container port.
    fn host_port(&self, container_port: u16) -> Option<u16>;
}

#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub ready_timeout: Duration,
    pub non_http_wait: Duration,
    pub http: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortProbe {
    pub port: u16,
    /// `http` or `tcp` (listens, but does not speak HTTP)
    pub protocol: &'static str,
    pub status: Option<u16>,
    pub body_bytes: usize,
    pub body_sha256: Option<String>,
    pub ready_after_ms: u128,
}

/// Why probing stopped early.
#[derive(Debug)]
pub enum Interrupted {
    /// The app exited while being probed; its outcome tells the rest.
    AppGone,
    Failed(Failure),
}

impl From<Failure> for Interrupted {
    fn from(f: Failure) -> Self {
        Interrupted::Failed(f)
    }
}

/// Waits for every port and probes it, in port order.
pub async fn probe_ports(
    target: &impl Target,
    ports: &[u16],
    settings: &ProbeSettings,
) -> std::result::Result<Vec<PortProbe>, Interrupted> {
    let started = Instant::now();
    let mut results = Vec::new();
    for &port in ports {
        let host_port = target.host_port(port).ok_or_else(|| {
            Failure::msg(
                ExitKind::ProbeFailed,
                format!("port {port} was not published on 127.0.0.1"),
            )
        })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
        // An HTTP answer proves the app listens (docker-proxy only relays to
        // a listening app), so one quick try first spares the look at the
        // app's sockets, a `docker exec` of ~50 ms, when the app is ready.
        let early = match settings.http {
            true => answer_already(addr).await,
            false => None,
        };
        if early.is_none() {
            wait_listening(target, port, started, settings.ready_timeout).await?;
        }
        let ready_after_ms = started.elapsed().as_millis();
        let mut probe = PortProbe {
            port,
            protocol: "tcp",
            status: None,
            body_bytes: 0,
            body_sha256: None,
            ready_after_ms,
        };
        if settings.http {
            let answer = match early {
                Some(answer) => Some(answer),
                None => ask_http(target, addr).await?,
            };
            match answer {
                Some(answer) => {
                    probe.protocol = "http";
                    probe.status = Some(answer.status);
                    probe.body_bytes = answer.body.len();
                    probe.body_sha256 = Some(hex(&Sha256::digest(&answer.body)));
                }
                None => tokio::time::sleep(settings.non_http_wait).await,
            }
        } else {
            tokio::time::sleep(settings.non_http_wait).await;
        }
        results.push(probe);
    }
    Ok(results)
}

async fn wait_listening(
    target: &impl Target,
    port: u16,
    started: Instant,
    timeout: Duration,
) -> std::result::Result<(), Interrupted> {
    loop {
        match target.listening().await? {
            None => return Err(Interrupted::AppGone),
            Some(ports) if ports.contains(&port) => return Ok(()),
            Some(_) if started.elapsed() >= timeout => {
                return Err(Interrupted::Failed(Failure::msg(
                    ExitKind::ProbeFailed,
                    format!(
                        "port {port} never answered: nothing listened on it within {}s (see --ready-timeout)",
                        timeout.as_secs()
                    ),
                )))
            }
            Some(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// How long `GET /` is tried before anything is known of the app: an app
/// that starts at once answers within it; a slow or silent one, or one that
/// speaks another protocol, then goes the careful way.
const EARLY_TRIES: Duration = Duration::from_millis(300);
const EARLY_RETRY: Duration = Duration::from_millis(10);

/// `GET /` tried every 10 ms for [`EARLY_TRIES`] while the connection is
/// refused or closed (the app is not listening yet); only an HTTP answer counts.
async fn answer_already(addr: SocketAddr) -> Option<http::HttpAnswer> {
    let deadline = Instant::now() + EARLY_TRIES;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match http::send(addr, &Request::get("/"), left).await {
            Ok(Reply::Http(answer)) => return Some(answer),
            Ok(Reply::Closed) => {}
            Err(e) if e.kind() != std::io::ErrorKind::TimedOut => {}
            Ok(Reply::NotHttp(_)) | Err(_) => return None,
        }
        tokio::time::sleep(EARLY_RETRY).await;
    }
}

/// `GET /` until a real answer; `None` when the port speaks another protocol.
async fn ask_http(
    target: &impl Target,
    addr: SocketAddr,
) -> std::result::Result<Option<http::HttpAnswer>, Interrupted> {
    for _ in 0..REQUEST_ATTEMPTS {
        match http::send(addr, &Request::get("/"), REQUEST_TIMEOUT).await {
            Ok(Reply::Http(answer)) => return Ok(Some(answer)),
            Ok(Reply::NotHttp(_)) => return Ok(None),
            // A silent server (it waits for its own protocol's greeting).
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(None),
            Ok(Reply::Closed) | Err(_) => {
                if target.listening().await?.is_none() {
                    return Err(Interrupted::AppGone);
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }
    // Listening, but closes every connection without a byte: not HTTP.
    Ok(None)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
