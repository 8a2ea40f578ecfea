use std::io::Read;

use super::*;

fn layer_file(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("layer.tar");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn gzip_layers_are_deterministic_and_carry_no_name_or_time() {
    let dir = tempfile::tempdir().unwrap();
    let tar = vec![7u8; 100_000];
    let layer = layer_file(dir.path(), &tar);
    let first = gzip_layer(&layer, &dir.path().join("a.gz")).unwrap();
    let second = gzip_layer(&layer, &dir.path().join("b.gz")).unwrap();
    assert_eq!(first.digest, second.digest);
    let bytes = std::fs::read(dir.path().join("a.gz")).unwrap();
    assert_eq!(first.size, bytes.len() as u64);
    assert_eq!(first.digest, format!("sha256:{}", sha256_hex(&bytes)));
    // ID1 ID2 CM FLG, MTIME (4), XFL, OS: no FNAME flag, mtime 0, OS unknown.
    assert_eq!(&bytes[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
    assert_eq!(bytes[9], 255);
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, tar);
}

#[test]
fn the_manifest_names_the_config_and_the_gzip_layer() {
    let dir = tempfile::tempdir().unwrap();
    let layer = layer_file(dir.path(), b"a tar, as far as this test cares");
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let image = OciImage::build(config, &layer, dir.path()).unwrap();
    let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
    assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
    assert_eq!(
        manifest["config"]["digest"],
        format!("sha256:{}", sha256_hex(config))
    );
    assert_eq!(manifest["layers"][0]["mediaType"], LAYER_GZIP_MEDIA_TYPE);
    assert_eq!(manifest["layers"][0]["digest"], image.layers[0].digest);
    assert_eq!(
        image.manifest_digest,
        format!("sha256:{}", sha256_hex(&image.manifest))
    );
    let again = OciImage::build(config, &layer, dir.path()).unwrap();
    assert_eq!(again.manifest, image.manifest);
    let mut blob = Vec::new();
    image.config.open().unwrap().read_to_end(&mut blob).unwrap();
    assert_eq!(blob, config);
}
