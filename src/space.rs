//! Room in the temp directory. rslim spools the image's files (`docker
//! export`, `docker save`), decompressed archive layers and the slim image
//! in `$TMPDIR` (`std::env::temp_dir()`), in anonymous files or a private
//! directory. When that fills up, the error says which directory, how much
//! is free and about how much was needed, and that `TMPDIR` moves it,
//! instead of a bare "No space left on device".

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{ExitKind, Failure, Result};
use crate::report::human_bytes;

/// Where rslim's temp data goes.
pub fn temp_dir() -> PathBuf {
    std::env::temp_dir()
}

/// Bytes an unprivileged write can still use in the filesystem of `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    Some((stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64))
}

/// Whether `error` (or anything it was caused by) is a full disk or quota.
pub fn is_full(error: &anyhow::Error) -> bool {
    let full = |e: &io::Error| {
        e.kind() == io::ErrorKind::StorageFull
            || e.kind() == io::ErrorKind::QuotaExceeded
            || e.raw_os_error() == Some(nix::errno::Errno::ENOSPC as i32)
    };
    error.chain().any(|cause| {
        let Some(io) = cause.downcast_ref::<io::Error>() else {
            return false;
        };
        let wrapped = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<io::Error>());
        full(io) || wrapped.is_some_and(full)
    })
}

/// Fails when the temp directory has less room than `needed` bytes for
/// `what`: before the work starts, rather than when the disk is full.
pub fn check(what: &str, needed: u64) -> Result<()> {
    let dir = temp_dir();
    match free_bytes(&dir) {
        Some(free) if free < needed => Err(Failure::msg(
            ExitKind::Internal,
            too_little(&dir, what, Some(needed), free),
        )),
        _ => Ok(()),
    }
}

/// A failure from writing temp data, told as a full temp directory when it
/// is one; any other failure is returned as it is.
pub fn explain(failure: Failure, what: &str, needed: Option<u64>) -> Failure {
    if failure.kind != ExitKind::Internal || !is_full(&failure.error) {
        return failure;
    }
    let dir = temp_dir();
    let free = free_bytes(&dir).unwrap_or(0);
    let message = too_little(&dir, what, needed, free);
    Failure::new(ExitKind::Internal, failure.error.context(message))
}

fn too_little(dir: &Path, what: &str, needed: Option<u64>, free: u64) -> String {
    let needed = match needed {
        Some(bytes) => format!("about {} needed", human_bytes(bytes)),
        None => "more needed".to_string(),
    };
    format!(
        "the temp directory {} has too little room for {what} ({} free, {needed}); \
         point TMPDIR at a directory with more space",
        dir.display(),
        human_bytes(free)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_with_the_directory_and_the_room_needed() {
        let full = io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32);
        let failure = Failure::new(
            ExitKind::Internal,
            anyhow::Error::new(full).context("cannot write a decompressed layer"),
        );
        let told = explain(failure, "the image's files", Some(95_100_000));
        let message = told.to_string();
        assert!(
            message.contains(&temp_dir().display().to_string()),
            "{message}"
        );
        assert!(message.contains("about 95.1 MB needed"), "{message}");
        assert!(message.contains("TMPDIR"), "{message}");
        assert!(
            message.contains("cannot write a decompressed layer"),
            "{message}"
        );

        let other = Failure::msg(ExitKind::Internal, "something else");
        assert_eq!(explain(other, "x", None).to_string(), "something else");
        let output = Failure::new(
            ExitKind::OutputFailed,
            io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32),
        );
        assert_eq!(explain(output, "x", None).kind, ExitKind::OutputFailed);
    }

    #[test]
    fn the_room_is_checked_before_the_work() {
        assert!(check("nothing", 0).is_ok());
        let failure = check("the whole world", u64::MAX).unwrap_err();
        assert!(failure
            .to_string()
            .contains("has too little room for the whole world"));
    }
}
