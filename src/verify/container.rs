//! A plain container of an image for verification: created as `docker run
//! -p 127.0.0.1::PORT IMAGE` would, no sensor inside, so readiness is seen
//! from the outside only.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::VerifyRequest;
use crate::docker::{ContainerSpec, Docker};
use crate::error::Result;
use crate::image::ImageConfig;
use crate::probe::http::{self, Reply, Request};
use crate::probe::steps::{image_user, Endpoint};
use crate::sensor::container::container_name;
use crate::sensor::ExecVia;

const POLL_INTERVAL: Duration = Duration::from_millis(100);
const READY_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Plain {
    pub id: String,
    /// (container port, host port on 127.0.0.1)
    pub ports: Vec<(u16, u16)>,
    /// Ports the engine reported no host port for: the container exited
    /// before its ports were read (a slim image that fails at once).
    unpublished: Vec<u16>,
}

impl Plain {
    pub async fn start(
        docker: &Docker,
        request: &VerifyRequest<'_>,
        image: &str,
        purpose: &str,
    ) -> Result<Plain> {
        let name = container_name(purpose);
        let spec = ContainerSpec {
            name: name.clone(),
            image: image.to_string(),
            publish_tcp: request.config.run.tcp_ports(),
            // As `docker run` would, but the volumes carry rslim's label.
            volumes: request.config.run.volume_paths(),
            ..Default::default()
        };
        let id = request.created.create(docker, &spec).await?;
        let mut plain = Plain {
            id,
            ports: Vec::new(),
            unpublished: Vec::new(),
        };
        if let Err(e) = plain.publish(docker, &spec.publish_tcp).await {
            plain.remove(docker).await;
            return Err(e);
        }
        Ok(plain)
    }

    async fn publish(&mut self, docker: &Docker, ports: &[u16]) -> Result<()> {
        docker.start_container(&self.id).await?;
        for &port in ports {
            match docker.published_port(&self.id, port).await? {
                Some(host) => self.ports.push((port, host)),
                None => self.unpublished.push(port),
            }
        }
        Ok(())
    }

    /// Waits until every published port answers: HTTP, another protocol,
    /// or a server that waits silently for its client. docker-proxy accepts
    /// even with nothing behind it, so a bare connect proves nothing.
    pub async fn wait_ready(&self, docker: &Docker, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        if !self.unpublished.is_empty() {
            if !self.is_running(docker).await {
                return Err(self.exited(docker).await);
            }
            let ports: Vec<String> = self.unpublished.iter().map(u16::to_string).collect();
            return Err(format!("has no published port for {}", ports.join(", ")));
        }
        let mut waiting: Vec<(u16, u16)> = self.ports.clone();
        loop {
            let mut still = Vec::new();
            for (port, host_port) in waiting {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
                match http::send(addr, &Request::get("/"), READY_REQUEST_TIMEOUT).await {
                    Ok(Reply::Http(_) | Reply::NotHttp(_)) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    _ => still.push((port, host_port)),
                }
            }
            waiting = still;
            if waiting.is_empty() {
                return Ok(());
            }
            if !self.is_running(docker).await {
                return Err(self.exited(docker).await);
            }
            if Instant::now() > deadline {
                let ports: Vec<String> = waiting.iter().map(|(p, _)| p.to_string()).collect();
                return Err(format!(
                    "did not answer on port(s) {} within {}s (see --ready-timeout){}",
                    ports.join(", "),
                    timeout.as_secs(),
                    self.logs(docker).await
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn exited(&self, docker: &Docker) -> String {
        let code = docker.wait_container(&self.id).await.unwrap_or(-1);
        format!(
            "exited with code {code} before answering{}",
            self.logs(docker).await
        )
    }

    async fn is_running(&self, docker: &Docker) -> bool {
        docker
            .inspect_container(&self.id)
            .await
            .ok()
            .and_then(|i| i.state?.running)
            .unwrap_or(false)
    }

    async fn logs(&self, docker: &Docker) -> String {
        docker.log_excerpt(&self.id).await
    }

    pub fn endpoint<'a>(&'a self, docker: &'a Docker, config: &ImageConfig) -> Endpoint<'a> {
        Endpoint {
            docker,
            container: &self.id,
            user: image_user(config),
            exec_via: ExecVia::Docker,
            ports: self.ports.clone(),
        }
    }

    /// Removes the container and its anonymous volumes.
    pub async fn remove(self, docker: &Docker) {
        if let Err(e) = docker.remove_container(&self.id).await {
            crate::report::progress::warn(format_args!(
                "could not remove container {}: {e}; remove it with `docker rm -fv {}`",
                self.id, self.id
            ));
        }
    }
}
