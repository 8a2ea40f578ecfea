//! Checking an archive against itself: digests are compared as the bytes
//! stream past, and every way an archive can be broken is one error type,
//! [`InvalidArchive`], so the command can exit with its own code.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::error::ExitKind;
use crate::output::digest::to_hex;

/// The archive is malformed, truncated, or does not match its own digests:
/// the input's fault, not rslim's or the host's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidArchive(pub String);

pub fn invalid(message: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(InvalidArchive(message.to_string()))
}

pub fn invalid_io(message: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        InvalidArchive(message.to_string()),
    )
}

/// Whether `error` (or anything it was caused by) says the archive is bad.
pub fn is_invalid_archive(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<InvalidArchive>()
            || cause
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .is_some_and(|inner| inner.is::<InvalidArchive>())
    })
}

/// The exit kind of an error from reading an archive the user gave.
pub fn exit_kind(error: &anyhow::Error) -> ExitKind {
    if is_invalid_archive(error) {
        ExitKind::InvalidArchive
    } else {
        ExitKind::Internal
    }
}

/// The hex of a `sha256:<64 lowercase hex>` digest. Anything else is refused,
/// which also keeps `/` and `..` out of the blob paths made from digests.
pub fn sha256_hex(digest: &str) -> anyhow::Result<&str> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        Some((algorithm, _)) if algorithm != "sha256" => Err(invalid(format!(
            "digest {digest:?} uses {algorithm}; rslim checks sha256 digests only"
        ))),
        _ => Err(invalid(format!("{digest:?} is not a sha256 digest"))),
    }
}

/// Passes bytes through and, at the end of the stream, fails unless they
/// hash to `expected` (hex) and, when given, number `size`. A stream that
/// ends early therefore fails too.
pub struct CheckedReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    size: Option<u64>,
    read: u64,
    what: String,
    checked: bool,
}

impl<R: Read> CheckedReader<R> {
    /// `what` names the bytes in the error ("layer 2 (blobs/sha256/ab…)").
    pub fn new(inner: R, expected_hex: &str, size: Option<u64>, what: String) -> Self {
        CheckedReader {
            inner,
            hasher: Sha256::new(),
            expected: expected_hex.to_string(),
            size,
            read: 0,
            what,
            checked: false,
        }
    }

    fn check(&mut self) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        self.checked = true;
        if let Some(size) = self.size.filter(|&size| size != self.read) {
            return Err(invalid_io(format!(
                "{} is {} bytes, its descriptor says {size}",
                self.what, self.read
            )));
        }
        let actual = to_hex(&std::mem::take(&mut self.hasher).finalize());
        if actual != self.expected {
            return Err(invalid_io(format!(
                "{} does not match its digest: expected sha256:{}, read sha256:{actual}",
                self.what, self.expected
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.check()?;
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.size.is_some_and(|size| self.read > size) {
            return Err(invalid_io(format!(
                "{} is longer than the {} bytes its descriptor says",
                self.what,
                self.size.unwrap_or(0)
            )));
        }
        Ok(n)
    }
}

/// Reads `reader` to its end, so a [`CheckedReader`] below it gets to check.
pub fn drain(reader: &mut dyn Read) -> io::Result<u64> {
    io::copy(reader, &mut io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::digest::sha256_hex as hex_of;

    fn read_all(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    #[test]
    fn passes_bytes_that_match_their_digest() {
        let hex = hex_of(b"layer");
        let mut reader = CheckedReader::new(&b"layer"[..], &hex, Some(5), "blob".into());
        assert_eq!(read_all(&mut reader).unwrap(), b"layer");
    }

    #[test]
    fn refuses_other_bytes_short_streams_and_wrong_sizes() {
        let hex = hex_of(b"layer");
        let mut other = CheckedReader::new(&b"layeR"[..], &hex, None, "blob x".into());
        let error = read_all(&mut other).unwrap_err();
        assert!(error
            .to_string()
            .contains("blob x does not match its digest"));
        assert!(error.get_ref().unwrap().is::<InvalidArchive>());
        let mut short = CheckedReader::new(&b"lay"[..], &hex, Some(5), "blob".into());
        assert!(read_all(&mut short)
            .unwrap_err()
            .to_string()
            .contains("3 bytes"));
        let mut long = CheckedReader::new(&b"layers"[..], &hex, Some(5), "blob".into());
        assert!(read_all(&mut long)
            .unwrap_err()
            .to_string()
            .contains("longer"));
    }

    #[test]
    fn only_sha256_digests_name_blobs() {
        let hex = "a".repeat(64);
        assert_eq!(sha256_hex(&format!("sha256:{hex}")).unwrap(), hex);
        for bad in [
            "sha256:../../etc/passwd".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{hex}"),
            hex.clone(),
        ] {
            let error = sha256_hex(&bad).unwrap_err();
            assert!(is_invalid_archive(&error), "{bad}");
        }
    }

    #[test]
    fn invalid_archive_errors_are_found_through_context_and_io() {
        let direct = invalid("bad").context("reading layer 1");
        assert!(is_invalid_archive(&direct));
        let through_io = anyhow::Error::new(invalid_io("bad")).context("layer 2");
        assert!(is_invalid_archive(&through_io));
        let host = anyhow::Error::new(io::Error::other("disk full"));
        assert_eq!(exit_kind(&host), ExitKind::Internal);
    }
}
