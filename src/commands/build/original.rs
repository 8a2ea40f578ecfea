//! The original image's filesystem, read in the background while the app
//! is profiled (see docs/design.md, "Reading the original filesystem").

use std::path::PathBuf;

use crate::docker::{ContainerSpec, CreatedContainers, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::export::{parse_rfc3339, undo_init_layer};
use crate::image::{ImageArchive, RootFs};
use crate::sensor::container::container_name;

/// The original image, exported and indexed.
pub struct Original {
    pub archive: ImageArchive,
    pub rootfs: RootFs,
}

/// Reads the original image's filesystem: `docker export` of a container
/// created from the image and never started (the layers as Docker merges
/// them, twice as fast as `docker save`), or the given archive.
pub async fn read_original(
    docker: Docker,
    image_id: String,
    archive: Option<PathBuf>,
    config_bytes: Vec<u8>,
    created: CreatedContainers,
) -> Result<Original> {
    let archive = match archive {
        Some(path) => {
            let file = std::fs::File::open(&path).map_err(|e| {
                Failure::msg(
                    ExitKind::Usage,
                    format!("cannot open archive {}: {e}", path.display()),
                )
            })?;
            Some(file)
        }
        None => None,
    };
    let flat_export = match archive {
        Some(_) => None,
        None => {
            let name = container_name("export");
            let spec = ContainerSpec {
                name: name.clone(),
                image: image_id.clone(),
                // Never started: the entrypoint only has to be non-empty.
                entrypoint: Some(vec![rslim_sensor::SENSOR_PATH.to_string()]),
                ..ContainerSpec::default()
            };
            let id = created.create(&docker, &spec).await?;
            // Anonymous temp file: nothing to clean up, whatever happens.
            let spool = tempfile::tempfile().fail_with(ExitKind::Internal)?;
            let mut spool = tokio::fs::File::from_std(spool);
            let exported = docker.export_container(&id, &mut spool).await;
            docker.remove_container(&id).await?;
            exported?;
            Some(spool.into_std().await)
        }
    };
    let flat = flat_export.is_some();
    tokio::task::spawn_blocking(move || {
        let archive = match (archive, flat_export) {
            (Some(file), _) => ImageArchive::from_file(file)?,
            (None, Some(spool)) => ImageArchive::from_flat_export(spool, config_bytes)?,
            (None, None) => unreachable!("either an archive or an export"),
        };
        let mut rootfs = RootFs::build(&archive)?;
        if flat {
            let created = archive.config.created.as_deref().and_then(parse_rfc3339);
            undo_init_layer(&mut rootfs, created.unwrap_or(0));
        }
        anyhow::Ok(Original { archive, rootfs })
    })
    .await
    .fail_with(ExitKind::Internal)?
    .fail_with(ExitKind::Internal)
}

/// Aborts a background task when the build ends before awaiting it.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The image config document (as `docker save` stores it) rebuilt from
/// the daemon's inspect answer: platform, creation time and run config.
pub fn config_document(inspect: &bollard::models::ImageInspect) -> Result<Vec<u8>> {
    let mut document = serde_json::Map::new();
    let mut put = |key: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value.filter(|v| !v.is_null() && v != "") {
            document.insert(key.to_string(), value);
        }
    };
    put("architecture", inspect.architecture.clone().map(Into::into));
    put("os", inspect.os.clone().map(Into::into));
    put("variant", inspect.variant.clone().map(Into::into));
    put("os.version", inspect.os_version.clone().map(Into::into));
    put("author", inspect.author.clone().map(Into::into));
    put("created", inspect.created.clone().map(Into::into));
    put("config", serde_json::to_value(&inspect.config).ok());
    serde_json::to_vec(&document).fail_with(ExitKind::Internal)
}
