//! Turns the kept set into nodes, writes the layer and config into a private
//! temp dir (`$TMPDIR/rslim-<owner token>-XXXXXX`, see
//! [`crate::leftovers::temp`]), then the outputs: files and directories (`outputs`), and the
//! engine, under the slim tags or, only to be verified, a temporary tag.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::outputs::{self, Outputs};
use super::Original;
use crate::docker::{CreatedImages, Docker};
use crate::error::{ExitKind, FailWith, Result};
use crate::image::node::{Node, NodeKind, NodeMeta};
use crate::output::extra::WithExtras;
use crate::output::{
    config_digest, epoch, slim_config, write_docker_archive, write_layer, OciImage,
};
use crate::report::{KeptPath, OutputRecord};
use crate::resolve::fileset::KeepSet;
use crate::resolve::package_use::{add_sizes, PackageUse};

/// The slim image as files in a private temp dir (removed when dropped):
/// what every output, and a registry push, is made from.
pub struct SlimFiles {
    pub dir: tempfile::TempDir,
    /// The uncompressed layer tar; its sha256 is the config's only diff_id.
    pub layer: PathBuf,
    pub config_bytes: Vec<u8>,
    /// `sha256:<hex>` of `config_bytes`.
    pub image_id: String,
    oci: OnceLock<OciImage>,
}

impl SlimFiles {
    /// The image in OCI form (gzip layer, manifest), made on first use.
    pub fn oci_image(&self) -> anyhow::Result<&OciImage> {
        if let Some(image) = self.oci.get() {
            return Ok(image);
        }
        let image = OciImage::build(&self.config_bytes, &self.layer, self.dir.path())?;
        Ok(self.oci.get_or_init(|| image))
    }
}

pub struct Written {
    pub image_id: String,
    pub layer_digest: String,
    pub files: usize,
    /// Bytes of file data in the layer (hard links once).
    pub file_bytes: u64,
    pub kept: Vec<KeptPath>,
    pub outputs: Vec<OutputRecord>,
    /// The name to run the slim image by, when it is in the engine.
    pub in_engine: Option<String>,
    /// The written image, alive until the build ends: what `--push` sends.
    pub slim: Arc<SlimFiles>,
    /// The kept packages, their sizes added.
    pub packages: Vec<PackageUse>,
}

/// What to write, and where.
pub struct WriteRequest<'a> {
    pub tags: &'a [String],
    /// Names the original in the label and history.
    pub source: &'a str,
    pub outputs: &'a Outputs,
    /// `--verify` runs the slim image: it must be in the engine even when
    /// no `docker` output was asked for.
    pub need_engine: bool,
}

/// Sets a flag when dropped: an interrupted build (its future dropped)
/// stops the writes still running on blocking threads.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub async fn write(
    docker: &Docker,
    images: &CreatedImages,
    original: Original,
    keep: &KeepSet,
    request: &WriteRequest<'_>,
) -> Result<Written> {
    let mut nodes = kept_nodes(&original, keep);
    // Written from memory (the status.d entries): they replace any original node of that name.
    let extras = keep.synthetic.clone();
    nodes.retain(|node| !extras.contains_key(&node.path));
    let kept = nodes
        .iter()
        .map(|node| (node.path.clone(), (kind_name(&node.kind), node.size())))
        .chain(
            extras
                .iter()
                .map(|(path, bytes)| (path.clone(), ("file", bytes.len() as u64))),
        )
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .map(|(path, (kind, size))| KeptPath {
            reason: keep.paths[&path],
            path,
            kind,
            size,
        })
        .collect();
    let source = request.source.to_string();
    let (slim, summary, original) = tokio::task::spawn_blocking(move || {
        // Named after this process: if it is killed, the next build removes it.
        let dir = crate::leftovers::temp::private_dir()?;
        let layer = dir.path().join("layer.tar");
        let mut layer_file = BufWriter::new(std::fs::File::create(&layer)?);
        let (contents, extra_nodes) = WithExtras::new(original.tree.content(), &extras);
        nodes.extend(extra_nodes);
        let summary = write_layer(&nodes, &contents, &mut layer_file)?;
        original.tree.check()?;
        layer_file.flush()?;
        drop(layer_file);
        let labels = [(super::SOURCE_LABEL.to_string(), source.clone())];
        let mut config = slim_config(&original.config.raw, &summary.diff_id, &labels, &source);
        if let Some(seconds) = epoch::source_date_epoch().map_err(anyhow::Error::msg)? {
            crate::output::config::set_created(&mut config, &epoch::rfc3339(seconds));
        }
        let config_bytes = serde_json::to_vec(&config)?;
        let image_id = format!("sha256:{}", config_digest(&config_bytes));
        let slim = SlimFiles {
            dir,
            layer,
            config_bytes,
            image_id,
            oci: OnceLock::new(),
        };
        anyhow::Ok((slim, summary, original))
    })
    .await
    .fail_with(ExitKind::Internal)?
    .fail_with(ExitKind::Internal)?;
    let slim = Arc::new(slim);
    // The report's package sizes, while the outputs are written and the
    // engine loads the image: they may need the walker to look files up.
    let sizes = tokio::task::spawn_blocking({
        let (mut rows, kept) = (keep.packages.clone(), keep.paths.clone());
        move || {
            add_sizes(&mut rows, original.tree.fs(), &kept);
            let checked = original.tree.check();
            original.tree.finish();
            checked.map(|()| rows)
        }
    });

    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let mut records = tokio::task::spawn_blocking({
        let (slim, outputs, flag) = (slim.clone(), request.outputs.clone(), cancel.0.clone());
        let tags = request.tags.to_vec();
        move || outputs::write_files(&outputs, &slim, &tags, &flag)
    })
    .await
    .fail_with(ExitKind::Internal)??;

    let in_engine = if request.outputs.to_engine() {
        load_tagged(docker, &slim, request.tags).await?;
        records.insert(
            0,
            OutputRecord {
                kind: "docker".into(),
                location: request.tags.join(", "),
                digest: slim.image_id.clone(),
                image_id: slim.image_id.clone(),
            },
        );
        Some(request.tags.first().unwrap_or(&slim.image_id).clone())
    } else if request.need_engine {
        Some(load_for_a_while(docker, images, &slim).await?)
    } else {
        None
    };
    drop(cancel);
    let packages = sizes.await.fail_with(ExitKind::Internal)??;
    Ok(Written {
        packages,
        image_id: slim.image_id.clone(),
        layer_digest: summary.diff_id,
        files: summary.files,
        file_bytes: summary.file_bytes,
        kept,
        outputs: records,
        in_engine,
        slim,
    })
}

/// `docker load` of the slim image under its tags, the archive streamed
/// to the engine as it is written.
async fn load_tagged(docker: &Docker, slim: &Arc<SlimFiles>, tags: &[String]) -> Result<()> {
    let (slim, tags) = (slim.clone(), tags.to_vec());
    docker
        .load_written(move |out| {
            write_docker_archive(&slim.config_bytes, &slim.layer, &tags, out)
                .fail_with(ExitKind::Internal)
        })
        .await
}

/// Puts the slim image into the engine only for this run (to verify it):
/// under a temporary tag that cleanup removes, unless the engine already
/// has it (from an earlier build), which is then used as it is.
async fn load_for_a_while(
    docker: &Docker,
    images: &CreatedImages,
    slim: &Arc<SlimFiles>,
) -> Result<String> {
    let id = slim.image_id.clone();
    match docker.image_tags(&id).await? {
        Some(tags) if !CreatedImages::only_temporary(&tags) => return Ok(id),
        Some(_) => {
            images
                .tag(docker, &id, &CreatedImages::temp_tag("verify"))
                .await?
        }
        None => {
            let tag = CreatedImages::temp_tag("verify");
            let (slim, stream_tag) = (slim.clone(), tag.clone());
            images
                .load(docker, &tag, move |out| {
                    write_docker_archive(&slim.config_bytes, &slim.layer, &[stream_tag], out)
                        .fail_with(ExitKind::Internal)
                })
                .await?;
        }
    }
    Ok(id)
}

/// The nodes to write, taken from the original filesystem. A parent
/// directory the layers never listed gets root-owned 0755, as tar extraction
/// would have created it.
fn kept_nodes(original: &Original, keep: &KeepSet) -> Vec<Node> {
    keep.paths
        .keys()
        .map(|path| match original.tree.get(path) {
            Some(node) => node.clone(),
            None => implicit_dir(path),
        })
        .collect()
}

fn implicit_dir(path: &Path) -> Node {
    let sticky_tmp = path == Path::new("/tmp");
    Node {
        path: path.to_path_buf(),
        kind: NodeKind::Dir,
        meta: NodeMeta {
            mode: if sticky_tmp { 0o1777 } else { 0o755 },
            // rslim's choice, so SOURCE_DATE_EPOCH's when set.
            mtime: epoch::chosen_mtime(),
            ..NodeMeta::default()
        },
        content: None,
    }
}

fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::File { .. } => "file",
        NodeKind::Dir => "dir",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::CharDevice { .. } | NodeKind::BlockDevice { .. } => "device",
        NodeKind::Fifo => "fifo",
    }
}
