//! Where Podman's Docker-compatible API answers differently from Docker in
//! ways the calls cannot absorb themselves. Each difference and the evidence
//! for it is in docs/design.md, "Podman".

use std::io::Read;

use bollard::models::{HealthConfig, ImageInspect};

use super::{engine, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};

impl Docker {
    /// Podman 4's compat image inspect differs from Docker's in three ways
    /// that would change the slim image's config:
    /// - `Config.Healthcheck` is left out: it is read from Podman's own
    ///   inspect (`/libpod/images/{id}/json`, field `Healthcheck`);
    /// - `Config.Shell` is left out and Podman shows it nowhere else: when the
    ///   history says a SHELL was set, the config is read from `docker save`
    ///   (slow, so only then);
    /// - `OsVersion` carries the Docker version that built the image (the
    ///   config's `docker_version`), not `os.version`: dropped when it is that.
    pub(super) async fn complete_podman_inspect(&self, inspect: &mut ImageInspect) -> Result<()> {
        let id = inspect.id.clone().unwrap_or_default();
        let hex = id.trim_start_matches("sha256:").to_string();
        let path = format!("/v4.0.0/libpod/images/{hex}/json");
        let native = engine::raw_get(&self.engine.host, &path)
            .await
            .ok()
            .filter(|reply| reply.status == 200)
            .and_then(|reply| serde_json::from_slice::<serde_json::Value>(&reply.body).ok())
            .ok_or_else(|| {
                Failure::msg(
                    ExitKind::Internal,
                    format!("cannot read Podman's own inspect of image {id} ({path})"),
                )
            })?;
        if inspect.os_version.is_some()
            && inspect.os_version.as_deref() == native["Version"].as_str()
        {
            inspect.os_version = None;
        }
        let config = inspect.config.get_or_insert_with(Default::default);
        if config.healthcheck.is_none() {
            config.healthcheck =
                serde_json::from_value::<Option<HealthConfig>>(native["Healthcheck"].clone())
                    .ok()
                    .flatten();
        }
        if config.shell.is_none() && sets_shell(&native) {
            let saved = self.config_from_save(&hex).await?;
            let run = &saved["config"];
            config.shell = serde_json::from_value(run["Shell"].clone()).ok();
            config.args_escaped = run["ArgsEscaped"].as_bool();
        }
        Ok(())
    }

    /// The image config document, read from `docker save` of image `hex`:
    /// the member named by the image ID is the config.
    async fn config_from_save(&self, hex: &str) -> Result<serde_json::Value> {
        let spool = tempfile::tempfile().fail_with(ExitKind::Internal)?;
        let mut out = tokio::fs::File::from_std(spool);
        self.save_image(hex, &mut out).await?;
        let file = out.into_std().await;
        let wanted = format!("{hex}.json");
        let found = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
            use std::io::Seek;
            let mut file = file;
            file.rewind()?;
            let mut archive = tar::Archive::new(file);
            for entry in archive.entries()? {
                let mut entry = entry?;
                if entry.path()?.as_os_str() == wanted.as_str() {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes)?;
                    return Ok(Some(bytes));
                }
            }
            Ok(None)
        })
        .await
        .fail_with(ExitKind::Internal)?
        .fail_with(ExitKind::Internal)?
        .ok_or_else(|| {
            Failure::msg(
                ExitKind::Internal,
                format!("Podman's save of image {hex} holds no config {hex}.json"),
            )
        })?;
        serde_json::from_slice(&found).fail_with(ExitKind::Internal)
    }
}

/// Whether the image's history (Podman's inspect) records a SHELL instruction.
fn sets_shell(native: &serde_json::Value) -> bool {
    native["History"].as_array().is_some_and(|history| {
        history.iter().any(|step| {
            step["created_by"]
                .as_str()
                .is_some_and(|by| by.contains("SHELL ["))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::sets_shell;
    use serde_json::json;

    #[test]
    fn finds_shell_instructions_in_the_history() {
        let classic = json!({"History": [{"created_by": "/bin/sh -c #(nop)  SHELL [/bin/bash -o pipefail -c]"}]});
        let buildkit = json!({"History": [{"created_by": "SHELL [/bin/bash -c]", "comment": "buildkit.dockerfile.v0"}]});
        let none = json!({"History": [{"created_by": "/bin/sh -c apt-get install -y nginx"}]});
        assert!(sets_shell(&classic));
        assert!(sets_shell(&buildkit));
        assert!(!sets_shell(&none));
        assert!(!sets_shell(&json!({})));
    }
}
