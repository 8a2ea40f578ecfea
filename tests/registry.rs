//! `rslim::output::registry::push` against real registries on 127.0.0.1.
//!
//! What is real: Debian's `docker-registry` (distribution 2.8), started per
//! test on a free port with its own storage, plain or with htpasswd basic
//! auth and TLS from a CA made here with the openssl CLI; images are read
//! back with skopeo, an independent client. What is a fake, and why: the
//! token flow runs against a small registry in this file (docker-registry
//! only accepts tokens signed by a key it trusts, which would mean writing a
//! JWT signer here), and the interruption tests put a byte-counting TCP relay
//! between the push and a real registry to kill or stall it mid-upload.
//!
//! `scripts/setup` installs docker-registry, skopeo and htpasswd.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rslim::error::{ExitKind, Failure};
use rslim::output::digest::sha256_hex;
use rslim::output::oci::{
    Blob, BlobSource, OciImage, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
use rslim::output::registry::{push, PushError, PushOptions, PushOutcome};
use serde_json::json;
use tempfile::TempDir;

mod common;

use common::registry::{require, Registry, RegistrySetup};

// ---------------------------------------------------------------- helpers

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A small image: one real uncompressed layer tar on disk (a file blob, as
/// the build writes them) and a config in memory.
fn test_image(dir: &Path, name: &str, data: &[u8]) -> OciImage {
    let layer_path = dir.join(format!("{name}-layer.tar"));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_path("srv/data.bin").unwrap();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append(&header, data).unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    std::fs::write(&layer_path, &tar_bytes).unwrap();
    let layer_digest = format!("sha256:{}", sha256_hex(&tar_bytes));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/srv/data.bin"], "Labels": {"test": name}},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let layer = Blob {
        media_type: LAYER_MEDIA_TYPE.into(),
        digest: layer_digest,
        size: tar_bytes.len() as u64,
        source: BlobSource::File(layer_path),
    };
    let config = Blob {
        media_type: CONFIG_MEDIA_TYPE.into(),
        digest: format!("sha256:{}", sha256_hex(&config)),
        size: config.len() as u64,
        source: BlobSource::Memory(config),
    };
    let descriptor =
        |b: &Blob| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(&config),
        "layers": [descriptor(&layer)],
    }))
    .unwrap();
    OciImage {
        manifest_digest: format!("sha256:{}", sha256_hex(&manifest)),
        manifest,
        config,
        layers: vec![layer],
    }
}

/// Bytes that do not compress away and differ per seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

fn blob_bytes(blob: &Blob) -> Vec<u8> {
    match &blob.source {
        BlobSource::Memory(bytes) => bytes.clone(),
        BlobSource::File(path) => std::fs::read(path).unwrap(),
    }
}

fn push_error(failure: &Failure) -> &PushError {
    failure
        .error
        .downcast_ref::<PushError>()
        .unwrap_or_else(|| panic!("not a PushError: {failure}"))
}

fn insecure(registry: &str) -> PushOptions {
    PushOptions {
        insecure_registries: vec![registry.to_string()],
        // no config.json: anonymous, whatever the host's ~/.docker holds
        docker_config_dir: Some(PathBuf::from("/nonexistent")),
        ..Default::default()
    }
}

fn assert_uploaded_all(outcome: &PushOutcome, image: &OciImage) {
    assert_eq!(outcome.manifest_digest, image.manifest_digest);
    assert_eq!(outcome.blobs_uploaded, 2, "{outcome:?}");
    assert_eq!(
        outcome.blobs_existing + outcome.blobs_mounted,
        0,
        "{outcome:?}"
    );
    assert_eq!(
        outcome.bytes_uploaded,
        image.config.size + image.layers[0].size
    );
}

// ---------------------------------------------------------------- the real registry

/// A CA and a server certificate for 127.0.0.1 signed by it.
struct Certificates {
    dir: TempDir,
}

impl Certificates {
    fn make() -> Certificates {
        require("openssl");
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
        args.extend([
            "-keyout",
            &ca_key,
            "-out",
            &ca_pem,
            "-days",
            "2",
            "-subj",
            "/CN=rslim test CA",
        ]);
        run("openssl", &args);
        let (key, csr) = (p("server.key"), p("server.csr"));
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        run("openssl", &args);
        let ext = p("ext.cnf");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let cert = p("server.pem");
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        Certificates { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn server(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        )
    }
}

/// An htpasswd file with one bcrypt user.
fn htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    require("htpasswd");
    let path = dir.join("htpasswd");
    std::fs::write(&path, run("htpasswd", &["-Bbn", user, password])).unwrap();
    path
}

/// A Docker config directory holding `config` as config.json.
fn docker_config(config: serde_json::Value) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

fn skopeo(args: &[&str]) -> String {
    require("skopeo");
    run("skopeo", args)
}

/// Reads the pushed image back with skopeo and checks it is ours, byte for byte.
fn assert_skopeo_reads_back(reference: &str, image: &OciImage, creds: Option<&str>, work: &Path) {
    let mut auth = vec!["--tls-verify=false".to_string()];
    if let Some(creds) = creds {
        auth.push(format!("--creds={creds}"));
    }
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
    let url = format!("docker://{reference}");
    let mut args = vec!["inspect"];
    args.extend(&auth);
    args.push(&url);
    let inspected: serde_json::Value = serde_json::from_str(&skopeo(&args)).unwrap();
    assert_eq!(inspected["Digest"], image.manifest_digest, "{inspected}");
    assert!(inspected["Labels"]["test"].is_string(), "{inspected}");

    let out = work.join(format!("copy-{}", reference.replace(['/', ':'], "_")));
    let dest = format!("dir:{}", out.display());
    let src_auth: Vec<String> = auth.iter().map(|a| a.replacen("--", "--src-", 1)).collect();
    let mut args = vec!["copy", "--insecure-policy", "--quiet"];
    args.extend(src_auth.iter().map(String::as_str));
    args.push(&url);
    args.push(&dest);
    skopeo(&args);
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        image.manifest,
        "skopeo copied a different manifest"
    );
    for blob in image.layers.iter().chain([&image.config]) {
        let hex = blob.digest.trim_start_matches("sha256:");
        assert_eq!(
            std::fs::read(out.join(hex)).unwrap(),
            blob_bytes(blob),
            "blob {} differs",
            blob.digest
        );
    }
}

// ---------------------------------------------------------------- 1. plain HTTP

#[tokio::test]
async fn plain_http_push_reads_back_repushes_as_existing_and_mounts() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistrySetup::default());
    let host = registry.host();
    let image = test_image(work.path(), "plain", &noise(10_000, 1));
    let options = insecure(&host);

    let reference = format!("{host}/rslim/app:v1");
    let outcome = push(&image, &reference, &options).await.unwrap();
    assert_eq!(outcome.reference, reference);
    assert_uploaded_all(&outcome, &image);
    assert_skopeo_reads_back(&reference, &image, None, work.path());

    let again = push(&image, &reference, &options).await.unwrap();
    assert_eq!(again.manifest_digest, image.manifest_digest);
    assert_eq!(
        (
            again.blobs_existing,
            again.blobs_uploaded,
            again.bytes_uploaded
        ),
        (2, 0, 0)
    );

    // Another repository: the blobs are mounted from the first, not sent again.
    let mounted_ref = format!("{host}/rslim/other:v1");
    let mount_options = PushOptions {
        mount_from: vec!["rslim/app".into()],
        ..options.clone()
    };
    let mounted = push(&image, &mounted_ref, &mount_options).await.unwrap();
    assert_eq!(
        (
            mounted.blobs_mounted,
            mounted.blobs_uploaded,
            mounted.bytes_uploaded
        ),
        (2, 0, 0)
    );
    assert_skopeo_reads_back(&mounted_ref, &image, None, work.path());

    // A source that does not have the blobs: the registry opens an upload instead.
    let fallback = push(
        &image,
        &format!("{host}/rslim/third:v1"),
        &PushOptions {
            mount_from: vec!["rslim/nothing-here".into()],
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_uploaded_all(&fallback, &image);
    assert_eq!(registry.requests("PATCH"), 0, "small blobs go in one PUT");

    // Not named insecure: HTTPS only, which a plain registry cannot answer.
    let failure = push(
        &image,
        &reference,
        &PushOptions {
            insecure_registries: Vec::new(),
            ..options.clone()
        },
    )
    .await
    .unwrap_err();
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    assert!(
        failure.to_string().contains("--insecure-registry"),
        "{failure}"
    );
}

// ---------------------------------------------------------------- 2. TLS and basic auth

#[tokio::test]
async fn tls_with_basic_auth_from_config_json() {
    let work = tempfile::tempdir().unwrap();
    let certs = Certificates::make();
    let registry = Registry::start(RegistrySetup {
        tls: Some(certs.server()),
        htpasswd: Some(htpasswd(work.path(), "rslim", "right-password")),
    });
    let host = registry.host();
    let image = test_image(work.path(), "tls", &noise(5_000, 2));
    let reference = format!("{host}/secure/app:1");
    let with_auth =
        |auth: &str| docker_config(json!({"auths": {host.clone(): {"auth": b64(auth)}}}));

    let good = with_auth("rslim:right-password");
    let options = PushOptions {
        ca_files: vec![certs.ca()],
        docker_config_dir: Some(good.path().to_path_buf()),
        ..Default::default()
    };
    let outcome = push(&image, &reference, &options).await.unwrap();
    assert_uploaded_all(&outcome, &image);
    assert_skopeo_reads_back(
        &reference,
        &image,
        Some("rslim:right-password"),
        work.path(),
    );

    // Wrong password: a clear error with the push-failed exit kind.
    let bad = with_auth("rslim:wrong");
    let failure = push(
        &image,
        &reference,
        &PushOptions {
            docker_config_dir: Some(bad.path().to_path_buf()),
            ..options.clone()
        },
    )
    .await
    .unwrap_err();
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    assert_eq!(ExitKind::PushFailed.code(), 13);
    let error = push_error(&failure);
    assert_eq!(error.status, Some(401), "{failure}");
    assert_eq!(error.registry, host);
    let message = failure.to_string();
    assert!(
        message.contains(&format!("push to {host} failed")),
        "{message}"
    );
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(
        message.contains(&bad.path().join("config.json").display().to_string()),
        "{message}"
    );

    // No credentials at all.
    let failure = push(
        &image,
        &reference,
        &PushOptions {
            docker_config_dir: Some(PathBuf::from("/nonexistent")),
            ..options.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(failure.to_string().contains("none were found"), "{failure}");

    // HTTPS without trusting the CA fails on the certificate.
    let failure = push(
        &image,
        &reference,
        &PushOptions {
            ca_files: Vec::new(),
            ..options.clone()
        },
    )
    .await
    .unwrap_err();
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    let message = failure.to_string();
    assert!(
        message.contains("certificate") || message.contains("UnknownIssuer"),
        "{message}"
    );
    assert!(message.contains("GET /v2/"), "names the step: {message}");

    // SSL_CERT_FILE replaces the system roots, as for OpenSSL and curl. The
    // variable is read when the push starts, so it is set for a child run of
    // this test binary, not in this process where other tests run.
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "push_trusting_ssl_cert_file"])
        .env("SSL_CERT_FILE", certs.ca())
        .env("RSLIM_TEST_REFERENCE", format!("{host}/secure/viaenv:1"))
        .env("RSLIM_TEST_DOCKER_CONFIG", good.path())
        .output()
        .unwrap();
    let child_out = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success(), "{child_out}");
    assert!(child_out.contains("1 passed"), "{child_out}");
}

#[tokio::test]
#[ignore = "run by tls_with_basic_auth_from_config_json with SSL_CERT_FILE set"]
async fn push_trusting_ssl_cert_file() {
    let reference = std::env::var("RSLIM_TEST_REFERENCE").expect("run by its parent test");
    assert!(std::env::var_os("SSL_CERT_FILE").is_some());
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "viaenv", b"trusted through SSL_CERT_FILE");
    let options = PushOptions {
        docker_config_dir: std::env::var_os("RSLIM_TEST_DOCKER_CONFIG").map(PathBuf::from),
        ..Default::default()
    };
    let outcome = push(&image, &reference, &options).await.unwrap();
    assert_eq!(outcome.manifest_digest, image.manifest_digest);
}

/// The first bytes of each connection a listener accepted.
type FirstBytes = Arc<Mutex<Vec<Vec<u8>>>>;

/// Accepts connections and records their first bytes, answering nothing.
fn recording_listener() -> (u16, FirstBytes, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen2, stop2) = (seen.clone(), stop.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut first = [0u8; 8];
            let n = stream.read(&mut first).unwrap_or(0);
            seen2.lock().unwrap().push(first[..n].to_vec());
        }
    });
    (port, seen, stop)
}

#[tokio::test]
async fn plain_http_is_never_tried_for_a_registry_not_named_insecure() {
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "nohttp", b"x");
    let (port, seen, stop) = recording_listener();
    let failure = push(
        &image,
        &format!("127.0.0.1:{port}/app:1"),
        &PushOptions {
            docker_config_dir: Some(PathBuf::from("/nonexistent")),
            // another registry is insecure, not this one
            insecure_registries: vec![format!("127.0.0.1:{}", port.wrapping_add(1))],
            idle_timeout: Duration::from_secs(3),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(("127.0.0.1", port));
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "no connection was made");
    for first in seen.iter() {
        // 0x16 is a TLS handshake record; an HTTP request starts with a method.
        assert_eq!(
            first.first(),
            Some(&0x16),
            "not a TLS ClientHello: {first:?}"
        );
    }
}

// ---------------------------------------------------------------- 3. the token flow (fake)

/// One HTTP/1.1 request as the fakes see it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    Answer {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Serves `handler` on 127.0.0.1 until dropped; one thread per connection.
struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    fn start(handler: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    while let Some(request) = read_request(&mut reader) {
                        let a = handler(&request);
                        let mut head = format!(
                            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
                            a.status,
                            a.body.len()
                        );
                        for (k, v) in &a.headers {
                            head += &format!("{k}: {v}\r\n");
                        }
                        head += "\r\n";
                        let head_only = request.method == "HEAD";
                        if writer.write_all(head.as_bytes()).is_err()
                            || (!head_only && writer.write_all(&a.body).is_err())
                        {
                            break;
                        }
                    }
                });
            }
        });
        FakeServer { port, stop }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// What the fake registry saw and holds.
#[derive(Default)]
struct FakeState {
    blobs: HashMap<String, Vec<u8>>,
    uploads: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, Vec<u8>>,
    token_requests: Vec<Request>,
    /// Authorization headers of the registry API requests.
    api_authorizations: Vec<Option<String>>,
}

/// A registry that speaks just enough of the distribution API, behind the
/// Docker token flow: `/v2/…` wants `Bearer good-token`, `/token` gives it
/// to `alice:secret` (as `access_token`, as OAuth2 servers answer).
fn fake_token_registry(lie_about_manifest_digest: bool) -> (FakeServer, Arc<Mutex<FakeState>>) {
    let state = Arc::new(Mutex::new(FakeState::default()));
    let port = Arc::new(AtomicU64::new(0));
    let (state2, port2) = (state.clone(), port.clone());
    let server = FakeServer::start(move |r| {
        let mut s = state2.lock().unwrap();
        let path = r.target.split('?').next().unwrap().to_string();
        let query = r
            .target
            .split_once('?')
            .map(|(_, q)| q.to_string())
            .unwrap_or_default();
        if path == "/token" {
            s.token_requests.push(r.clone());
            let basic_ok = r.headers.get("authorization").map(String::as_str)
                == Some(&format!("Basic {}", b64("alice:secret")));
            // an identity token is exchanged with an OAuth2 refresh-token grant
            let body = String::from_utf8_lossy(&r.body);
            let refresh_ok = r.method == "POST"
                && body.contains("grant_type=refresh_token")
                && body.contains("refresh_token=refresh-me");
            return if basic_ok || refresh_ok {
                answer(
                    200,
                    &[],
                    br#"{"access_token":"good-token","expires_in":300}"#,
                )
            } else {
                answer(401, &[], br#"{"details":"bad credentials"}"#)
            };
        }
        s.api_authorizations
            .push(r.headers.get("authorization").cloned());
        if r.headers.get("authorization").map(String::as_str) != Some("Bearer good-token") {
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{}/token",service="fake-registry",scope="repository:ns/app:pull,push""#,
                port2.load(Ordering::SeqCst)
            );
            return answer(
                401,
                &[("WWW-Authenticate", &challenge)],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
        }
        let digest_of = |b: &[u8]| format!("sha256:{}", sha256_hex(b));
        match (r.method.as_str(), path.as_str()) {
            ("GET", "/v2/") => answer(200, &[], b"{}"),
            ("HEAD", p) if p.contains("/blobs/") => {
                let digest = p.rsplit('/').next().unwrap();
                match s.blobs.get(digest) {
                    Some(b) => answer(
                        200,
                        &[
                            ("Docker-Content-Digest", digest),
                            ("Content-Length", &b.len().to_string()),
                        ],
                        b"",
                    ),
                    None => answer(404, &[], b""),
                }
            }
            ("POST", p) if p.ends_with("/blobs/uploads/") => {
                let id = format!("u{}", s.uploads.len());
                s.uploads.insert(id.clone(), Vec::new());
                // a relative Location, which the client must resolve
                answer(202, &[("Location", &format!("{p}{id}"))], b"")
            }
            ("PATCH", p) if p.contains("/blobs/uploads/") => {
                let id = p.rsplit('/').next().unwrap();
                let data = s.uploads.get_mut(id).unwrap();
                data.extend_from_slice(&r.body);
                let range = format!("0-{}", data.len() - 1);
                answer(202, &[("Location", p), ("Range", &range)], b"")
            }
            ("PUT", p) if p.contains("/blobs/uploads/") => {
                let id = p.rsplit('/').next().unwrap();
                let mut data = s.uploads.remove(id).unwrap();
                data.extend_from_slice(&r.body);
                let digest = query.strip_prefix("digest=").unwrap().replace("%3A", ":");
                if digest_of(&data) != digest {
                    return answer(400, &[], br#"{"errors":[{"code":"DIGEST_INVALID"}]}"#);
                }
                s.blobs.insert(digest.clone(), data);
                answer(201, &[("Docker-Content-Digest", &digest)], b"")
            }
            ("PUT", p) if p.contains("/manifests/") => {
                let digest = if lie_about_manifest_digest {
                    format!("sha256:{}", "0".repeat(64))
                } else {
                    digest_of(&r.body)
                };
                s.manifests.insert(p.to_string(), r.body.clone());
                answer(201, &[("Docker-Content-Digest", &digest)], b"")
            }
            _ => answer(405, &[], b""),
        }
    });
    port.store(server.port as u64, Ordering::SeqCst);
    (server, state)
}

#[tokio::test]
async fn token_flow_against_a_fake_registry() {
    let work = tempfile::tempdir().unwrap();
    let (server, state) = fake_token_registry(false);
    let host = format!("127.0.0.1:{}", server.port);
    let image = test_image(work.path(), "token", &noise(3_000, 3));
    let config = docker_config(json!({"auths": {host.clone(): {"auth": b64("alice:secret")}}}));
    let options = PushOptions {
        insecure_registries: vec![host.clone()],
        docker_config_dir: Some(config.path().to_path_buf()),
        mount_from: vec!["ns/base".into()],
        // the fake has no mount: it opens an upload, which must then be used
        chunk_size: 1_000,
        ..Default::default()
    };
    let outcome = push(&image, &format!("{host}/ns/app:t"), &options)
        .await
        .unwrap();
    assert_uploaded_all(&outcome, &image);

    {
        let s = state.lock().unwrap();
        assert_eq!(
            s.manifests.get("/v2/ns/app/manifests/t"),
            Some(&image.manifest)
        );
        assert_eq!(
            s.blobs.get(&image.layers[0].digest),
            Some(&blob_bytes(&image.layers[0]))
        );
        // One token for the whole push, asked with the scopes the push needs.
        assert_eq!(s.token_requests.len(), 1);
        let token_request = &s.token_requests[0].target;
        for part in [
            "service=fake-registry",
            "scope=repository%3Ans%2Fapp%3Apull%2Cpush",
            "scope=repository%3Ans%2Fbase%3Apull",
            "account=alice",
        ] {
            assert!(
                token_request.contains(part),
                "{part} missing in {token_request}"
            );
        }
        // Only the first request went without the token.
        assert_eq!(s.api_authorizations[0], None);
        assert!(
            s.api_authorizations[1..]
                .iter()
                .all(|a| a.as_deref() == Some("Bearer good-token")),
            "{:?}",
            s.api_authorizations
        );
    }

    // An identity token (`docker login` with an OAuth2 registry) is
    // exchanged at the realm with a POST.
    let refresh = docker_config(json!({"auths": {host.clone(): {"identitytoken": "refresh-me"}}}));
    let outcome = push(
        &image,
        &format!("{host}/ns/app:refreshed"),
        &PushOptions {
            docker_config_dir: Some(refresh.path().to_path_buf()),
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.blobs_existing, 2, "{outcome:?}");
    {
        let s = state.lock().unwrap();
        let last = s.token_requests.last().unwrap();
        assert_eq!(last.method, "POST");
        let form = String::from_utf8_lossy(&last.body);
        assert!(
            form.contains("scope=repository%3Ans%2Fapp%3Apull%2Cpush"),
            "{form}"
        );
        assert!(form.contains("service=fake-registry"), "{form}");
    }

    // Wrong credentials: the token server says no, and the error says where.
    let bad = docker_config(json!({"auths": {host.clone(): {"auth": b64("alice:nope")}}}));
    let failure = push(
        &image,
        &format!("{host}/ns/app:t"),
        &PushOptions {
            docker_config_dir: Some(bad.path().to_path_buf()),
            ..options.clone()
        },
    )
    .await
    .unwrap_err();
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    assert_eq!(push_error(&failure).status, Some(401));
    assert!(failure.to_string().contains("get a token"), "{failure}");
    assert!(
        failure
            .to_string()
            .contains("/token refused credentials from"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_manifest_digest_the_registry_disagrees_with_fails_the_push() {
    let work = tempfile::tempdir().unwrap();
    let (server, _state) = fake_token_registry(true);
    let host = format!("127.0.0.1:{}", server.port);
    let image = test_image(work.path(), "liar", b"abc");
    let config = docker_config(json!({"auths": {host.clone(): {"auth": b64("alice:secret")}}}));
    let failure = push(
        &image,
        &format!("{host}/ns/app:t"),
        &PushOptions {
            insecure_registries: vec![host.clone()],
            docker_config_dir: Some(config.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    let message = failure.to_string();
    assert!(message.contains("put manifest ns/app:t"), "{message}");
    assert!(
        message.contains(&format!("expected {}", image.manifest_digest)),
        "{message}"
    );
}

// ---------------------------------------------------------------- 4. chunked upload

#[tokio::test]
async fn chunked_upload_to_the_real_registry() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistrySetup::default());
    let host = registry.host();
    // 300 kB of layer in 64 KiB chunks: five PATCHes, the last one short.
    let image = test_image(work.path(), "chunked", &noise(300_000, 4));
    let chunk_size = 64 * 1024;
    let layer_size = image.layers[0].size;
    let reference = format!("{host}/chunked/app:v1");
    let outcome = push(
        &image,
        &reference,
        &PushOptions {
            chunk_size,
            ..insecure(&host)
        },
    )
    .await
    .unwrap();
    assert_uploaded_all(&outcome, &image);
    assert_eq!(
        registry.requests("PATCH") as u64,
        layer_size.div_ceil(chunk_size)
    );
    assert_skopeo_reads_back(&reference, &image, None, work.path());
}

// ---------------------------------------------------------------- 5. credential helper

#[tokio::test]
async fn credentials_from_a_credential_helper() {
    let work = tempfile::tempdir().unwrap();
    let certs = Certificates::make();
    let registry = Registry::start(RegistrySetup {
        tls: Some(certs.server()),
        htpasswd: Some(htpasswd(work.path(), "helped", "helper-secret")),
    });
    let host = registry.host();
    let image = test_image(work.path(), "helper", &noise(2_000, 5));

    // The helper records the server it was asked about, then answers.
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let asked = work.path().join("asked");
    let helper = bin.join("docker-credential-rslimtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r server\necho \"$server\" >> {}\n\
             echo '{{\"ServerURL\":\"'$server'\",\"Username\":\"helped\",\"Secret\":\"helper-secret\"}}'\n",
            asked.display()
        ),
    )
    .unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&helper, executable).unwrap();
    let helper_path = std::env::join_paths([
        bin.clone(),
        PathBuf::from("/usr/bin"),
        PathBuf::from("/bin"),
    ])
    .unwrap();

    for (repo, config) in [
        // credHelpers for this registry; the auths entry is not used then
        (
            "helped/one",
            json!({"credHelpers": {host.clone(): "rslimtest"}, "auths": {host.clone(): {"auth": b64("helped:wrong")}}}),
        ),
        // credsStore for every registry
        ("helped/two", json!({"credsStore": "rslimtest"})),
    ] {
        let config = docker_config(config);
        let outcome = push(
            &image,
            &format!("{host}/{repo}:1"),
            &PushOptions {
                ca_files: vec![certs.ca()],
                docker_config_dir: Some(config.path().to_path_buf()),
                helper_path: Some(helper_path.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|f| panic!("{repo}: {f}"));
        assert_eq!(outcome.manifest_digest, image.manifest_digest);
    }
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap(),
        format!("{host}\n{host}\n")
    );

    // A helper that is not there is an error naming it, not an anonymous push.
    let config = docker_config(json!({"credsStore": "absent"}));
    let failure = push(
        &image,
        &format!("{host}/helped/three:1"),
        &PushOptions {
            ca_files: vec![certs.ca()],
            docker_config_dir: Some(config.path().to_path_buf()),
            helper_path: Some(helper_path),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    assert!(
        failure.to_string().contains("docker-credential-absent"),
        "{failure}"
    );
}

// ---------------------------------------------------------------- memory

/// Peak resident memory of this process, from /proc.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const LARGE_BLOB: u64 = 192 << 20;

#[test]
fn large_file_blobs_stream_from_disk() {
    // Peak memory is per process, and this harness runs tests in parallel,
    // so the push runs alone in a child run of this binary.
    let registry = Registry::start(RegistrySetup::default());
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "--nocapture", "push_large_blob"])
        .env("RSLIM_TEST_REGISTRY", registry.host())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    let err = String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success() && out.contains("1 passed"),
        "{out}\n{err}"
    );
    assert!(registry.requests("PATCH") >= 24, "sent in 8 MiB chunks");
    if let Some(peak) = out.lines().find(|l| l.starts_with("peak RSS")) {
        eprintln!("{peak}");
    }
}

#[tokio::test]
#[ignore = "run by large_file_blobs_stream_from_disk in a process of its own"]
async fn push_large_blob() {
    let host = std::env::var("RSLIM_TEST_REGISTRY").expect("run by its parent test");
    let work = tempfile::tempdir().unwrap();
    // A file of LARGE_BLOB bytes (sparse, so cheap to make), hashed while read.
    let path = work.path().join("big.bin");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(LARGE_BLOB).unwrap();
    let mut reader = rslim::output::digest::HashingReader::new(std::fs::File::open(&path).unwrap());
    std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
    let mut image = test_image(work.path(), "big", b"small");
    image.layers.push(Blob {
        media_type: LAYER_MEDIA_TYPE.into(),
        digest: format!("sha256:{}", reader.hex_digest()),
        size: LARGE_BLOB,
        source: BlobSource::File(path),
    });
    // The manifest must name the extra layer.
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    manifest["layers"].as_array_mut().unwrap().push(json!({
        "mediaType": LAYER_MEDIA_TYPE, "digest": image.layers[1].digest, "size": LARGE_BLOB,
    }));
    image.manifest = serde_json::to_vec(&manifest).unwrap();
    image.manifest_digest = format!("sha256:{}", sha256_hex(&image.manifest));

    let before = peak_rss_kib();
    let outcome = push(&image, &format!("{host}/big/app:1"), &insecure(&host))
        .await
        .unwrap();
    let after = peak_rss_kib();
    assert_eq!(
        outcome.bytes_uploaded,
        image.config.size + image.layers[0].size + LARGE_BLOB
    );
    println!("peak RSS {before} KiB before the push, {after} KiB after");
    assert!(
        after - before < 48 * 1024,
        "pushing {LARGE_BLOB} bytes raised peak memory from {before} to {after} KiB"
    );
}

// ---------------------------------------------------------------- 6. interrupted pushes

/// Relays 127.0.0.1:<port> to `upstream`; once `limit` bytes went upstream
/// it calls `on_limit` and either cuts both connections or stops relaying
/// (a stall) while keeping them open.
fn relay(upstream: u16, limit: u64, cut: bool, on_limit: impl Fn() + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicU64::new(0));
    let on_limit = Arc::new(on_limit);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                break;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
            });
            let (sent, on_limit) = (sent.clone(), on_limit.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                loop {
                    let n = match c_read.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > limit {
                        on_limit();
                        if cut {
                            let _ = c_read.shutdown(Shutdown::Both);
                            let _ = s_write.shutdown(Shutdown::Both);
                        } else {
                            // hold the connection open without relaying
                            std::thread::sleep(Duration::from_secs(30));
                        }
                        break;
                    }
                    if s_write.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_registry_killed_mid_upload_fails_the_push_quickly() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistrySetup::default());
    let pid = registry.child.id();
    let killed = Arc::new(AtomicBool::new(false));
    let killed2 = killed.clone();
    // 1 MiB into a 4 MB layer upload, the registry process is killed.
    let port = relay(registry.port, 1 << 20, true, move || {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        killed2.store(true, Ordering::SeqCst);
    });
    let host = format!("127.0.0.1:{port}");
    let image = test_image(work.path(), "killed", &noise(4_000_000, 6));
    let started = Instant::now();
    let failure = push(
        &image,
        &format!("{host}/cut/app:1"),
        &PushOptions {
            idle_timeout: Duration::from_secs(10),
            ..insecure(&host)
        },
    )
    .await
    .unwrap_err();
    assert!(
        killed.load(Ordering::SeqCst),
        "the relay never reached its limit"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    let error = push_error(&failure);
    assert!(error.step.starts_with("upload blob sha256:"), "{failure}");
    assert_eq!(error.status, None, "{failure}");
    assert_eq!(error.registry, host);
}

#[tokio::test]
async fn a_stalled_upload_times_out_instead_of_hanging() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistrySetup::default());
    let port = relay(registry.port, 1 << 20, false, || {});
    let host = format!("127.0.0.1:{port}");
    let image = test_image(work.path(), "stalled", &noise(4_000_000, 7));
    let started = Instant::now();
    let failure = push(
        &image,
        &format!("{host}/stall/app:1"),
        &PushOptions {
            idle_timeout: Duration::from_secs(2),
            ..insecure(&host)
        },
    )
    .await
    .unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    eprintln!("{failure}");
    assert_eq!(failure.kind, ExitKind::PushFailed);
    let message = failure.to_string();
    assert!(message.contains("upload blob sha256:"), "{message}");
    assert!(message.contains("no progress for 2s"), "{message}");
}

// ---------------------------------------------------------------- references and digests

#[tokio::test]
async fn bad_references_are_usage_errors() {
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "usage", b"x");
    let failure = push(&image, "127.0.0.1:1/Bad/Name", &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, ExitKind::Usage);
    assert!(
        failure.to_string().contains("invalid image reference"),
        "{failure}"
    );
    let other = format!("127.0.0.1:1/app@sha256:{}", "1".repeat(64));
    let failure = push(&image, &other, &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, ExitKind::Usage);
    assert!(
        failure.to_string().contains(&image.manifest_digest),
        "{failure}"
    );
}

#[tokio::test]
async fn push_by_digest_to_the_real_registry() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistrySetup::default());
    let host = registry.host();
    let image = test_image(work.path(), "bydigest", b"by digest");
    let reference = format!("{host}/digest/app@{}", image.manifest_digest);
    let outcome = push(&image, &reference, &insecure(&host)).await.unwrap();
    assert_eq!(outcome.manifest_digest, image.manifest_digest);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert_eq!(raw.as_bytes(), image.manifest.as_slice());
}

// ---------------------------------------------------------------- rslim build --push

/// The whole pipeline: `rslim build --verify --push` of the nginx example to
/// a real registry, the report's digest equal to skopeo's, then the image
/// pulled back by the engine answers like the fat one.
#[test]
fn build_verifies_then_pushes_and_the_pulled_image_answers_like_the_original() {
    let _daemon = common::exclusive();
    let registry = Registry::start(RegistrySetup::default());
    let host = registry.host();
    let reference = format!("{host}/rslim/nginx:slim");
    let fat = "rslim-examples/nginx:fat";
    let (code, stderr, report) = common::run_build(
        fat,
        "rslim-test/push:slim",
        &[
            "--verify",
            "--push",
            &reference,
            "--insecure-registry",
            &host,
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let report = report.expect("no report");
    let pushed = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "registry")
        .unwrap_or_else(|| panic!("no registry output in {}", report["outputs"]));
    let inspected: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]))
    .unwrap();
    assert_eq!(inspected["Digest"], pushed["digest"], "{inspected}");
    // Docker pulls from 127.0.0.0/8 over plain HTTP without being told.
    common::remove_image("rslim-test/push:slim");
    common::docker_ok(&["pull", "-q", &reference]);
    let paths = ["/", "/no-such-page"];
    assert_eq!(
        common::answers(fat, 80, &paths),
        common::answers(&reference, 80, &paths)
    );
    common::remove_image(&reference);
}
