//! Blobs and the manifest, over the OCI distribution API: `HEAD` to skip
//! what the registry has, a cross-repository mount when a source repository
//! is known, else an upload, monolithic (`POST`, then `PUT ?digest=`) or in
//! chunks (`PATCH` with `Content-Range`, then `PUT ?digest=`).

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use super::session::{content_digest, Session};
use super::transport::{blob_body, Progress};
use super::PushError;
use crate::output::oci::{Blob, BlobSource};

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobResult {
    Existing,
    Mounted,
    Uploaded,
}

const OCTET_STREAM: &str = "application/octet-stream";

pub async fn push_blob(
    session: &mut Session,
    repository: &str,
    blob: &Blob,
    mount_from: &[String],
    chunk_size: u64,
) -> Result<BlobResult, PushError> {
    check_source(session, blob)?;
    if blob_exists(session, repository, blob).await? {
        return Ok(BlobResult::Existing);
    }
    let mut upload = None;
    let sources: Vec<&String> = mount_from.iter().filter(|s| *s != repository).collect();
    for (i, source) in sources.iter().enumerate() {
        match mount(session, repository, blob, source).await? {
            Mounted::Yes => return Ok(BlobResult::Mounted),
            Mounted::No(location) if i + 1 == sources.len() => upload = Some(location),
            // The registry opened an upload instead; drop it and try the next source.
            Mounted::No(location) => cancel(session, location).await,
        }
    }
    let location = match upload {
        Some(location) => location,
        None => start_upload(session, repository, blob).await?,
    };
    if blob.size > chunk_size {
        upload_chunked(session, blob, location, chunk_size).await?;
    } else {
        upload_monolithic(session, blob, location).await?;
    }
    Ok(BlobResult::Uploaded)
}

/// A file blob must be exactly as long as the manifest says, or the
/// registry would store a blob nobody can pull.
fn check_source(session: &Session, blob: &Blob) -> Result<(), PushError> {
    let actual = match &blob.source {
        BlobSource::Memory(bytes) => bytes.len() as u64,
        BlobSource::File(path) => std::fs::metadata(path)
            .map_err(|e| {
                session.error(
                    &format!("read blob {}", blob.digest),
                    None,
                    format!("{}: {e}", path.display()),
                )
            })?
            .len(),
    };
    if actual != blob.size {
        return Err(session.error(
            &format!("read blob {}", blob.digest),
            None,
            format!(
                "its source holds {actual} bytes, the manifest says {}",
                blob.size
            ),
        ));
    }
    Ok(())
}

async fn blob_exists(
    session: &mut Session,
    repository: &str,
    blob: &Blob,
) -> Result<bool, PushError> {
    let step = format!("check blob {}", blob.digest);
    let url = session.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
    let response = session.send(&step, |c| c.head(url.clone()), None).await?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(false);
    }
    let response = session.expect(&step, response, &[StatusCode::OK]).await?;
    verify_digest(session, &step, &response, &blob.digest)?;
    Ok(true)
}

enum Mounted {
    Yes,
    /// Not mounted; the registry opened an upload session here instead.
    No(Url),
}

async fn mount(
    session: &mut Session,
    repository: &str,
    blob: &Blob,
    source: &str,
) -> Result<Mounted, PushError> {
    let step = format!("mount blob {} from {source}", blob.digest);
    let mut url = session.url(&format!("/v2/{repository}/blobs/uploads/"));
    url.query_pairs_mut()
        .append_pair("mount", &blob.digest)
        .append_pair("from", source);
    let response = session
        .send_expecting(
            &step,
            |c| c.post(url.clone()).header(CONTENT_LENGTH, 0),
            None,
            &[StatusCode::CREATED, StatusCode::ACCEPTED],
        )
        .await?;
    if response.status() == StatusCode::CREATED {
        verify_digest(session, &step, &response, &blob.digest)?;
        return Ok(Mounted::Yes);
    }
    Ok(Mounted::No(session.location(&step, &response)?))
}

async fn start_upload(
    session: &mut Session,
    repository: &str,
    blob: &Blob,
) -> Result<Url, PushError> {
    let step = format!("start upload of blob {}", blob.digest);
    let url = session.url(&format!("/v2/{repository}/blobs/uploads/"));
    let response = session
        .send_expecting(
            &step,
            |c| c.post(url.clone()).header(CONTENT_LENGTH, 0),
            None,
            &[StatusCode::ACCEPTED],
        )
        .await?;
    session.location(&step, &response)
}

/// Best effort: an abandoned session is also purged by the registry later.
async fn cancel(session: &mut Session, location: Url) {
    let _ = session
        .send("cancel upload", |c| c.delete(location.clone()), None)
        .await;
}

async fn upload_monolithic(
    session: &mut Session,
    blob: &Blob,
    location: Url,
) -> Result<(), PushError> {
    let step = format!("upload blob {} ({} bytes)", blob.digest, blob.size);
    let url = with_digest(location, &blob.digest);
    let progress = Progress::new();
    let response = session
        .send_expecting(
            &step,
            |c| {
                c.put(url.clone())
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_LENGTH, blob.size)
                    .body(blob_body(&blob.source, 0, blob.size, progress.clone()))
            },
            Some(progress.clone()),
            &[StatusCode::CREATED],
        )
        .await?;
    verify_digest(session, &step, &response, &blob.digest)
}

async fn upload_chunked(
    session: &mut Session,
    blob: &Blob,
    mut location: Url,
    chunk_size: u64,
) -> Result<(), PushError> {
    let mut offset = 0;
    while offset < blob.size {
        let len = chunk_size.min(blob.size - offset);
        let last = offset + len - 1;
        let step = format!(
            "upload blob {} bytes {offset}-{last} of {}",
            blob.digest, blob.size
        );
        let progress = Progress::new();
        let url = location.clone();
        let response = session
            .send_expecting(
                &step,
                |c| {
                    c.patch(url.clone())
                        .header(CONTENT_TYPE, OCTET_STREAM)
                        .header(CONTENT_LENGTH, len)
                        .header("Content-Range", format!("{offset}-{last}"))
                        .body(blob_body(&blob.source, offset, len, progress.clone()))
                },
                Some(progress.clone()),
                &[StatusCode::ACCEPTED],
            )
            .await?;
        if let Some(end) = range_end(&response) {
            if end != last {
                return Err(session.error(
                    &step,
                    Some(response.status()),
                    format!("the registry holds bytes 0-{end}, expected 0-{last}"),
                ));
            }
        }
        location = session.location(&step, &response)?;
        offset += len;
    }
    let step = format!("finish upload of blob {}", blob.digest);
    let url = with_digest(location, &blob.digest);
    let response = session
        .send_expecting(
            &step,
            |c| c.put(url.clone()).header(CONTENT_LENGTH, 0),
            None,
            &[StatusCode::CREATED],
        )
        .await?;
    verify_digest(session, &step, &response, &blob.digest)
}

/// `PUT`s the manifest; returns the digest the registry reports, or ours
/// when it reports none.
pub async fn push_manifest(
    session: &mut Session,
    repository: &str,
    reference: &str,
    manifest: &[u8],
    media_type: &str,
    digest: &str,
) -> Result<String, PushError> {
    let step = format!("put manifest {repository}:{reference}");
    let url = session.url(&format!("/v2/{repository}/manifests/{reference}"));
    let response = session
        .send_expecting(
            &step,
            |c| {
                c.put(url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(manifest.to_vec())
            },
            None,
            &[StatusCode::CREATED],
        )
        .await?;
    verify_digest(session, &step, &response, digest)?;
    Ok(content_digest(&response).unwrap_or_else(|| digest.to_string()))
}

fn verify_digest(
    session: &Session,
    step: &str,
    response: &reqwest::Response,
    expected: &str,
) -> Result<(), PushError> {
    match content_digest(response) {
        Some(reported) if reported != expected => Err(session.error(
            step,
            Some(response.status()),
            format!("the registry reports digest {reported}, expected {expected}"),
        )),
        _ => Ok(()),
    }
}

fn with_digest(mut location: Url, digest: &str) -> Url {
    location.query_pairs_mut().append_pair("digest", digest);
    location
}

/// The end of `Range: 0-<end>` (some registries write `bytes=0-<end>`).
fn range_end(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get("range")?.to_str().ok()?;
    let value = value.trim().trim_start_matches("bytes=");
    value.split_once('-')?.1.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_added_to_the_upload_location_query() {
        let url = Url::parse("http://r:5000/v2/a/blobs/uploads/u1?_state=abc%3D").unwrap();
        assert_eq!(
            with_digest(url, "sha256:00").as_str(),
            "http://r:5000/v2/a/blobs/uploads/u1?_state=abc%3D&digest=sha256%3A00"
        );
        let url = Url::parse("http://r/v2/a/blobs/uploads/u2").unwrap();
        assert_eq!(
            with_digest(url, "sha256:00").as_str(),
            "http://r/v2/a/blobs/uploads/u2?digest=sha256%3A00"
        );
    }
}
