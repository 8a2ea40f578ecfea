//! Everything a build creates in the daemon, and removing it on every exit
//! path, including SIGINT and SIGTERM.

use std::sync::{Arc, Mutex};

use crate::docker::Docker;

/// The containers this run created, by name (known before the daemon
/// answers, so an interrupt mid-create still finds them).
#[derive(Default, Clone)]
pub struct Created(Arc<Mutex<Vec<String>>>);

impl Created {
    pub fn register(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.to_string());
    }

    pub async fn remove_all(&self, docker: &Docker) {
        let names = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        // Also sweep by label: a create that was in flight when we stopped
        // may have finished after its name was removed.
        let labelled = docker
            .containers_of_this_process()
            .await
            .unwrap_or_default();
        for name in names.into_iter().chain(labelled) {
            if let Err(e) = docker.remove_container(&name).await {
                eprintln!("rslim: warning: could not remove container {name}: {e}; remove it with `docker rm -fv {name}`");
            }
        }
    }
}

pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
