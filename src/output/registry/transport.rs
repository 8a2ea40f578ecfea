//! The HTTP client a push uses: reqwest over rustls (ring), trusting the
//! system roots (or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) plus any CA
//! files the options name, and a watchdog that fails a request when no byte
//! has moved for the idle timeout.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;

use crate::output::oci::BlobSource;

/// Bytes read from disk per body frame.
const READ_BUFFER: usize = 256 * 1024;

/// Builds the client. Fails only on an unreadable or empty CA file.
pub fn build_client(
    ca_files: &[PathBuf],
    connect_timeout: Duration,
    idle_timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as curl and Docker do: the
    // push then fails on the registry's certificate, with that error.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for path in ca_files {
        let certs = read_pem_certificates(path)?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .connect_timeout(connect_timeout)
        .read_timeout(idle_timeout)
        // Registries answer uploads with a Location to follow by hand; a
        // redirect of a PUT or PATCH must not be replayed without its body.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rslim/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client setup: {}", error_chain(&e)))
}

fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// An error and its causes on one line: reqwest's own message hides the
/// interesting part ("invalid peer certificate: UnknownIssuer") in a source.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// When bytes last moved, shared between a request's body and its watchdog.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    pub fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Runs `future` until it ends, or until `idle` has passed without
/// `progress` being touched; `None` then.
pub async fn with_idle_timeout<F: std::future::Future>(
    future: F,
    progress: &Progress,
    idle: Duration,
) -> Option<F::Output> {
    tokio::pin!(future);
    loop {
        let deadline = progress.last() + idle;
        tokio::select! {
            output = &mut future => return Some(output),
            _ = tokio::time::sleep_until(deadline) => {
                if progress.last() + idle <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// `len` bytes of a blob from `offset`, as a request body that is read
/// while it is sent (a file is never loaded whole) and touches `progress`
/// at each frame.
pub fn blob_body(
    source: &BlobSource,
    offset: u64,
    len: u64,
    progress: Arc<Progress>,
) -> reqwest::Body {
    let frames: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> = match source
    {
        BlobSource::Memory(bytes) => {
            let bytes = Bytes::copy_from_slice(&bytes[offset as usize..(offset + len) as usize]);
            let pieces: Vec<std::io::Result<Bytes>> = (0..bytes.len())
                .step_by(READ_BUFFER)
                .map(|at| Ok(bytes.slice(at..(at + READ_BUFFER).min(bytes.len()))))
                .collect();
            Box::pin(stream::iter(pieces))
        }
        BlobSource::File(path) => Box::pin(file_frames(path.clone(), offset, len)),
    };
    reqwest::Body::wrap_stream(frames.inspect(move |_| progress.touch()))
}

fn file_frames(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    stream::try_unfold((None::<tokio::fs::File>, len), move |(file, remaining)| {
        let path = path.clone();
        async move {
            if remaining == 0 {
                return Ok(None);
            }
            let mut file = match file {
                Some(file) => file,
                None => {
                    let mut file = tokio::fs::File::open(&path).await?;
                    file.seek(std::io::SeekFrom::Start(offset)).await?;
                    file
                }
            };
            let mut buffer = vec![0; READ_BUFFER.min(remaining as usize)];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} ended before the blob's size", path.display()),
                ));
            }
            buffer.truncate(read);
            Ok(Some((
                Bytes::from(buffer),
                (Some(file), remaining - read as u64),
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    async fn collect(body: reqwest::Body) -> Vec<u8> {
        use http_body_util::BodyExt;
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn file_bodies_stream_the_requested_region() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..READ_BUFFER * 2 + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        file.write_all(&data).unwrap();
        let source = BlobSource::File(file.path().to_path_buf());
        let progress = Progress::new();
        let region = collect(blob_body(
            &source,
            7,
            (READ_BUFFER + 50) as u64,
            progress.clone(),
        ))
        .await;
        assert_eq!(region, &data[7..7 + READ_BUFFER + 50]);
        let memory = BlobSource::Memory(data.clone());
        assert_eq!(
            collect(blob_body(&memory, 7, (READ_BUFFER + 50) as u64, progress)).await,
            region
        );
    }

    #[tokio::test]
    async fn a_short_file_fails_the_body_instead_of_sending_less() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"short").unwrap();
        let source = BlobSource::File(file.path().to_path_buf());
        use http_body_util::BodyExt;
        let result = blob_body(&source, 0, 10, Progress::new()).collect().await;
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn the_watchdog_fires_only_without_progress() {
        let idle = Duration::from_millis(300);
        let progress = Progress::new();
        let toucher = progress.clone();
        let busy = async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                toucher.touch();
            }
            "done"
        };
        // A second of work, but never 300 ms without progress.
        assert_eq!(with_idle_timeout(busy, &progress, idle).await, Some("done"));
        let stalled = tokio::time::sleep(Duration::from_secs(3600));
        let started = Instant::now();
        assert_eq!(
            with_idle_timeout(stalled, &Progress::new(), idle).await,
            None
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn ca_files_must_hold_certificates() {
        let empty = tempfile::NamedTempFile::new().unwrap();
        let error = build_client(
            &[empty.path().to_path_buf()],
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");
        let error = build_client(
            &[PathBuf::from("/nonexistent/ca.pem")],
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
