//! Where xray's image comes from: an archive file, or `docker save` through
//! the daemon (both read by [`crate::image::source`]).

use crate::docker::Docker;
use crate::error::{ExitKind, Failure, Result};
use crate::image::ImageArchive;

pub use crate::image::source::{open_archive, open_source};

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
    crate::image::source::save_from_daemon(&docker, name).await
}
