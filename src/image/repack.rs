//! An archive's image as a `docker save` stream for the engine to load,
//! whatever the archive's own layout: docker save, OCI archive or layout
//! directory. Every engine rslim talks to loads this form (Docker before 25
//! loads no OCI layout), and the stream carries only the tag given, never
//! the archive's own tags, so loading it renames nothing in the engine.
//!
//! Blobs are copied as stored (compressed or not; `docker load` decompresses)
//! and checked against their digests on the way: a bad blob ends the stream
//! with an error, so the engine never receives a whole image from it.

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use super::ImageArchive;

/// Writes the image of `archive` to `out` as a docker-save tar tagged `tag`.
pub fn write_for_engine(
    archive: &ImageArchive,
    tag: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut builder = tar::Builder::new(out);
    let config_name = format!("{}.json", archive.image_id().trim_start_matches("sha256:"));
    append(
        &mut builder,
        &config_name,
        archive.config_bytes.len() as u64,
        &archive.config_bytes[..],
    )?;
    let mut layer_names = Vec::with_capacity(archive.layers.len());
    for (index, blob) in archive.layers.iter().enumerate() {
        let name = format!("layers/{index}.tar");
        append(
            &mut builder,
            &name,
            blob.stored_size,
            archive.checked_blob(index),
        )
        .with_context(|| format!("layer {} ({})", index + 1, crate::escape::text(&blob.name)))?;
        layer_names.push(name);
    }
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest)?;
    append(
        &mut builder,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    builder.into_inner()?.flush()?;
    Ok(())
}

fn append(
    builder: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    size: u64,
    data: impl std::io::Read,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_size(size);
    builder.append_data(&mut header, name, data)
}
