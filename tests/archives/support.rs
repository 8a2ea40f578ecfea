//! Helpers of tests/archives.rs: fresh images the engine does not have,
//! skopeo, and archives taken apart to be broken on purpose.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::FAT;

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is missing: run scripts/setup (it installs skopeo)")
}

pub fn skopeo_ok(args: &[&str]) -> String {
    let out = skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A fresh image the engine does not have: the nginx example with one more
/// layer of its own (so loading it brings a layer nobody else holds). Saved
/// with `docker save`, then removed from the engine.
pub struct Fresh {
    /// The content of `/nonce`, the one file of the image's own layer.
    pub nonce: String,
    pub archive: PathBuf,
    pub id: String,
    pub diff_ids: Vec<String>,
    pub tag: String,
}

pub fn fresh_image(dir: &Path, name: &str) -> Fresh {
    require_image(FAT);
    let nonce = format!("{}-{:x}", std::process::id(), rand_nanos());
    let tag = format!("rslim-test/{name}-{nonce}:fat");
    let dockerfile = format!("FROM {FAT}\nRUN echo {nonce} > /nonce\n");
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut build.stdin.take().unwrap(), dockerfile.as_bytes()).unwrap();
    let built = build.wait_with_output().unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let archive = dir.join(format!("{name}.tar"));
    docker_ok(&["save", "-o", arg(&archive), &tag]);
    let id = docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    let layers = docker_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &tag]);
    let diff_ids = serde_json::from_str(&layers).unwrap();
    Fresh {
        nonce,
        archive,
        id,
        diff_ids,
        tag,
    }
}

impl Fresh {
    pub fn remove_from_engine(&self) {
        docker_ok(&["image", "rm", &self.tag]);
        self.assert_gone();
    }

    /// Neither the image nor its own top layer is in the engine, and no
    /// image (tagged or dangling) holds that layer.
    pub fn assert_gone(&self) {
        assert!(
            !docker(&["image", "inspect", &self.id]).status.success(),
            "image {} is still in the engine",
            self.id
        );
        let top = self.diff_ids.last().unwrap();
        let all = docker_ok(&["images", "-a", "-q", "--no-trunc"]);
        let ids: Vec<&str> = all.lines().collect();
        if !ids.is_empty() {
            let mut args = vec!["image", "inspect", "-f", "{{.Id}} {{json .RootFS.Layers}}"];
            args.extend(&ids);
            let out = docker(&args);
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                assert!(
                    !line.contains(top.as_str()),
                    "an image still holds the loaded layer: {line}"
                );
            }
        }
        if let Some(dir) = layer_db() {
            let chain = chain_id(&self.diff_ids);
            assert!(
                !dir.join(chain.trim_start_matches("sha256:")).exists(),
                "layer {chain} is still in the engine's layer store"
            );
        }
    }
}

pub fn rand_nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// Docker's layer store on this host, when the daemon is local and readable.
pub fn layer_db() -> Option<PathBuf> {
    let root = docker_ok(&["info", "-f", "{{.DockerRootDir}}"]);
    let driver = docker_ok(&["info", "-f", "{{.Driver}}"]);
    let dir = Path::new(&root)
        .join("image")
        .join(driver)
        .join("layerdb/sha256");
    dir.is_dir().then_some(dir)
}

/// The chain ID of the top layer: how the layer store names it.
pub fn chain_id(diff_ids: &[String]) -> String {
    let mut chain = diff_ids[0].clone();
    for diff_id in &diff_ids[1..] {
        chain = format!("sha256:{}", sha256(format!("{chain} {diff_id}").as_bytes()));
    }
    chain
}

/// The bytes of the first member of a tar whose name passes `pick`.
pub fn member(archive: &[u8], pick: impl Fn(&str) -> bool) -> Vec<u8> {
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if pick(&name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            return bytes;
        }
    }
    panic!("no such member")
}

/// A docker-save archive as a map of members, to break on purpose.
#[derive(Clone)]
pub struct Members(pub BTreeMap<String, Member>);

#[derive(Clone)]
pub enum Member {
    File(Vec<u8>),
    Symlink(String),
}

impl Members {
    pub fn read(path: &Path) -> Members {
        let bytes = std::fs::read(path).unwrap();
        let mut tar = tar::Archive::new(&bytes[..]);
        let mut members = BTreeMap::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                members.insert(name, Member::File(data));
            }
        }
        Members(members)
    }

    pub fn json(&self, name: &str) -> Value {
        match &self.0[name] {
            Member::File(bytes) => serde_json::from_slice(bytes).unwrap(),
            Member::Symlink(_) => panic!("{name} is a link"),
        }
    }

    pub fn set(&mut self, name: &str, bytes: Vec<u8>) {
        self.0.insert(name.to_string(), Member::File(bytes));
    }

    pub fn set_json(&mut self, name: &str, value: &Value) {
        self.set(name, serde_json::to_vec(value).unwrap());
    }

    /// The name of the last layer `manifest.json` lists.
    pub fn last_layer(&self) -> String {
        let manifest = self.json("manifest.json");
        let layers = manifest[0]["Layers"].as_array().unwrap();
        layers.last().unwrap().as_str().unwrap().to_string()
    }

    pub fn write(&self, path: &Path) {
        let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, member) in &self.0 {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            match member {
                Member::File(bytes) => {
                    header.set_size(bytes.len() as u64);
                    builder.append_data(&mut header, name, &bytes[..]).unwrap();
                }
                Member::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, name, target).unwrap();
                }
            }
        }
        builder.finish().unwrap();
    }
}

/// A layer tar of one entry named `name` (written raw: the tar crate
/// refuses to write `..` itself).
pub fn layer_with_entry(name: &str) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(2);
    header.set_entry_type(tar::EntryType::Regular);
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b"x\n"[..]).unwrap();
    builder.into_inner().unwrap()
}

/// Adds `layer` on top of the image in `members`, with its diff_id in a
/// re-hashed config, so only the layer's own content is wrong.
pub fn add_layer(members: &mut Members, layer: Vec<u8>) {
    let mut manifest = members.json("manifest.json");
    let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
    let mut config = members.json(&config_name);
    let diff_id = format!("sha256:{}", sha256(&layer));
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(json!(diff_id));
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let new_config = format!("{}.json", sha256(&config_bytes));
    members.0.remove(&config_name);
    members.set(&new_config, config_bytes);
    members.set("evil/layer.tar", layer);
    manifest[0]["Config"] = json!(new_config);
    manifest[0]["Layers"]
        .as_array_mut()
        .unwrap()
        .push(json!("evil/layer.tar"));
    members.set_json("manifest.json", &manifest);
}

/// An OCI archive as members, with the manifest chain re-hashed after an edit.
pub fn edit_manifest(members: &mut Members, edit: impl FnOnce(&mut Value)) {
    let mut index = members.json("index.json");
    let old = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let old_name = format!("blobs/sha256/{}", old.trim_start_matches("sha256:"));
    let mut manifest = members.json(&old_name);
    edit(&mut manifest);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256(&bytes);
    index["manifests"][0]["digest"] = json!(format!("sha256:{digest}"));
    index["manifests"][0]["size"] = json!(bytes.len());
    members.0.remove(&old_name);
    members.set(&format!("blobs/sha256/{digest}"), bytes);
    members.set_json("index.json", &index);
}
