//! The reader against hand-made archives: OCI layouts (as a tar and as a
//! directory) and docker-save archives, whole and broken in each way the
//! reader must refuse.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::image::layer::visit_layer;
use crate::image::test_archive::{layer_tar, Entry};
use crate::image::verify::is_invalid_archive;
use crate::image::RootFs;
use crate::resolve::tree::FsTree;

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex_of(bytes))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The files of an archive, by name; tests break them before packing.
#[derive(Clone)]
struct Files(BTreeMap<String, Vec<u8>>);

impl Files {
    fn blob(&mut self, bytes: &[u8]) -> String {
        let name = format!("blobs/sha256/{}", hex_of(bytes));
        self.0.insert(name, bytes.to_vec());
        digest(bytes)
    }

    fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&self.0[name]).unwrap()
    }

    /// The name of the JSON blob that has `key` (the config has `rootfs`,
    /// the manifest `layers`).
    fn find(&self, key: &str) -> String {
        self.0
            .iter()
            .find(|(_, bytes)| {
                serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.get(key).is_some())
            })
            .map(|(name, _)| name.clone())
            .unwrap()
    }

    fn set_json(&mut self, name: &str, value: &Value) {
        self.0
            .insert(name.into(), serde_json::to_vec(value).unwrap());
    }

    fn tar(&self) -> File {
        let mut builder = tar::Builder::new(tempfile::tempfile().unwrap());
        for (name, bytes) in &self.0 {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn write_dir(&self, dir: &Path) {
        for (name, bytes) in &self.0 {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
}

fn config_for(layers: &[&[u8]], platform: (&str, &str)) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    serde_json::to_vec(&json!({
        "architecture": platform.1, "os": platform.0,
        "config": {"Cmd": ["/bin/app"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// An image manifest over `layers` (uncompressed tars), stored gzip'ed or
/// not; returns its descriptor.
fn add_image(files: &mut Files, layers: &[&[u8]], gzipped: bool, platform: (&str, &str)) -> Value {
    let config = config_for(layers, platform);
    let config_digest = files.blob(&config);
    let media_type = match gzipped {
        true => "application/vnd.oci.image.layer.v1.tar+gzip",
        false => "application/vnd.oci.image.layer.v1.tar",
    };
    let descriptors: Vec<Value> = layers
        .iter()
        .map(|layer| {
            let stored = if gzipped { gzip(layer) } else { layer.to_vec() };
            let digest = files.blob(&stored);
            json!({"mediaType": media_type, "digest": digest, "size": stored.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": descriptors,
    }))
    .unwrap();
    let digest = files.blob(&manifest);
    json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest, "size": manifest.len(),
        "platform": {"os": platform.0, "architecture": platform.1},
    })
}

fn oci(layers: &[&[u8]], gzipped: bool) -> Files {
    let mut files = Files(BTreeMap::new());
    let manifest = add_image(&mut files, layers, gzipped, ("linux", "amd64"));
    files.set_json("oci-layout", &json!({"imageLayoutVersion": "1.0.0"}));
    files.set_json(
        "index.json",
        &json!({"schemaVersion": 2, "manifests": [manifest]}),
    );
    files
}

fn docker_save(layers: &[&[u8]]) -> Files {
    let mut files = Files(BTreeMap::new());
    let config = config_for(layers, ("linux", "amd64"));
    let config_name = format!("{}.json", hex_of(&config));
    files.0.insert(config_name.clone(), config);
    let mut names = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let name = format!("{index}/layer.tar");
        files.0.insert(name.clone(), layer.to_vec());
        names.push(name);
    }
    files.set_json(
        "manifest.json",
        &json!([{"Config": config_name, "RepoTags": ["app:1"], "Layers": names}]),
    );
    files
}

fn amd64() -> Selection {
    Selection {
        platform: Platform::new("linux", "amd64", None),
        ..Selection::default()
    }
}

fn open(files: &Files) -> anyhow::Result<ImageArchive> {
    ImageArchive::from_store(&Store::tar(files.tar())?, &amd64())
}

/// Opens and reads every layer, as a build does.
fn read(files: &Files) -> anyhow::Result<RootFs> {
    RootFs::build(&open(files)?)
}

fn refused(result: anyhow::Result<impl Sized>, expected: &str) {
    let error = match result {
        Ok(_) => panic!("accepted; expected {expected:?}"),
        Err(error) => error,
    };
    let message = format!("{error:#}");
    assert!(
        is_invalid_archive(&error),
        "not an invalid-archive error: {message}"
    );
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
}

fn app_layer() -> Vec<u8> {
    layer_tar(&[
        Entry::Dir("bin", 0o755),
        Entry::File("bin/app", b"#!/bin/sh\necho hi\n"),
        Entry::Symlink("bin/sh", "app"),
    ])
}

#[test]
fn gzip_and_plain_oci_layers_read_and_check_out() {
    let (base, top) = (app_layer(), layer_tar(&[Entry::File("etc/motd", b"hello")]));
    for gzipped in [false, true] {
        let files = oci(&[&base, &top], gzipped);
        let archive = open(&files).unwrap();
        assert!(archive.manifest_digest.is_some());
        assert!(archive.needs_check(0));
        let rootfs = RootFs::build(&archive).unwrap();
        assert!(rootfs.get(Path::new("/bin/app")).is_some());
        assert_eq!(rootfs.read(Path::new("/etc/motd"), 100).unwrap(), b"hello");
        assert!(
            !archive.needs_check(1),
            "the build read checked every layer"
        );
    }
}

#[test]
fn a_layout_directory_reads_like_its_tar() {
    let layer = app_layer();
    let files = oci(&[&layer], true);
    let dir = tempfile::tempdir().unwrap();
    files.write_dir(dir.path());
    let archive = ImageArchive::open_layout(dir.path(), &amd64()).unwrap();
    let rootfs = RootFs::build(&archive).unwrap();
    assert_eq!(
        rootfs.read(Path::new("/bin/app"), 100).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(archive.image_id(), open(&files).unwrap().image_id());
}

#[test]
fn a_layout_directory_with_a_symlinked_blob_is_refused() {
    let layer = app_layer();
    let files = oci(&[&layer], false);
    let dir = tempfile::tempdir().unwrap();
    files.write_dir(dir.path());
    let blob = dir.path().join(format!("blobs/sha256/{}", hex_of(&layer)));
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &blob).unwrap();
    refused(
        ImageArchive::open_layout(dir.path(), &amd64()),
        "is a symlink",
    );
    std::fs::remove_file(dir.path().join("oci-layout")).unwrap();
    refused(
        ImageArchive::open_layout(dir.path(), &amd64()),
        "no oci-layout",
    );
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused() {
    let layer = app_layer();
    let mut files = oci(&[&layer], false);
    let name = format!("blobs/sha256/{}", hex_of(&layer));
    let data = files.0.get_mut(&name).unwrap();
    // Same size, same tar structure, one byte of file data changed.
    let at = data.windows(4).position(|w| w == b"echo").unwrap();
    data[at] = b'E';
    refused(read(&files), "the stored blob does not match its digest");
}

#[test]
fn a_gzip_layer_whose_tar_differs_from_its_diff_id_is_refused() {
    let layer = app_layer();
    let mut files = oci(&[&layer], true);
    let config_name = files.find("rootfs");
    let mut config = files.json(&config_name);
    config["rootfs"]["diff_ids"][0] = json!(digest(b"another tar"));
    // Re-home the changed config so that its own digest still holds.
    files.0.remove(&config_name);
    let bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = files.blob(&bytes);
    let manifest_name = files.find("layers");
    let mut manifest = files.json(&manifest_name);
    manifest["config"]["digest"] = json!(config_digest);
    manifest["config"]["size"] = json!(bytes.len());
    files.0.remove(&manifest_name);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = files.blob(&manifest_bytes);
    let mut index = files.json("index.json");
    index["manifests"][0]["digest"] = json!(manifest_digest);
    index["manifests"][0]["size"] = json!(manifest_bytes.len());
    files.set_json("index.json", &index);
    refused(
        read(&files),
        "the uncompressed tar (its diff_id) does not match",
    );
}

#[test]
fn a_truncated_gzip_layer_is_refused_naming_it() {
    let layer = app_layer();
    let mut files = docker_save(&[&layer]);
    let compressed = gzip(&layer);
    files.0.insert(
        "0/layer.tar".into(),
        compressed[..compressed.len() / 2].to_vec(),
    );
    refused(read(&files), "layer 1 (0/layer.tar)");
}

#[test]
fn a_docker_save_archive_is_checked_against_its_diff_ids() {
    let layer = app_layer();
    let files = docker_save(&[&layer]);
    assert!(read(&files).is_ok());
    let mut bad = files.clone();
    let data = bad.0.get_mut("0/layer.tar").unwrap();
    let at = data.windows(4).position(|w| w == b"echo").unwrap();
    data[at] = b'E';
    refused(read(&bad), "does not match its digest");
    let mut renamed = files.clone();
    let config = renamed
        .0
        .keys()
        .find(|n| n.ends_with(".json") && *n != "manifest.json")
        .unwrap()
        .clone();
    let bytes = renamed.0.remove(&config).unwrap();
    let mut changed = bytes.clone();
    changed.extend_from_slice(b" ");
    renamed.0.insert(config, changed);
    refused(open(&renamed), "the config");
}

#[test]
fn unknown_layer_media_types_are_refused() {
    let layer = app_layer();
    let mut files = oci(&[&layer], false);
    let manifest_name = files.find("layers");
    let mut manifest = files.json(&manifest_name);
    manifest["layers"][0]["mediaType"] =
        json!("application/vnd.cncf.helm.chart.content.v1.tar+gzip");
    // The manifest changed, so its digest in the index changes with it:
    // only the media type is wrong.
    files.0.remove(&manifest_name);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = files.blob(&bytes);
    let mut index = files.json("index.json");
    index["manifests"][0]["digest"] = json!(digest);
    index["manifests"][0]["size"] = json!(bytes.len());
    files.set_json("index.json", &index);
    refused(open(&files), "helm.chart");
}

#[test]
fn a_layer_declared_gzip_but_stored_plain_is_refused() {
    assert_eq!(
        crate::image::manifest::layer_compression("application/vnd.oci.image.layer.v1.tar+gzip"),
        Some(Compression::Gzip)
    );
    let layer = app_layer();
    let mut files = oci(&[&layer], true);
    let name = files
        .0
        .keys()
        .find(|n| files.0[*n].starts_with(&[0x1f, 0x8b]))
        .unwrap()
        .clone();
    // The same name and size, plain bytes: the declared type does not hold.
    let size = files.0[&name].len();
    files.0.insert(name, vec![b'x'; size]);
    refused(open(&files), "is stored as an uncompressed tar");
}

#[test]
fn missing_blobs_and_wrong_sizes_are_refused() {
    let layer = app_layer();
    let files = oci(&[&layer], false);
    let mut missing = files.clone();
    missing
        .0
        .remove(&format!("blobs/sha256/{}", hex_of(&layer)));
    refused(open(&missing), "the archive has no blobs/sha256/");

    let mut short = files.clone();
    short
        .0
        .get_mut(&format!("blobs/sha256/{}", hex_of(&layer)))
        .unwrap()
        .truncate(512);
    refused(open(&short), "is 512 bytes, the manifest says");

    let mut absurd = files.clone();
    let mut index = absurd.json("index.json");
    index["manifests"][0]["size"] = json!(1u64 << 60);
    absurd.set_json("index.json", &index);
    refused(open(&absurd), "implausibly large");
}

#[test]
fn index_names_that_leave_the_archive_are_refused() {
    let layer = app_layer();
    for (name, expected) in [
        ("../0/layer.tar", "climbs out"),
        ("/etc/passwd", "absolute path"),
    ] {
        let mut files = docker_save(&[&layer]);
        let mut manifest = files.json("manifest.json");
        manifest[0]["Layers"][0] = json!(name);
        files.set_json("manifest.json", &manifest);
        refused(open(&files), expected);
    }
    let mut files = oci(&[&layer], false);
    let mut index = files.json("index.json");
    index["manifests"][0]["digest"] = json!("sha256:../../../../etc/passwd");
    files.set_json("index.json", &index);
    refused(open(&files), "is not a sha256 digest");
}

/// A layer of raw entries (name, hard link target): the tar crate will not
/// write `..` or absolute names itself.
fn raw_layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        match link {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            }
            None => header.set_size(1),
        }
        header.set_cksum();
        let data: &[u8] = if link.is_some() { b"" } else { b"x" };
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn layer_entries_that_climb_out_of_the_root_are_refused() {
    let escaping = raw_layer(&[("../../escape", None)]);
    refused(
        read(&docker_save(&[&escaping])),
        "climbs out of the image root",
    );
    let hardlink = raw_layer(&[("a", None), ("b", Some("../../../etc/shadow"))]);
    refused(read(&docker_save(&[&hardlink])), "hard link target");
    // Absolute names land inside the root, as Docker unpacks them.
    let absolute = raw_layer(&[("/etc/abs", None), ("ok/../fine", None)]);
    let rootfs = read(&docker_save(&[&absolute])).unwrap();
    assert!(rootfs.get(Path::new("/etc/abs")).is_some());
    assert!(rootfs.get(Path::new("/fine")).is_some());
}

#[test]
fn a_multi_platform_index_gives_the_wanted_platform() {
    let (amd, arm) = (
        layer_tar(&[Entry::File("arch", b"amd64")]),
        layer_tar(&[Entry::File("arch", b"arm64")]),
    );
    let mut files = Files(BTreeMap::new());
    let amd_manifest = add_image(&mut files, &[&amd], true, ("linux", "amd64"));
    let arm_manifest = add_image(&mut files, &[&arm], true, ("linux", "arm64"));
    let attestation = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest(b"none"), "size": 4,
        "platform": {"os": "unknown", "architecture": "unknown"},
    });
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [arm_manifest, amd_manifest, attestation],
    }))
    .unwrap();
    let nested_digest = files.blob(&nested);
    files.set_json("oci-layout", &json!({"imageLayoutVersion": "1.0.0"}));
    files.set_json(
        "index.json",
        &json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested_digest, "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }]}),
    );
    let store = Store::tar(files.tar()).unwrap();
    for (arch, expected) in [("amd64", b"amd64"), ("arm64", b"arm64")] {
        let selection = Selection {
            platform: Platform::new("linux", arch, None),
            reference: Some("v1".into()),
            ..Selection::default()
        };
        let archive = ImageArchive::from_store(&store, &selection).unwrap();
        let rootfs = RootFs::build(&archive).unwrap();
        assert_eq!(rootfs.read(Path::new("/arch"), 10).unwrap(), expected);
        assert_eq!(archive.repo_tags, ["v1"]);
    }
    let s390x = Selection {
        platform: Platform::new("linux", "s390x", None),
        ..Selection::default()
    };
    refused(
        ImageArchive::from_store(&store, &s390x),
        "linux/arm64, linux/amd64",
    );
    let other_ref = Selection {
        reference: Some("v2".into()),
        ..amd64()
    };
    refused(
        ImageArchive::from_store(&store, &other_ref),
        "no image named v2",
    );
}

#[test]
fn a_checked_layer_is_read_whole_once_then_by_seeks() {
    let layer = app_layer();
    let archive = open(&oci(&[&layer], false)).unwrap();
    let mut count = 0;
    visit_layer(&archive, 0, &mut |_, _| {
        count += 1;
        Ok(())
    })
    .unwrap();
    assert!(!archive.needs_check(0));
    visit_layer(&archive, 0, &mut |_, _| {
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 6);
}

#[test]
fn the_engine_load_stream_carries_only_the_temporary_tag() {
    let layer = app_layer();
    let files = docker_save(&[&layer]);
    let archive = open(&files).unwrap();
    let mut stream = Vec::new();
    crate::image::repack::write_for_engine(&archive, "rslim-tmp/x:latest", &mut stream).unwrap();
    let mut tar = tar::Archive::new(&stream[..]);
    let mut names = BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        names.insert(entry.path().unwrap().display().to_string(), bytes);
    }
    let manifest: Value = serde_json::from_slice(&names["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!(["rslim-tmp/x:latest"]));
    assert_eq!(names["layers/0.tar"], layer);

    let mut bad = files.clone();
    let data = bad.0.get_mut("0/layer.tar").unwrap();
    let at = data.windows(4).position(|w| w == b"echo").unwrap();
    data[at] = b'E';
    let archive = open(&bad).unwrap();
    let error = crate::image::repack::write_for_engine(&archive, "t", &mut Vec::new()).unwrap_err();
    assert!(is_invalid_archive(&error), "{error:#}");
}

#[test]
fn a_legacy_docker_save_layer_linked_to_another_layers_tar_reads() {
    // Docker before 25 writes a layer another layer of the image already
    // holds as a symlink `<id>/layer.tar -> ../<other>/layer.tar`.
    let layer = app_layer();
    let files = docker_save(&[&layer, &layer]);
    for symbolic in [true, false] {
        let mut builder = tar::Builder::new(tempfile::tempfile().unwrap());
        for (name, bytes) in &files.0 {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            if name == "1/layer.tar" {
                let (kind, target) = match symbolic {
                    true => (tar::EntryType::Symlink, "../0/layer.tar"),
                    false => (tar::EntryType::Link, "0/layer.tar"),
                };
                header.set_entry_type(kind);
                header.set_size(0);
                builder.append_link(&mut header, name, target).unwrap();
            } else {
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, name, &bytes[..]).unwrap();
            }
        }
        let store = Store::tar(builder.into_inner().unwrap()).unwrap();
        let archive = ImageArchive::from_store(&store, &amd64()).unwrap();
        assert_eq!(archive.layers.len(), 2);
        assert_eq!(archive.layers[0].offset, archive.layers[1].offset);
        let rootfs = RootFs::build(&archive).unwrap();
        assert_eq!(
            rootfs.read(Path::new("/bin/app"), 100).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            rootfs
                .get(Path::new("/bin/app"))
                .unwrap()
                .content
                .unwrap()
                .layer,
            1
        );
    }
}
