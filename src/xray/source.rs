//! Where an image comes from: an archive file, or `docker save` through the
//! daemon ([`crate::docker::Docker`]), spooled into an anonymous temp file so
//! nothing is left behind.

use std::path::Path;

use anyhow::Context;

use crate::docker::Docker;
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::ImageArchive;

pub fn open_archive(path: &Path) -> Result<ImageArchive> {
    ImageArchive::open(path).fail_with(ExitKind::Usage)
}

/// Exports `name` from the daemon (honouring DOCKER_HOST) and opens it.
pub async fn export_from_daemon(name: &str) -> Result<ImageArchive> {
    let docker = Docker::connect().await?;
    // Inspect first: a missing image then fails fast with its own exit code,
    // instead of as a broken stream half-way through the export.
    docker
        .inspect_image(name)
        .await
        .map_err(|failure| match failure.kind {
            // xray has no --pull; point at what it does have.
            ExitKind::ImageNotFound => Failure::msg(
                ExitKind::ImageNotFound,
                format!(
                    "image {name} is not present locally; build or pull it first, or pass --archive"
                ),
            ),
            _ => failure,
        })?;
    let spool = tempfile::tempfile()
        .context("cannot create a temp file for the exported image")
        .fail_with(ExitKind::Internal)?;
    let mut spool = tokio::fs::File::from_std(spool);
    docker.save_image(name, &mut spool).await?;
    ImageArchive::from_file(spool.into_std().await)
        .with_context(|| format!("the daemon's export of {name} is unreadable"))
        .fail_with(ExitKind::Internal)
}
