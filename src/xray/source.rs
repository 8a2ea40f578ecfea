//! Where an image comes from: an archive file, or `docker save` through the
//! daemon, spooled into an anonymous temp file so nothing is left behind.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::Context;
use bollard::errors::Error as DockerError;
use bollard::Docker;
use futures_util::StreamExt;

use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::ImageArchive;

pub fn open_archive(path: &Path) -> Result<ImageArchive> {
    ImageArchive::open(path).fail_with(ExitKind::Usage)
}

/// Exports `name` from the daemon (honouring DOCKER_HOST) and opens it.
/// The one place xray talks to Docker.
pub async fn export_from_daemon(name: &str) -> Result<ImageArchive> {
    let unreachable = |e: DockerError| {
        Failure::new(
            ExitKind::DaemonUnreachable,
            anyhow::Error::new(e).context(
                "cannot reach the Docker daemon; is it running, and is DOCKER_HOST right?",
            ),
        )
    };
    let docker = Docker::connect_with_defaults().map_err(unreachable)?;
    // Inspect first: a missing image then fails fast with its own exit code,
    // instead of as a broken stream half-way through the export.
    match docker.inspect_image(name).await {
        Ok(_) => {}
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            return Err(Failure::msg(
                ExitKind::ImageNotFound,
                format!(
                "image {name} is not present locally; build or pull it first, or pass --archive"
            ),
            ))
        }
        Err(e) => return Err(unreachable(e)),
    }
    let mut spool = tempfile::tempfile()
        .context("cannot create a temp file for the exported image")
        .fail_with(ExitKind::Internal)?;
    let mut stream = docker.export_image(name);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .with_context(|| format!("exporting image {name} failed"))
            .fail_with(ExitKind::DaemonUnreachable)?;
        spool
            .write_all(&chunk)
            .context("cannot write the exported image to a temp file (is the disk full?)")
            .fail_with(ExitKind::Internal)?;
    }
    spool
        .seek(SeekFrom::Start(0))
        .fail_with(ExitKind::Internal)?;
    ImageArchive::from_file(spool)
        .with_context(|| format!("the daemon's export of {name} is unreadable"))
        .fail_with(ExitKind::Internal)
}
