//! A container's stdin and stdout as plain blocking `Read` and `Write`, for
//! code that runs on blocking threads (the walked tree is read by resolution
//! and the layer writer, both synchronous). Two small tasks move the bytes;
//! the channel between them holds a few chunks at most, so a fast container
//! waits for a slow reader instead of filling memory.

use std::io::{self, Read, Write};

use bollard::container::LogOutput;
use bollard::query_parameters::AttachContainerOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{api_failure, Docker};
use crate::error::Result;

/// Chunks of stdout in flight between the engine and the reader (each is
/// one frame of the engine's stream, at most a few tens of KiB).
const CHUNKS_IN_FLIGHT: usize = 16;

/// The container's stdout. Blocking: never read it on an async worker thread.
pub struct AttachedReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    pump: tokio::task::JoinHandle<()>,
}

/// The container's stdin; bytes go out on [`Write::flush`].
pub struct AttachedWriter {
    pending: Vec<u8>,
    /// To the task that writes to the engine; it closes stdin and ends
    /// once this side is dropped.
    out: mpsc::UnboundedSender<Vec<u8>>,
}

impl Docker {
    /// Attaches to the stdin and stdout of a created container (before it
    /// starts, so nothing it writes is lost). Closing the writer closes its stdin.
    pub async fn attach_stdio(&self, container: &str) -> Result<(AttachedReader, AttachedWriter)> {
        let options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .build();
        let attached = self
            .api
            .attach_container(container, Some(options))
            .await
            .map_err(|e| api_failure("cannot attach to the walker container".into(), e))?;
        let (chunks_in, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let mut output = attached.output;
        let reader_pump = tokio::spawn(async move {
            while let Some(item) = output.next().await {
                let chunk = match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        Ok(message)
                    }
                    Ok(_) => continue,
                    Err(e) => Err(io::Error::other(e)),
                };
                let failed = chunk.is_err();
                if chunks_in.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        let (out, mut requests) = mpsc::unbounded_channel::<Vec<u8>>();
        let mut input = attached.input;
        tokio::spawn(async move {
            while let Some(bytes) = requests.recv().await {
                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                    return;
                }
            }
            let _ = input.shutdown().await;
        });
        Ok((
            AttachedReader {
                chunks,
                current: Bytes::new(),
                pump: reader_pump,
            },
            AttachedWriter {
                pending: Vec::new(),
                out,
            },
        ))
    }
}

impl Read for AttachedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Drop for AttachedReader {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl Write for AttachedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.pending);
        self.out.send(bytes).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the container's stdin is closed")
        })
    }
}
