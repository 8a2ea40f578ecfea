//! Where an image's files come from: an archive file, `docker save` (every
//! layer: what xray needs), `docker export` of a container that never ran
//! (the merged filesystem, 2.5 times faster), all read as an [`ImageArchive`]
//! by the same reader; or the walker container, which sends the index of
//! the merged filesystem and only the bytes asked for ([`WalkedTree`]: what
//! build needs). Daemon data is spooled into anonymous temp files, so
//! nothing is left behind whatever happens.

use std::path::Path;

use anyhow::Context;

use super::archive::{Format, Selection};
use super::transport::ImageSource;
use super::walked::cache::CacheEntry;
use super::walked::{touched_dirs, Connection, HiddenSubtree, KERNEL_DIRS};
use super::{verify, ImageArchive, Platform, RootFs, WalkedTree};
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

/// A walker container created from `image_id` (named `name`, through
/// `created` so every exit path removes it): the sensor, with no network
/// and no capability but reading every file, sends the index of the image's
/// filesystem and then serves the files asked for
/// (docs/design.md, "Reading the original filesystem").
pub async fn walk_in_container(
    docker: &Docker,
    created: &CreatedContainers,
    name: String,
    image_id: &str,
    config_bytes: Vec<u8>,
    cache: Option<CacheEntry>,
    hurry: Option<std::sync::mpsc::Receiver<()>>,
) -> Result<WalkedTree> {
    let config = crate::image::ImageConfig::parse(&config_bytes).fail_with(ExitKind::Internal)?;
    let volumes = config.run.volume_paths();
    if docker.engine().kind == crate::docker::EngineKind::Podman && !volumes.is_empty() {
        // Measured on Podman 4.3.1: its archive API gives what it copies
        // out the owner of the container's user, so the files at a VOLUME
        // (hidden by a tmpfs in the running walker) would change owner.
        return Err(Failure::msg(
            ExitKind::Internal,
            "on Podman the files at an image's VOLUME cannot be read with their owners",
        ));
    }
    // Where it may, the walker binds its root without the engine's mounts
    // and walks that: nothing is hidden, so nothing is read before its start
    // (each such read costs the engine ~40 ms, one at a time).
    // RSLIM_WALK_VIEW=0 keeps the plain walker (what tests compare it with).
    let wanted = std::env::var_os("RSLIM_WALK_VIEW").is_none_or(|v| v != "0");
    let view = wanted && docker.containers_may_bind().await;
    let cache = cache.map(|entry| match view {
        true => entry.variant("view"),
        false => entry,
    });
    let mut entrypoint = vec![
        rslim_sensor::SENSOR_PATH.to_string(),
        "serve-tree".to_string(),
    ];
    // Root, to reach every file; of root's powers only reading past
    // permissions (CAP_DAC_OVERRIDE, which `docker run` gives too), and for
    // the view CAP_SYS_ADMIN, which the sensor drops after the one bind
    // mount, before it reads anything of the image.
    let mut cap_add = vec!["DAC_OVERRIDE".to_string()];
    if view {
        entrypoint.push("--view".into());
        // SETPCAP to lower the bounding set to DAC_OVERRIDE, then itself.
        cap_add.extend(["SYS_ADMIN".into(), "SETPCAP".into()]);
    }
    let spec = ContainerSpec {
        name,
        image: image_id.to_string(),
        entrypoint: Some(entrypoint),
        user: Some("0".into()),
        cap_drop: vec!["ALL".into()],
        cap_add,
        no_network: true,
        stdin: true,
        // A tmpfs at each VOLUME: no volume to leave behind; the image's
        // files there are read before the start, below.
        volumes: volumes.clone(),
        volumes_as: crate::docker::VolumeMount::Tmpfs,
        ..ContainerSpec::default()
    };
    // A kept index is read meanwhile: the walker then only serves files.
    let cached = cache.clone().map(|entry| {
        tokio::task::spawn_blocking(move || crate::image::walked::Index::from_cache(&entry))
    });
    let id = created.create(docker, &spec).await?;
    let sensor = crate::sensor::container::sensor_only_tar()?;
    // What the running walker cannot see: read now, while nothing is
    // mounted and the engine has changed nothing.
    let mount_points = KERNEL_DIRS
        .iter()
        .map(|dir| dir.to_string())
        .chain(volumes.iter().map(|v| match v.trim_end_matches('/') {
            "" => v.clone(),
            trimmed => trimmed.to_string(),
        }))
        .map(|path| (path, true));
    let touched = touched_dirs()
        .into_iter()
        .map(|dir| (dir.to_string_lossy().into_owned(), false));
    // All at once: each is a round trip to the engine, and most are small.
    let hidden_paths: Vec<(String, bool)> = match view {
        true => Vec::new(),
        false => mount_points.chain(touched).collect(),
    };
    let reads = hidden_paths.into_iter().map(|(path, mounted)| {
        let (id, config_bytes) = (&id, &config_bytes);
        async move {
            let tree = read_before_start(docker, id, &path, config_bytes).await?;
            Ok::<_, Failure>(HiddenSubtree {
                path: path.into(),
                tree,
                mounted,
            })
        }
    });
    // The sensor's upload goes alongside: it writes only /.rslim, which no
    // read touches, and each call is mostly the engine's waiting.
    let (hidden, ()) = futures_util::future::try_join(
        futures_util::future::try_join_all(reads),
        docker.upload_tar(&id, sensor),
    )
    .await?;
    let (reader, writer) = docker.attach_stdio(&id).await?;
    docker.start_container(&id).await?;
    let created_at = config
        .created
        .as_deref()
        .and_then(crate::image::export::parse_rfc3339)
        .unwrap_or(0);
    let connection = Connection {
        reader: Box::new(reader),
        writer: Box::new(writer),
    };
    let cached = match cached {
        Some(reading) => reading.await.fail_with(ExitKind::Internal)?,
        None => None,
    };
    tokio::task::spawn_blocking(move || {
        WalkedTree::read_cached(
            connection,
            hidden,
            created_at,
            cache.as_ref(),
            cached,
            // RSLIM_WALK_LIGHT=1: every file looked up on first use, as if
            // hurried at once (what tests compare with the export).
            match std::env::var_os("RSLIM_WALK_LIGHT").is_some_and(|v| v == "1") {
                true => rslim_sensor::tree::Request::WalkNames,
                false => rslim_sensor::tree::Request::Walk,
            },
            hurry,
        )
    })
    .await
    .fail_with(ExitKind::Internal)?
    .context("the walker container's index of the image is unusable")
    .fail_with(ExitKind::Internal)
}

/// The tar of `path` in the never-started container `id`, read as a tree;
/// `None` when the image has nothing there.
async fn read_before_start(
    docker: &Docker,
    id: &str,
    path: &str,
    config_bytes: &[u8],
) -> Result<Option<RootFs>> {
    let mut spool = spool_file()?;
    if !docker.download_to(id, path, &mut spool).await? {
        return Ok(None);
    }
    let file = spool.into_std().await;
    let config_bytes = config_bytes.to_vec();
    let tree = tokio::task::spawn_blocking(move || {
        let mut archive = ImageArchive::from_flat_export(file, config_bytes)?;
        // A subtree only: no init layer to undo here (the whole tree's is).
        archive.container_export = false;
        RootFs::build(&archive)
    })
    .await
    .fail_with(ExitKind::Internal)?
    .with_context(|| format!("the engine's copy of {path} is unreadable"))
    .fail_with(ExitKind::Internal)?;
    Ok(Some(tree))
}

fn spool_file() -> Result<tokio::fs::File> {
    let file = tempfile::tempfile()
        .context("cannot create a temp file for the image")
        .fail_with(ExitKind::Internal)?;
    Ok(tokio::fs::File::from_std(file))
}
