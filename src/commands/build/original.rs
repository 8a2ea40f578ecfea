//! The original image's filesystem, read in the background while the app
//! is profiled (see docs/design.md, "Reading the original filesystem").

use std::path::PathBuf;

use crate::docker::{CreatedContainers, Docker};
use crate::error::{ExitKind, FailWith, Result};
use crate::image::{source, ImageArchive, RootFs};
use crate::sensor::container::container_name;

/// The original image, exported and indexed.
pub struct Original {
    pub archive: ImageArchive,
    pub rootfs: RootFs,
}

/// Reads the original image's filesystem: `docker export` of a container
/// created from the image and never started (see [`source`]), or the given
/// archive; then indexes it.
pub async fn read_original(
    docker: Docker,
    image_id: String,
    archive: Option<PathBuf>,
    config_bytes: Vec<u8>,
    created: CreatedContainers,
) -> Result<Original> {
    let archive = match archive {
        Some(path) => tokio::task::spawn_blocking(move || source::open_archive(&path))
            .await
            .fail_with(ExitKind::Internal)??,
        None => {
            let name = container_name("export");
            source::export_from_daemon(&docker, &created, name, &image_id, config_bytes).await?
        }
    };
    tokio::task::spawn_blocking(move || {
        let rootfs = RootFs::build(&archive)?;
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
