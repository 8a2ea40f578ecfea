//! The image to profile, made ready to run: an engine image (with
//! `--archive`, its filesystem read from a file), or an archive given as
//! `docker-archive:PATH`, `oci-archive:PATH` or `oci:DIR`, which is read
//! from the file and put into the engine under a temporary tag for the run.

use std::sync::Arc;

use bollard::models::ImageInspect;

use super::original::{config_document, OriginalSource};
use crate::cli::{BuildArgs, FsSource};
use crate::docker::{CreatedImages, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::transport::ImageSource;
use crate::image::{repack, source, ImageArchive, Platform};

pub struct Input {
    /// The config document: the archive's own, or rebuilt from the engine's inspect.
    pub config_bytes: Vec<u8>,
    /// Where the original filesystem is read from.
    pub original: OriginalSource,
    /// An archive that must be put into the engine before the image runs.
    pub to_load: Option<Arc<ImageArchive>>,
    /// The engine's view of the image, once it is there.
    pub inspect: Option<ImageInspect>,
    /// The image ID in the engine (for an archive: its config digest).
    pub image_id: String,
    /// Names the image is known by; the default slim tag comes from the first.
    pub repo_tags: Vec<String>,
    /// The name for the slim image's source label and history: the name
    /// the user gave, or for an archive the name it carries (never its path,
    /// which would make the slim image differ from machine to machine).
    pub label_name: String,
}

/// Finds the image: inspects an engine image (pulling it with `--pull`), or
/// opens and checks an archive. The engine is not changed yet.
pub async fn open(docker: &Docker, args: &BuildArgs) -> Result<Input> {
    let image: ImageSource = args
        .image
        .parse()
        .map_err(|e: String| Failure::msg(ExitKind::Usage, e))?;
    match image {
        ImageSource::Engine(name) => open_engine_image(docker, args, &name).await,
        archive if args.archive.is_some() => Err(Failure::msg(
            ExitKind::Usage,
            format!("{archive} is read from its own file: --archive is for engine images"),
        )),
        archive => open_archive_image(docker, args, &archive).await,
    }
}

async fn open_engine_image(docker: &Docker, args: &BuildArgs, name: &str) -> Result<Input> {
    let inspect = match docker.inspect_image(name).await {
        Err(e) if e.kind == ExitKind::ImageNotFound && args.pull => {
            docker.pull_image(name).await?;
            docker.inspect_image(name).await?
        }
        other => other?,
    };
    let image_id = inspect.id.clone().unwrap_or_default();
    let config_bytes = config_document(&inspect)?;
    let original = match &args.archive {
        None if args.fs_source == FsSource::Walk => OriginalSource::Walk {
            image_id: image_id.clone(),
            config_bytes: config_bytes.clone(),
            // The cache's key: the engine's own account of the layers.
            cached_by: (!args.no_cache)
                .then(|| inspect.root_fs.as_ref().and_then(|r| r.layers.clone()))
                .flatten()
                .unwrap_or_default(),
            hurry: None,
        },
        None => OriginalSource::Export {
            image_id: image_id.clone(),
            config_bytes: config_bytes.clone(),
        },
        Some(path) => {
            let platform = wanted_platform(docker, args).await?;
            let path_owned = path.clone();
            let archive =
                tokio::task::spawn_blocking(move || source::open_archive(&path_owned, &platform))
                    .await
                    .fail_with(ExitKind::Internal)??;
            let what = format!("the archive {}", path.display());
            same_layers(&archive, &inspect, &what, name)?;
            OriginalSource::Archive(Arc::new(archive))
        }
    };
    Ok(Input {
        config_bytes,
        original,
        to_load: None,
        repo_tags: inspect.repo_tags.clone().unwrap_or_default(),
        inspect: Some(inspect),
        image_id,
        label_name: name.to_string(),
    })
}

async fn open_archive_image(
    docker: &Docker,
    args: &BuildArgs,
    image: &ImageSource,
) -> Result<Input> {
    let engine = docker.engine_platform().await?;
    let platform = args.platform.clone().unwrap_or_else(|| engine.clone());
    let archive = {
        let (image, platform) = (image.clone(), platform.clone());
        tokio::task::spawn_blocking(move || source::open_source(&image, &platform))
            .await
            .fail_with(ExitKind::Internal)??
            .expect("an archive transport")
    };
    // An image for another CPU would fail to start with a confusing
    // "exec format error"; --platform says the user knows (binfmt, qemu).
    if args.platform.is_none() {
        if let Some(other) = image_platform(&archive).filter(|p| !engine.matches(p)) {
            return Err(Failure::msg(
                ExitKind::ImageNotRunnable,
                format!(
                    "{image} holds a {other} image and the engine runs {engine}; pass \
                     --platform {other} if the engine can run it anyway (binfmt)"
                ),
            ));
        }
    }
    let archive = Arc::new(archive);
    Ok(Input {
        config_bytes: archive.config_bytes.clone(),
        original: OriginalSource::Archive(archive.clone()),
        image_id: archive.image_id(),
        repo_tags: archive.repo_tags.clone(),
        label_name: archive.repo_tags.first().cloned().unwrap_or_default(),
        to_load: Some(archive),
        inspect: None,
    })
}

/// `--platform`, else the engine's.
async fn wanted_platform(docker: &Docker, args: &BuildArgs) -> Result<Platform> {
    match &args.platform {
        Some(platform) => Ok(platform.clone()),
        None => docker.engine_platform().await,
    }
}

fn image_platform(archive: &ImageArchive) -> Option<Platform> {
    let raw = &archive.config.raw;
    let field = |name: &str| {
        raw.get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    Some(Platform::new(
        field("os")?,
        field("architecture")?,
        field("variant"),
    ))
}

/// Puts the archive's image into the engine, unless the engine has it
/// already (then it is used as it is and left alone), and checks that the
/// engine's image is the archive's: same layers. Returns the engine's view.
pub async fn load(
    docker: &Docker,
    images: &CreatedImages,
    archive: Arc<ImageArchive>,
) -> Result<ImageInspect> {
    let image_id = archive.image_id();
    match docker.image_tags(&image_id).await? {
        // Tagged by another rslim run only: take a tag of our own, so its
        // cleanup does not pull the image from under this run.
        Some(tags) if CreatedImages::only_temporary(&tags) => {
            images
                .tag(docker, &image_id, &CreatedImages::temp_tag("input"))
                .await?
        }
        Some(_) => {}
        None => {
            let tag = CreatedImages::temp_tag("input");
            let (archive, stream_tag) = (archive.clone(), tag.clone());
            images
                .load(docker, &tag, move |out| {
                    repack::write_for_engine(&archive, &stream_tag, out)
                        .map_err(source::archive_failure)
                })
                .await?;
        }
    }
    let inspect = docker.inspect_image(&image_id).await?;
    same_layers(
        &archive,
        &inspect,
        "the archive",
        "the image the engine loaded",
    )?;
    Ok(inspect)
}

/// The archive's `diff_ids` must be the engine image's `RootFS.Layers`: a
/// different archive would give a slim image of other files.
fn same_layers(
    archive: &ImageArchive,
    inspect: &ImageInspect,
    what: &str,
    image: &str,
) -> Result<()> {
    let engine: Vec<String> = inspect
        .root_fs
        .as_ref()
        .and_then(|r| r.layers.clone())
        .unwrap_or_default();
    let ours = &archive.config.diff_ids;
    if *ours == engine {
        return Ok(());
    }
    let first = ours
        .iter()
        .zip(&engine)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(engine.len()));
    Err(Failure::msg(
        ExitKind::InvalidArchive,
        format!(
            "{what} holds another image than {image}: it has {} layers, the engine's has {}, \
             and they differ from layer {} on",
            ours.len(),
            engine.len(),
            first + 1
        ),
    ))
}
