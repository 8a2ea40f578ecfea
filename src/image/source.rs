//! Where an image's files come from. Every source ends as an
//! [`ImageArchive`] read by the same reader: an archive file, `docker save`
//! (every layer: what xray needs), or `docker export` of a container that
//! never ran (the merged filesystem, 2.5 times faster: what build needs).
//! Daemon data is spooled into anonymous temp files, so nothing is left
//! behind whatever happens.

use std::path::Path;

use anyhow::Context;

use super::archive::{Format, Selection};
use super::transport::ImageSource;
use super::{verify, ImageArchive, Platform};
use crate::docker::{ContainerSpec, CreatedContainers, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};

/// A docker-save or OCI archive file (`--archive`), checked against itself,
/// for `platform` when it holds several.
pub fn open_archive(path: &Path, platform: &Platform) -> Result<ImageArchive> {
    let selection = Selection {
        platform: platform.clone(),
        ..Selection::default()
    };
    must_exist(path)?;
    ImageArchive::open_file(path, &selection).map_err(archive_failure)
}

/// An image given as `docker-archive:`, `oci-archive:` or `oci:`; `None`
/// for an engine image.
pub fn open_source(source: &ImageSource, platform: &Platform) -> Result<Option<ImageArchive>> {
    let selection = |format, reference: &Option<String>| Selection {
        format,
        reference: reference.clone(),
        platform: platform.clone(),
        verify: true,
    };
    let opened = match source {
        ImageSource::Engine(_) => return Ok(None),
        ImageSource::DockerArchive { path, reference } => {
            must_exist(path)?;
            ImageArchive::open_file(path, &selection(Format::DockerSave, reference))
        }
        ImageSource::OciArchive { path, reference } => {
            must_exist(path)?;
            ImageArchive::open_file(path, &selection(Format::Oci, reference))
        }
        ImageSource::OciLayout { dir, reference } => {
            must_exist(dir)?;
            ImageArchive::open_layout(dir, &selection(Format::Oci, reference))
        }
    };
    opened.map(Some).map_err(archive_failure)
}

/// The failure for an error reading an archive the user gave: exit 11 when
/// the archive is at fault, 1 when the host is.
pub fn archive_failure(error: anyhow::Error) -> Failure {
    Failure::new(verify::exit_kind(&error), error)
}

fn must_exist(path: &Path) -> Result<()> {
    match path.symlink_metadata() {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::msg(
            ExitKind::Usage,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// `docker save IMAGE`: the config and every layer.
pub async fn save_from_daemon(docker: &Docker, image: &str) -> Result<ImageArchive> {
    let mut spool = spool_file()?;
    docker
        .save_image(image, &mut spool)
        .await
        .map_err(|f| crate::space::explain(f, "the image (docker save)", None))?;
    let file = spool.into_std().await;
    tokio::task::spawn_blocking(move || ImageArchive::from_file(file))
        .await
        .fail_with(ExitKind::Internal)?
        .with_context(|| format!("the daemon's export of {image} is unreadable"))
        .fail_with(ExitKind::Internal)
}

/// `docker export` of a container created from `image_id` (named `name`,
/// through `created` so every exit path removes it) and never started.
/// `config_bytes` is the image's config document.
pub async fn export_from_daemon(
    docker: &Docker,
    created: &CreatedContainers,
    name: String,
    image_id: &str,
    config_bytes: Vec<u8>,
) -> Result<ImageArchive> {
    // Never started, so its VOLUMEs get a tmpfs each rather than a volume
    // that would outlive a killed rslim (the export reads the image's files).
    let volumes = crate::image::ImageConfig::parse(&config_bytes)
        .map(|config| config.run.volume_paths())
        .unwrap_or_default();
    let spec = ContainerSpec {
        name,
        image: image_id.to_string(),
        // Never started: the entrypoint only has to be non-empty.
        entrypoint: Some(vec![rslim_sensor::SENSOR_PATH.to_string()]),
        volumes,
        volumes_as: crate::docker::VolumeMount::Tmpfs,
        ..ContainerSpec::default()
    };
    let id = created.create(docker, &spec).await?;
    let mut spool = spool_file()?;
    let exported = docker.export_container(&id, &mut spool).await;
    docker.remove_container(&id).await?;
    exported?;
    let file = spool.into_std().await;
    ImageArchive::from_flat_export(file, config_bytes)
        .context("the daemon's export of the image is unreadable")
        .fail_with(ExitKind::Internal)
}

fn spool_file() -> Result<tokio::fs::File> {
    let file = tempfile::tempfile()
        .context("cannot create a temp file for the image")
        .fail_with(ExitKind::Internal)?;
    Ok(tokio::fs::File::from_std(file))
}
