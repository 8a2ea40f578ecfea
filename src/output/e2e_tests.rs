//! End to end against the Docker daemon: write a tiny root as the slim image,
//! `docker load` it, run it and inspect it. Skips (with a message) when the
//! daemon or a static C toolchain is missing.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::{config_digest, slim_config, write_docker_archive, write_layer};
use crate::image::node::{ContentRef, ContentSource, Node, NodeKind, NodeMeta};

const IMAGE: &str = "rslim-output-test:e2e";

/// Prints what the image's filesystem looks like from inside, so the test can
/// check that Docker extracted every kind of entry as written.
const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "health") == 0) return 0;
    char message[64] = {0}, target[64] = {0}, cwd[128] = {0}, deep[16] = {0};
    FILE *f = fopen("/etc/message", "r");
    if (f) { fgets(message, sizeof message, f); fclose(f); }
    f = fopen(getenv("DEEP_FILE"), "r");
    if (f) { fgets(deep, sizeof deep, f); fclose(f); }
    struct stat file, hardlink, self;
    stat("/etc/message", &file);
    stat("/etc/message-hardlink", &hardlink);
    stat("/app/hello", &self);
    readlink("/etc/link", target, sizeof target - 1);
    getcwd(cwd, sizeof cwd);
    char capability[64];
    long capability_len = getxattr("/app/hello", "security.capability", capability, sizeof capability);
    printf("message=%s greeting=%s args=%s,%s hardlink=%s link=%s cwd=%s "
           "mode=%o owner=%d:%d self=%o deep=%s uid=%d capability=%ld:%02x\n",
           message, getenv("GREETING"), argc > 1 ? argv[1] : "", argc > 2 ? argv[2] : "",
           file.st_ino == hardlink.st_ino ? "same" : "different", target, cwd,
           file.st_mode & 07777, file.st_uid, file.st_gid, self.st_mode & 07777, deep,
           getuid(), capability_len, capability_len > 5 ? (unsigned char)capability[5] : 0);
    return 0;
}
"#;

/// A `security.capability` xattr (revision 2, effective) granting
/// CAP_NET_BIND_SERVICE (bit 10), as `setcap cap_net_bind_service+ep` writes it.
const NET_BIND_SERVICE: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// File content served from files on disk, keyed by a made-up reference.
struct DiskSource {
    files: HashMap<ContentRef, PathBuf>,
}

impl ContentSource for DiskSource {
    fn open(&self, content: &ContentRef) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(File::open(&self.files[content])?))
    }
}

/// Removes the test image however the test ends.
struct RemoveImage;

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", IMAGE]).output();
    }
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn compile_static(dir: &Path) -> Option<PathBuf> {
    let source = dir.join("hello.c");
    let binary = dir.join("hello");
    std::fs::write(&source, PROGRAM).unwrap();
    let status = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .ok()?;
    status.success().then_some(binary)
}

fn meta(mode: u32, uid: u64, gid: u64) -> NodeMeta {
    NodeMeta {
        mode,
        uid,
        gid,
        mtime: 1_700_000_000,
        xattrs: Vec::new(),
    }
}

fn disk_file(
    files: &mut HashMap<ContentRef, PathBuf>,
    image_path: &str,
    disk_path: &Path,
    meta: NodeMeta,
) -> Node {
    let size = std::fs::metadata(disk_path).unwrap().len();
    let content = ContentRef {
        layer: 0,
        offset: files.len() as u64,
        size,
    };
    files.insert(content, disk_path.to_owned());
    Node {
        path: PathBuf::from(image_path),
        kind: NodeKind::File { size },
        meta,
        content: Some(content),
    }
}

fn dir(path: &str) -> Node {
    Node {
        path: PathBuf::from(path),
        kind: NodeKind::Dir,
        meta: meta(0o755, 0, 0),
        content: None,
    }
}

#[test]
fn docker_loads_runs_and_inspects_the_written_image() {
    if !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipping: `docker info` failed, no daemon to load the image into");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(binary) = compile_static(work.path()) else {
        eprintln!("skipping: `gcc -static` is not available to build a test binary");
        return;
    };
    let message = work.path().join("message");
    std::fs::write(&message, "slim world").unwrap();
    let deep_dir = format!("/app/{}", "deep".repeat(30));
    let deep_file = format!("{deep_dir}/file");

    let mut files = HashMap::new();
    let mut hello_meta = meta(0o4755, 0, 0);
    hello_meta.xattrs = vec![("security.capability".to_owned(), NET_BIND_SERVICE.to_vec())];
    let hello = disk_file(&mut files, "/app/hello", &binary, hello_meta);
    let message_file = disk_file(
        &mut files,
        "/etc/message",
        &message,
        meta(0o640, 1000, 1000),
    );
    let hardlink = Node {
        path: PathBuf::from("/etc/message-hardlink"),
        ..message_file.clone()
    };
    let deep = disk_file(&mut files, &deep_file, &message, meta(0o644, 0, 0));
    let link = Node {
        path: PathBuf::from("/etc/link"),
        kind: NodeKind::Symlink {
            target: PathBuf::from("message"),
        },
        meta: meta(0o777, 0, 0),
        content: None,
    };
    let nodes = vec![
        hello,
        message_file,
        hardlink,
        link,
        deep,
        dir("/"),
        dir("/app"),
        dir(&deep_dir),
        dir("/etc"),
    ];

    let layer_path = work.path().join("layer.tar");
    let source = DiskSource { files };
    let summary = write_layer(&nodes, &source, File::create(&layer_path).unwrap()).unwrap();

    let original = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-06T07:08:09Z",
        "container": "deadbeef",
        "config": {
            "Hostname": "deadbeef",
            "Image": "sha256:0000",
            "AttachStdin": false,
            "Entrypoint": ["/app/hello"],
            "Cmd": ["first", "second"],
            "Env": ["PATH=/app", "GREETING=hi there", format!("DEEP_FILE={deep_file}")],
            "WorkingDir": "/etc",
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": {"team": "slim"},
            "Healthcheck": {"Test": ["CMD", "/app/hello", "health"], "Interval": 5_000_000_000u64},
            "OnBuild": ["RUN make"],
        },
    });
    let labels = [("org.rslim.slimmed".to_owned(), "true".to_owned())];
    let config = slim_config(&original, &summary.diff_id, &labels, "e2e-source");
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let archive_path = work.path().join("image.tar");
    let archive = File::create(&archive_path).unwrap();
    write_docker_archive(&config_bytes, &layer_path, &[IMAGE.to_owned()], archive).unwrap();

    let _cleanup = RemoveImage;
    let loaded = docker(&["load", "-i", archive_path.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image: {IMAGE}")),
        "{loaded}"
    );

    let output = docker(&["run", "--rm", "--network", "none", IMAGE]);
    assert_eq!(
        output.trim(),
        "message=slim world greeting=hi there args=first,second hardlink=same \
         link=message cwd=/etc mode=640 owner=1000:1000 self=4755 deep=slim world uid=1000 \
         capability=20:04"
    );

    let inspect: Value = serde_json::from_str(&docker(&["image", "inspect", IMAGE])).unwrap();
    let image = &inspect[0];
    assert_eq!(
        image["Id"],
        format!("sha256:{}", config_digest(&config_bytes))
    );
    assert_eq!(image["RootFS"]["Layers"], json!([summary.diff_id]));
    assert_eq!(image["Created"], "2024-05-06T07:08:09Z");
    let runtime = &image["Config"];
    let wanted = &original["config"];
    for field in [
        "Entrypoint",
        "Cmd",
        "Env",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Healthcheck",
    ] {
        assert_eq!(runtime[field], wanted[field], "{field}");
    }
    assert_eq!(
        runtime["Labels"],
        json!({"team": "slim", "org.rslim.slimmed": "true"})
    );
    assert!(runtime["OnBuild"].is_null(), "{}", runtime["OnBuild"]);
    assert_eq!(runtime["Hostname"], "");
}
