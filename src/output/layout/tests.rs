use std::collections::BTreeMap;
use std::io::Read;

use super::*;
use crate::image::archive::{Format, Selection};
use crate::image::{ImageArchive, Platform};
use crate::output::oci::OciImage;

/// A real one-layer image: layer tar, config naming it, OCI form.
fn image(dir: &Path) -> OciImage {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(3);
    builder
        .append_data(&mut header, "app", &b"run"[..])
        .unwrap();
    let tar = builder.into_inner().unwrap();
    let layer = dir.join("layer.tar");
    fs::write(&layer, &tar).unwrap();
    let diff_id = format!("sha256:{}", crate::output::digest::sha256_hex(&tar));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    OciImage::build(&config, &layer, dir).unwrap()
}

fn names(tags: &[&str], reference: Option<&str>) -> LayoutNames {
    LayoutNames {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        reference: reference.map(str::to_string),
    }
}

fn members(archive: &[u8]) -> BTreeMap<String, (u64, Vec<u8>)> {
    let mut tar = tar::Archive::new(archive);
    let mut members = BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mtime = entry.header().mtime().unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.insert(entry.path().unwrap().display().to_string(), (mtime, bytes));
    }
    members
}

fn amd64(format: Format) -> Selection {
    Selection {
        format,
        platform: Platform::new("linux", "amd64", None),
        ..Selection::default()
    }
}

#[test]
fn the_archive_is_a_layout_that_both_indexes_read() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let names = names(&["app"], None);
    let bytes = write_oci_archive(&image, &names, 0, Vec::new()).unwrap();
    assert_eq!(
        bytes,
        write_oci_archive(&image, &names, 0, Vec::new()).unwrap()
    );
    let members = members(&bytes);
    assert!(members.values().all(|(mtime, _)| *mtime == 0));
    let index: Value = serde_json::from_slice(&members["index.json"].1).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.manifest_digest);
    assert_eq!(entry["annotations"][REF_NAME], "latest");
    assert_eq!(
        entry["annotations"][CONTAINERD_NAME],
        "docker.io/library/app:latest"
    );
    assert_eq!(
        entry["platform"],
        json!({"architecture": "amd64", "os": "linux"})
    );
    let manifest: Value = serde_json::from_slice(&members["manifest.json"].1).unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!(["app:latest"]));

    let path = dir.path().join("image.tar");
    fs::write(&path, &bytes).unwrap();
    let as_oci = ImageArchive::open_file(&path, &amd64(Format::Oci)).unwrap();
    let as_docker = ImageArchive::open_file(&path, &amd64(Format::DockerSave)).unwrap();
    assert_eq!(as_oci.image_id(), image.config.digest);
    assert_eq!(as_docker.image_id(), image.config.digest);
    assert_eq!(
        as_oci.manifest_digest.as_deref(),
        Some(image.manifest_digest.as_str())
    );
    // The reader checks every digest as it goes, so this also checks them.
    crate::image::RootFs::build(&as_oci).unwrap();
    crate::image::RootFs::build(&as_docker).unwrap();
}

#[test]
fn source_date_epoch_is_every_member_s_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let bytes = write_oci_archive(
        &image,
        &names(&["app:1"], Some("v1")),
        1_700_000_000,
        Vec::new(),
    )
    .unwrap();
    let members = members(&bytes);
    assert!(members.values().all(|(mtime, _)| *mtime == 1_700_000_000));
    let index: Value = serde_json::from_slice(&members["index.json"].1).unwrap();
    assert_eq!(index["manifests"][0]["annotations"][REF_NAME], "v1");
}

#[test]
fn the_directory_holds_the_same_files_as_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let names = names(&["localhost:5000/team/app:2"], None);
    let layout = dir.path().join("layout");
    fs::create_dir(&layout).unwrap();
    write_oci_dir(&image, &names, Some(86_400), &layout, &|f| Box::new(f)).unwrap();
    let archive = members(&write_oci_archive(&image, &names, 0, Vec::new()).unwrap());
    for (name, (_, bytes)) in &archive {
        let path = layout.join(name);
        if name.ends_with('/') {
            assert!(path.is_dir());
            continue;
        }
        assert_eq!(&fs::read(&path).unwrap(), bytes, "{name}");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(
            meta.modified().unwrap(),
            UNIX_EPOCH + Duration::from_secs(86_400)
        );
    }
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"][CONTAINERD_NAME],
        "localhost:5000/team/app:2"
    );
    let read = ImageArchive::open_layout(&layout, &amd64(Format::Oci)).unwrap();
    crate::image::RootFs::build(&read).unwrap();
}

#[test]
fn names_are_qualified_as_containerd_does() {
    assert_eq!(qualified("nginx"), "docker.io/library/nginx:latest");
    assert_eq!(qualified("team/app:1"), "docker.io/team/app:1");
    assert_eq!(qualified("ghcr.io/a/b:2"), "ghcr.io/a/b:2");
    assert_eq!(qualified("localhost/x"), "localhost/x:latest");
    assert_eq!(tag_part("localhost:5000/app"), "latest");
}
