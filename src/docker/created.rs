//! The containers one rslim run creates, so that every exit path (success,
//! error, SIGINT) removes them with their anonymous volumes.
//!
//! The hard case is an interrupt while a create request is in flight: the
//! daemon may still create the container after we gave up on the request.
//! Such names stay "in flight" and removal retries them for a while.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ContainerSpec, Docker};
use crate::error::Result;

/// How long removal waits for a container whose create was cut short.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);
/// How long removal waits for a removal already under way (the build's own,
/// in the background) before it says so: removing a large container's
/// anonymous volumes can take a while, and a container removed meanwhile
/// needs no warning.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Names {
    all: Vec<String>,
    in_flight: BTreeSet<String>,
}

#[derive(Clone, Default)]
pub struct CreatedContainers(Arc<Mutex<Names>>);

impl CreatedContainers {
    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a container, recorded by name *before* the request is sent.
    pub async fn create(&self, docker: &Docker, spec: &ContainerSpec) -> Result<String> {
        {
            let mut names = self.names();
            names.all.push(spec.name.clone());
            names.in_flight.insert(spec.name.clone());
        }
        let result = docker.create_container(spec).await;
        // Reached only if the request was not dropped half-way.
        self.names().in_flight.remove(&spec.name);
        result
    }

    /// Removes every container created (or maybe created) by this run.
    pub async fn remove_all(&self, docker: &Docker) {
        let (all, in_flight) = {
            let mut names = self.names();
            (
                std::mem::take(&mut names.all),
                std::mem::take(&mut names.in_flight),
            )
        };
        for name in &all {
            let deadline = Instant::now() + REMOVAL_WAIT;
            loop {
                match docker.remove_container(name).await {
                    Ok(()) => break,
                    // The build's own background removal is under way: wait
                    // until it is done (the next try finds the container
                    // gone), so that nothing (and no image it holds) is
                    // still there when rslim exits.
                    Err(e) if e.to_string().contains("already in progress") => {
                        if Instant::now() >= deadline {
                            crate::report::progress::warn(format_args!(
                                "the engine was still removing container {name} after {} s; \
                                 if `docker ps -a` still lists it, remove it with `docker rm -fv {name}`",
                                REMOVAL_WAIT.as_secs()
                            ));
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => {
                        crate::report::progress::warn(format_args!(
                            "could not remove container {name}: {e}; remove it with `docker rm -fv {name}`"
                        ));
                        break;
                    }
                }
            }
        }
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        for name in in_flight {
            while Instant::now() < deadline {
                match docker.remove_container_if_present(&name).await {
                    Ok(true) | Err(_) => break,
                    // Not there (yet): the daemon may still be creating it.
                    Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
}
