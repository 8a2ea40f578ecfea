//! The original image's filesystem, read in the background while the app
//! is profiled (see docs/design.md, "Reading the original filesystem").

use std::path::Path;
use std::sync::Arc;

use crate::docker::{CreatedContainers, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::node::{ContentSource, Node};
use crate::image::walked::cache::IndexCache;
use crate::image::{source, verify, ImageArchive, ImageConfig, RootFs, WalkedTree};
use crate::resolve::tree::FsTree;
use crate::sensor::container::container_name;

/// The original image: its config and its filesystem.
pub struct Original {
    pub config: ImageConfig,
    pub tree: OriginalTree,
    /// What the report should say about how it was read.
    pub notes: Vec<String>,
}

/// The original filesystem, read whole or walked.
pub enum OriginalTree {
    Read(RootFs),
    // Boxed: the walked tree carries its connection and locks.
    Walked(Box<WalkedTree>),
}

impl OriginalTree {
    pub fn get(&self, path: &Path) -> Option<&Node> {
        match self {
            OriginalTree::Read(tree) => tree.get(path),
            OriginalTree::Walked(tree) => tree.get(path),
        }
    }

    pub fn fs(&self) -> &dyn FsTree {
        match self {
            OriginalTree::Read(tree) => tree,
            OriginalTree::Walked(tree) => tree.as_ref(),
        }
    }

    pub fn content(&self) -> &dyn ContentSource {
        match self {
            OriginalTree::Read(tree) => tree,
            OriginalTree::Walked(tree) => tree.as_ref(),
        }
    }

    /// Fails when the walked tree could not look up a file it named: what
    /// was resolved or written from it cannot be trusted.
    pub fn check(&self) -> Result<()> {
        match self {
            OriginalTree::Read(_) => Ok(()),
            OriginalTree::Walked(tree) => tree.check().fail_with(ExitKind::Internal),
        }
    }

    /// Lets the walker container exit once nothing more is read from it.
    pub fn finish(&self) {
        if let OriginalTree::Walked(tree) = self {
            tree.finish();
        }
    }
}

/// Where the original filesystem is read from.
pub enum OriginalSource {
    /// The walker container (see [`source::walk_in_container`]), falling
    /// back to the export when it cannot read the image.
    Walk {
        image_id: String,
        config_bytes: Vec<u8>,
        /// The image's layers (`diff_ids`), to find the walk's index in
        /// rslim's cache and keep it there; empty: no cache.
        cached_by: Vec<String>,
        /// Told when the build starts waiting for the walk (see
        /// `Request::Hurry`); `None`: never.
        hurry: Option<std::sync::mpsc::Receiver<()>>,
    },
    /// `docker export` of a container created from the image and never
    /// started (see [`source`]); `config_bytes` is the image's config document.
    Export {
        image_id: String,
        config_bytes: Vec<u8>,
    },
    /// An archive the user gave (`--archive`, or the image itself given as
    /// an archive); its digests are checked as its layers are read.
    Archive(Arc<ImageArchive>),
}

/// Reads and indexes the original image's filesystem.
pub async fn read_original(
    docker: Docker,
    from: OriginalSource,
    created: CreatedContainers,
) -> Result<Original> {
    let mut notes = Vec::new();
    let from = match from {
        OriginalSource::Walk {
            image_id,
            config_bytes,
            cached_by,
            hurry,
        } => {
            let name = container_name("walk");
            let config = ImageConfig::parse(&config_bytes).fail_with(ExitKind::Internal)?;
            let volumes = config.run.volume_paths();
            let cache = IndexCache::from_env()
                .and_then(|cache| cache.entry(docker.engine().kind, &cached_by, &volumes));
            let walked = source::walk_in_container(
                &docker,
                &created,
                name,
                &image_id,
                config_bytes.clone(),
                cache,
                hurry,
            )
            .await;
            match walked {
                Ok(tree) => {
                    if tree.index_from_cache() {
                        notes.push(
                            "the index of the image's files came from rslim's cache, written \
                             by an earlier walk of the same layers (--no-cache walks again)"
                                .to_string(),
                        );
                    }
                    return Ok(Original {
                        config: ImageConfig::parse(&config_bytes).fail_with(ExitKind::Internal)?,
                        tree: OriginalTree::Walked(Box::new(tree)),
                        notes,
                    });
                }
                Err(failure) => {
                    notes.push(format!(
                        "the walker container could not read the image ({}); it was read with \
                         docker export instead",
                        failure
                    ));
                    OriginalSource::Export {
                        image_id,
                        config_bytes,
                    }
                }
            }
        }
        other => other,
    };
    let archive = match from {
        OriginalSource::Walk { .. } => unreachable!("handled above"),
        OriginalSource::Archive(archive) => archive,
        OriginalSource::Export {
            image_id,
            config_bytes,
        } => {
            let name = container_name("export");
            Arc::new(
                source::export_from_daemon(&docker, &created, name, &image_id, config_bytes)
                    .await?,
            )
        }
    };
    tokio::task::spawn_blocking(move || match RootFs::build(&archive) {
        Ok(rootfs) => Ok(Original {
            config: archive.config.clone(),
            tree: OriginalTree::Read(rootfs),
            notes,
        }),
        // A bad archive the user gave is theirs to fix (exit 11); a bad
        // export from the engine is not.
        Err(error) => Err(Failure::new(verify::exit_kind(&error), error)),
    })
    .await
    .fail_with(ExitKind::Internal)?
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
