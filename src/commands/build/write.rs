//! Turns the kept set into nodes, writes the layer and config into a private
//! temp dir, and loads the result into the daemon.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::docker::Docker;
use crate::error::{ExitKind, FailWith, Result};
use crate::image::node::{Node, NodeKind, NodeMeta};
use crate::output::{config_digest, slim_config, write_docker_archive, write_layer};
use crate::report::KeptPath;
use crate::resolve::fileset::KeepSet;

use super::{Original, SOURCE_LABEL};

pub struct Written {
    pub image_id: String,
    pub layer_digest: String,
    pub files: usize,
    pub kept: Vec<KeptPath>,
}

pub async fn write_and_load(
    docker: &Docker,
    original: Original,
    keep: &KeepSet,
    tags: &[String],
    source: &str,
) -> Result<Written> {
    let nodes = kept_nodes(&original, keep);
    let kept = nodes
        .iter()
        .map(|node| KeptPath {
            path: node.path.clone(),
            reason: keep.paths[&node.path],
            kind: kind_name(&node.kind),
            size: node.size(),
        })
        .collect();
    let tags_owned = tags.to_vec();
    let source = source.to_string();
    // The temp dir is removed when dropped, on success and on every error path.
    let (dir, archive_path, image_id, layer_digest, files) =
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::Builder::new().prefix("rslim-").tempdir()?;
            let layer_path = dir.path().join("layer.tar");
            let mut layer_file = BufWriter::new(std::fs::File::create(&layer_path)?);
            let summary = write_layer(&nodes, &original.rootfs, &mut layer_file)?;
            layer_file.flush()?;
            drop(layer_file);
            let labels = [(SOURCE_LABEL.to_string(), source.clone())];
            let config = slim_config(
                &original.archive.config.raw,
                &summary.diff_id,
                &labels,
                &source,
            );
            let config_bytes = serde_json::to_vec(&config)?;
            let image_id = format!("sha256:{}", config_digest(&config_bytes));
            let archive_path = dir.path().join("image.tar");
            let mut archive = BufWriter::new(std::fs::File::create(&archive_path)?);
            write_docker_archive(&config_bytes, &layer_path, &tags_owned, &mut archive)?;
            archive.flush()?;
            std::fs::remove_file(&layer_path)?;
            anyhow::Ok((dir, archive_path, image_id, summary.diff_id, summary.files))
        })
        .await
        .fail_with(ExitKind::Internal)?
        .fail_with(ExitKind::Internal)?;
    let archive = std::fs::File::open(&archive_path).fail_with(ExitKind::Internal)?;
    docker.load_image(archive).await?;
    drop(dir);
    Ok(Written {
        image_id,
        layer_digest,
        files,
        kept,
    })
}

/// The nodes to write, taken from the original filesystem. A parent
/// directory the layers never listed gets root-owned 0755, as tar extraction
/// would have created it.
fn kept_nodes(original: &Original, keep: &KeepSet) -> Vec<Node> {
    keep.paths
        .keys()
        .map(|path| match original.rootfs.get(path) {
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
