//! Pushes an [`OciImage`] to a registry with the OCI distribution API, with
//! credentials found as the Docker CLI finds them. See docs/output.md,
//! "Pushing to a registry".
//!
//! ```no_run
//! # async fn f(image: &rslim::output::oci::OciImage) -> rslim::error::Result<()> {
//! use rslim::output::registry::{push, PushOptions};
//! let options = PushOptions { insecure_registries: vec!["127.0.0.1:5000".into()], ..Default::default() };
//! let outcome = push(image, "127.0.0.1:5000/app:slim", &options).await?;
//! println!("{} {}", outcome.reference, outcome.manifest_digest);
//! # Ok(()) }
//! ```

pub mod auth;
pub mod reference;
mod session;
mod transport;
mod upload;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::config::{CredentialSource, Credentials};
pub use reference::{Reference, ReferenceError};

use crate::error::{ExitKind, Failure, Result};
use crate::output::oci::{OciImage, MANIFEST_MEDIA_TYPE};
use session::Session;
use upload::BlobResult;

/// Blobs larger than this are uploaded in `PATCH` chunks of this size.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// How a push reaches the registry and proves who it is.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Registries (`host[:port]`, as in the reference) spoken to over plain
    /// HTTP. Every other registry is HTTPS only, with no fallback.
    pub insecure_registries: Vec<String>,
    /// PEM files of CAs trusted besides the system roots (or `SSL_CERT_FILE`).
    pub ca_files: Vec<PathBuf>,
    /// The Docker config directory; `None`: `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
    /// The PATH searched for `docker-credential-*` helpers; `None`: this process's PATH.
    pub helper_path: Option<OsString>,
    /// Repositories on the same registry that may hold the blobs already:
    /// each missing blob is mounted from them before it is uploaded.
    pub mount_from: Vec<String>,
    /// Blobs larger than this go in chunks of this size.
    pub chunk_size: u64,
    /// A request fails when no byte has moved for this long.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            insecure_registries: Vec::new(),
            ca_files: Vec::new(),
            docker_config_dir: None,
            helper_path: None,
            mount_from: Vec::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The normalized reference pushed, e.g. `docker.io/library/app:1.0`.
    pub reference: String,
    /// The digest the registry reported for the manifest (equal to
    /// [`OciImage::manifest_digest`], or the push fails).
    pub manifest_digest: String,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_existing: usize,
    /// Blob bytes sent (not counting the manifest).
    pub bytes_uploaded: u64,
}

/// A push that failed: which registry, at which step, with which HTTP
/// status if the registry answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("push to {registry} failed: {step}: {}{detail}", status_text(*.status))]
pub struct PushError {
    pub registry: String,
    pub step: String,
    pub status: Option<u16>,
    pub detail: String,
}

fn status_text(status: Option<u16>) -> String {
    match status.and_then(|s| reqwest::StatusCode::from_u16(s).ok()) {
        Some(status) => format!(
            "HTTP {} {}: ",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        None => String::new(),
    }
}

/// Pushes `image` to `reference`. A reference that does not parse, or names
/// a digest other than the image's, is a usage error; anything that fails on
/// the way to the registry is [`ExitKind::PushFailed`] with a [`PushError`].
pub async fn push(image: &OciImage, reference: &str, options: &PushOptions) -> Result<PushOutcome> {
    let reference = Reference::parse(reference).map_err(|e| Failure::new(ExitKind::Usage, e))?;
    if let Some(digest) = &reference.digest {
        if *digest != image.manifest_digest {
            return Err(Failure::msg(
                ExitKind::Usage,
                format!(
                    "cannot push to {reference}: the image's manifest digest is {}",
                    image.manifest_digest
                ),
            ));
        }
    }
    push_to(image, &reference, options)
        .await
        .map_err(|e| Failure::new(ExitKind::PushFailed, e))
}

async fn push_to(
    image: &OciImage,
    reference: &Reference,
    options: &PushOptions,
) -> std::result::Result<PushOutcome, PushError> {
    let registry = reference.registry.clone();
    let fail = |step: &str, detail: String| PushError {
        registry: registry.clone(),
        step: step.to_string(),
        status: None,
        detail,
    };
    let host = reference.api_host();
    let scheme = if options
        .insecure_registries
        .iter()
        .any(|r| r == host || *r == reference.registry)
    {
        "http"
    } else {
        "https"
    };
    let base = reqwest::Url::parse(&format!("{scheme}://{host}/"))
        .map_err(|e| fail("connect", format!("'{host}' is not a host name: {e}")))?;
    let client = transport::build_client(
        &options.ca_files,
        options.connect_timeout,
        options.idle_timeout,
    )
    .map_err(|e| fail("set up the connection", e))?;

    let config_dir = options.docker_config_dir.clone().or_else(|| {
        auth::config::config_dir(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    });
    let key = reference.credential_key().to_string();
    let helper_path = options.helper_path.clone();
    let (credentials, source) = tokio::task::spawn_blocking(move || {
        auth::config::credentials_for(config_dir.as_deref(), &key, helper_path.as_deref())
    })
    .await
    .map_err(|e| fail("read credentials", e.to_string()))?
    .map_err(|e| fail("read credentials", e.to_string()))?;

    let repository = reference.repository.clone();
    let mount_from: Vec<String> = options
        .mount_from
        .iter()
        .filter(|source| **source != repository)
        .cloned()
        .collect();
    let mut scopes = vec![format!("repository:{repository}:pull,push")];
    scopes.extend(
        mount_from
            .iter()
            .map(|source| format!("repository:{source}:pull")),
    );
    let mut session = Session {
        client,
        registry: registry.clone(),
        base,
        auth: auth::Auth::new(credentials, source, scopes),
        idle: options.idle_timeout,
    };

    check_api(&mut session).await?;
    let mut outcome = PushOutcome {
        reference: reference.to_string(),
        manifest_digest: String::new(),
        blobs_uploaded: 0,
        blobs_mounted: 0,
        blobs_existing: 0,
        bytes_uploaded: 0,
    };
    let chunk_size = options.chunk_size.max(1);
    for blob in image.layers.iter().chain(std::iter::once(&image.config)) {
        match upload::push_blob(&mut session, &repository, blob, &mount_from, chunk_size).await? {
            BlobResult::Existing => outcome.blobs_existing += 1,
            BlobResult::Mounted => outcome.blobs_mounted += 1,
            BlobResult::Uploaded => {
                outcome.blobs_uploaded += 1;
                outcome.bytes_uploaded += blob.size;
            }
        }
    }
    let media_type = manifest_media_type(&image.manifest);
    let reported = upload::push_manifest(
        &mut session,
        &repository,
        reference.manifest_reference(),
        &image.manifest,
        &media_type,
        &image.manifest_digest,
    )
    .await?;
    outcome.manifest_digest = reported;
    Ok(outcome)
}

/// `GET /v2/`: the registry speaks the API, and says how to authenticate.
async fn check_api(session: &mut Session) -> std::result::Result<(), PushError> {
    let step = "check the registry API (GET /v2/)";
    let url = session.url("/v2/");
    session
        .send_expecting(
            step,
            |c| c.get(url.clone()),
            None,
            &[reqwest::StatusCode::OK],
        )
        .await
        .map(drop)
}

/// The manifest's own `mediaType`, else the OCI manifest type.
fn manifest_media_type(manifest: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|m| m.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_registry_step_and_status() {
        let error = PushError {
            registry: "r.example:5000".into(),
            step: "upload blob sha256:ab".into(),
            status: Some(401),
            detail: "UNAUTHORIZED: authentication required".into(),
        };
        assert_eq!(
            error.to_string(),
            "push to r.example:5000 failed: upload blob sha256:ab: HTTP 401 Unauthorized: \
             UNAUTHORIZED: authentication required"
        );
        let error = PushError {
            status: None,
            detail: "cannot connect".into(),
            ..error
        };
        assert_eq!(
            error.to_string(),
            "push to r.example:5000 failed: upload blob sha256:ab: cannot connect"
        );
    }

    #[test]
    fn manifest_media_type_comes_from_the_manifest() {
        assert_eq!(
            manifest_media_type(br#"{"mediaType":"application/x-other"}"#),
            "application/x-other"
        );
        assert_eq!(manifest_media_type(b"{}"), MANIFEST_MEDIA_TYPE);
    }
}
