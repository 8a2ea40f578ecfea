//! Images rslim puts into the engine for a while: an input archive loaded
//! for profiling, a slim image loaded only to be verified. Each is loaded
//! under a temporary tag of its own (`rslim-tmp/<purpose>-<owner token>-<nonce>`,
//! the token naming the rslim process, see [`crate::leftovers::owner`]),
//! recorded before the load is sent, and untagged again on every exit path
//! (Ctrl-C included), like [`super::CreatedContainers`]. Untagging the last
//! tag deletes the image and the layers only it used; an image the engine
//! already had is never tagged, so it stays as it was.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::query_parameters::{ImportImageOptionsBuilder, RemoveImageOptionsBuilder};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{api_failure, short_error, status, Docker};
use crate::error::{ExitKind, FailWith, Failure, Result};
use crate::image::Platform;
use crate::leftovers::owner::{Claim, Owner};

/// Repository of every temporary tag; `docker images rslim-tmp/*` finds leftovers.
pub const TEMP_REPOSITORY: &str = "rslim-tmp";
/// How long removal waits for a load that was cut short after all its bytes went out.
const LATE_LOAD_WAIT: Duration = Duration::from_secs(5);
/// Bytes per chunk of a load stream.
const CHUNK: usize = 256 << 10;

impl Docker {
    /// Whether the engine has `reference` (a name or an id), and its tags.
    pub async fn image_tags(&self, reference: &str) -> Result<Option<Vec<String>>> {
        match self.api.inspect_image(reference).await {
            Ok(inspect) => Ok(Some(inspect.repo_tags.unwrap_or_default())),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(api_failure(format!("cannot inspect image {reference}"), e)),
        }
    }

    /// `docker load` of a tar stream.
    pub async fn load_stream(
        &self,
        chunks: impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static,
    ) -> Result<()> {
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut progress = self
            .api
            .import_image(options, bollard::body_try_stream(chunks), None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| api_failure("the engine refused to load the image".into(), e))?;
        }
        Ok(())
    }

    /// Loads the docker-save tar that `write` produces on a blocking thread,
    /// streamed: nothing is spooled. An error of `write` wins over the
    /// engine's, whose view of a stream cut short says less.
    pub async fn load_written<F>(&self, write: F) -> Result<()>
    where
        F: FnOnce(&mut dyn Write) -> Result<()> + Send + 'static,
    {
        let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        let producer = tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                sender: sender.clone(),
                buffer: Vec::with_capacity(CHUNK),
            };
            let written = write(&mut out).and_then(|()| out.flush().fail_with(ExitKind::Internal));
            if let Err(e) = &written {
                // Ending the body with an error makes the engine drop the load.
                drop(sender.blocking_send(Err(io::Error::other(e.to_string()))));
            }
            written
        });
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        let loaded = self.load_stream(stream).await;
        producer.await.fail_with(ExitKind::Internal)??;
        loaded
    }

    /// Removes the tag `reference`; the engine deletes the image with it when
    /// it was the image's last name. `false` when there was no such tag.
    pub async fn untag_image(&self, reference: &str) -> Result<bool> {
        let options = RemoveImageOptionsBuilder::default()
            .force(false)
            .noprune(false)
            .build();
        match self.api.remove_image(reference, Some(options), None).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(Failure::msg(
                ExitKind::Internal,
                format!("cannot remove {reference}: {}", short_error(&e)),
            )),
        }
    }

    /// The engine's platform (`GET /version`), which picks the image of a
    /// multi-platform index.
    pub async fn engine_platform(&self) -> Result<Platform> {
        let version = self
            .api
            .version()
            .await
            .map_err(|e| api_failure("cannot ask the engine for its version".into(), e))?;
        let os = version.os.unwrap_or_else(|| "linux".into());
        let arch = version
            .arch
            .unwrap_or_else(|| Platform::host().architecture);
        Ok(Platform::new(&os, &arch, None))
    }
}

#[derive(Debug)]
struct Recorded {
    tag: String,
    /// Every byte of the load went out, but its answer was not seen: the
    /// engine may still be creating the image.
    maybe_late: Arc<AtomicBool>,
}

/// The temporary tags one rslim run puts on images.
#[derive(Clone, Default)]
pub struct CreatedImages(Arc<Mutex<Vec<Recorded>>>);

impl CreatedImages {
    fn tags(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A tag no other run uses: `rslim-tmp/<purpose>-<token>-<nonce>:latest`,
    /// where the token names this process ([`Owner::token`]), so that a
    /// later run can remove the tag if this one is killed.
    pub fn temp_tag(purpose: &str) -> String {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let count = COUNT.fetch_add(1, Ordering::Relaxed);
        format!(
            "{TEMP_REPOSITORY}/{purpose}-{}-{count}x{nanos:08x}:latest",
            Owner::current().token()
        )
    }

    /// The owner a temporary tag names (`None` for a tag of an older rslim).
    pub fn tag_claim(tag: &str) -> Option<Claim> {
        let tag = tag.strip_prefix("localhost/").unwrap_or(tag);
        let name = tag.strip_prefix(TEMP_REPOSITORY)?.strip_prefix('/')?;
        let name = name.split_once(':').map_or(name, |(name, _tag)| name);
        let (_purpose, rest) = name.split_once('-')?;
        let (token, _nonce) = rest.rsplit_once('-')?;
        Claim::from_token(token)
    }

    /// Whether an image's tags make it one rslim runs only hold for a while:
    /// untagging ours then leaves the engine as it was before any of them.
    pub fn only_temporary(tags: &[String]) -> bool {
        let prefix = format!("{TEMP_REPOSITORY}/");
        // Podman keeps short names as `localhost/<name>`.
        let ours = |tag: &String| {
            tag.strip_prefix("localhost/")
                .unwrap_or(tag)
                .starts_with(&prefix)
        };
        !tags.is_empty() && tags.iter().all(ours)
    }

    /// Tags an image the engine has (loaded by another rslim run) with a
    /// temporary tag of this run.
    pub async fn tag(&self, docker: &Docker, image: &str, tag: &str) -> Result<()> {
        self.tags().push(Recorded {
            tag: tag.to_string(),
            maybe_late: Arc::new(AtomicBool::new(false)),
        });
        docker.tag_image(image, tag).await
    }

    /// Loads the docker-save tar that `write` produces (on a blocking
    /// thread, streamed: nothing is spooled) under `tag`, which is recorded
    /// before the first byte is sent. An error of `write` wins over the
    /// engine's, whose view of a stream cut short says less.
    pub async fn load<F>(&self, docker: &Docker, tag: &str, write: F) -> Result<()>
    where
        F: FnOnce(&mut dyn Write) -> Result<()> + Send + 'static,
    {
        let maybe_late = Arc::new(AtomicBool::new(false));
        self.tags().push(Recorded {
            tag: tag.to_string(),
            maybe_late: maybe_late.clone(),
        });
        docker
            .load_written(move |out| {
                write(out)?;
                maybe_late.store(true, Ordering::Relaxed);
                Ok(())
            })
            .await?;
        if let Some(recorded) = self.tags().iter().find(|r| r.tag == tag) {
            recorded.maybe_late.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes every temporary tag of this run (images first lose their
    /// containers: call this after [`super::CreatedContainers::remove_all`]).
    pub async fn remove_all(&self, docker: &Docker) {
        let recorded = std::mem::take(&mut *self.tags());
        for Recorded { tag, maybe_late } in recorded {
            let deadline = Instant::now() + LATE_LOAD_WAIT;
            loop {
                match docker.untag_image(&tag).await {
                    Ok(false)
                        if maybe_late.load(Ordering::Relaxed) && Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        crate::report::progress::warn(format_args!(
                            "{e}; remove it with `docker rmi {tag}`"
                        ));
                        break;
                    }
                }
            }
        }
    }
}

/// A `Write` that hands full chunks to the async side of a load.
struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the engine stopped reading the load",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let n = buf.len().min(room);
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK {
            self.send_buffer()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leftovers::owner::Status;

    #[test]
    fn temporary_tags_are_unique_and_recognised() {
        let (a, b) = (
            CreatedImages::temp_tag("input"),
            CreatedImages::temp_tag("input"),
        );
        assert!(a.starts_with("rslim-tmp/input-"), "{a}");
        assert_ne!(a, b);
        assert!(CreatedImages::only_temporary(&[
            a.clone(),
            format!("localhost/{b}")
        ]));
        for tag in [a.clone(), format!("localhost/{b}")] {
            let claim = CreatedImages::tag_claim(&tag).unwrap();
            assert_eq!(Owner::current().status(&claim), Status::Alive, "{tag}");
        }
        // An older rslim's tag names no owner.
        assert_eq!(
            CreatedImages::tag_claim("rslim-tmp/input-4242-0-1a2b3c4d:latest"),
            None
        );
        assert!(!CreatedImages::only_temporary(&[a, "app:1".into()]));
        assert!(!CreatedImages::only_temporary(&[]));
    }
}
