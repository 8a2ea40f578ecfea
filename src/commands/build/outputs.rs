//! `--output`: where the slim image goes. Targets are checked before
//! anything runs (a missing directory fails in a second, not after the
//! profiling), and each file or directory is written under a temporary name
//! beside its target and renamed into place, so an interrupted or failed
//! write never leaves a partial file at the target.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

use super::write::SlimFiles;
use crate::error::{ExitKind, Failure, Result};
use crate::image::transport::OutputTarget;
use crate::output::{epoch, write_docker_archive, write_oci_archive, write_oci_dir, LayoutNames};
use crate::report::OutputRecord;

/// The outputs of one build; `docker` when none was named.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub targets: Vec<OutputTarget>,
}

impl Outputs {
    pub fn new(targets: &[OutputTarget]) -> Result<Outputs> {
        let targets = match targets {
            [] => vec![OutputTarget::Engine],
            given => given.to_vec(),
        };
        for (index, target) in targets.iter().enumerate() {
            let same = |other: &OutputTarget| match (other.path(), target.path()) {
                (Some(a), Some(b)) => a == b,
                (None, None) => true,
                _ => false,
            };
            if targets[..index].iter().any(same) {
                return Err(Failure::msg(
                    ExitKind::Usage,
                    format!("--output {target} is given twice"),
                ));
            }
        }
        Ok(Outputs { targets })
    }

    /// Whether the slim image is loaded into the engine under its tags.
    pub fn to_engine(&self) -> bool {
        self.targets.contains(&OutputTarget::Engine)
    }

    /// Fails (exit 12) when a target cannot be written: a missing or
    /// unwritable directory, a directory where a file goes, or a directory
    /// that is not an OCI layout where a layout goes. Temp files that killed
    /// builds left beside a target are removed.
    pub fn check(&self) -> Result<()> {
        for target in &self.targets {
            check_target(target).map_err(|why| {
                Failure::msg(ExitKind::OutputFailed, format!("--output {target}: {why}"))
            })?;
            if let Some(path) = target.path() {
                crate::leftovers::temp::sweep_beside(path);
            }
        }
        Ok(())
    }
}

/// Fails (exit 2) when `--report FILE` could not be written at the end: a
/// missing or unwritable directory, a directory at FILE, a FILE that is
/// there and not writable. Checked before anything runs, like the outputs.
pub fn check_report(path: &Path) -> Result<()> {
    let why = check_directory_of(path).and_then(|()| match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(format!("{} is a directory", path.display())),
        Ok(meta) if meta.file_type().is_symlink() || meta.is_file() => {
            nix::unistd::access(path, nix::unistd::AccessFlags::W_OK)
                .map_err(|e| format!("{} is not writable: {e}", path.display()))
        }
        Ok(_) => Err(format!("{} is not a regular file", path.display())),
        Err(_) => Ok(()),
    });
    why.map_err(|why| {
        Failure::msg(
            ExitKind::Usage,
            format!("--report {}: {why}", path.display()),
        )
    })
}

/// The directory `path` goes in exists and this process can create files there.
fn check_directory_of(path: &Path) -> std::result::Result<(), String> {
    let parent = parent_dir(path);
    match fs::metadata(&parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", parent.display())),
        Err(e) => return Err(format!("directory {}: {e}", parent.display())),
    }
    let access = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
    if let Err(e) = nix::unistd::access(&parent, access) {
        return Err(format!("cannot write into {}: {e}", parent.display()));
    }
    Ok(())
}

fn check_target(target: &OutputTarget) -> std::result::Result<(), String> {
    let Some(path) = target.path() else {
        return Ok(());
    };
    check_directory_of(path)?;
    let existing = fs::symlink_metadata(path).ok();
    match (target, existing) {
        (_, None) => Ok(()),
        (OutputTarget::OciLayout { .. }, Some(meta)) if !meta.is_dir() => {
            Err(format!("{} exists and is not a directory", path.display()))
        }
        (OutputTarget::OciLayout { .. }, Some(_)) => {
            let empty = fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .next()
                .is_none();
            if empty || path.join("oci-layout").is_file() {
                Ok(())
            } else {
                Err(format!(
                    "{} exists and is not an OCI layout; rslim replaces only an empty directory or a layout",
                    path.display()
                ))
            }
        }
        (_, Some(meta)) if meta.is_dir() => Err(format!("{} is a directory", path.display())),
        (_, Some(_)) => Ok(()),
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes every file and directory output of `outputs` (the engine output
/// is loaded by the caller). Blocking; `cancel` stops it between writes.
pub fn write_files(
    outputs: &Outputs,
    slim: &SlimFiles,
    tags: &[String],
    cancel: &Arc<AtomicBool>,
) -> Result<Vec<OutputRecord>> {
    let mut records = Vec::new();
    for target in &outputs.targets {
        let Some(path) = target.path() else { continue };
        let failed = |e: anyhow::Error| {
            Failure::new(
                ExitKind::OutputFailed,
                e.context(format!("cannot write --output {target}")),
            )
        };
        let names = |reference: &Option<String>| LayoutNames {
            tags: tags.to_vec(),
            reference: reference.clone(),
        };
        let digest = match target {
            OutputTarget::Engine => continue,
            OutputTarget::DockerArchive(_) => {
                write_file(path, cancel, |out| {
                    write_docker_archive(&slim.config_bytes, &slim.layer, tags, out)
                })
                .map_err(failed)?;
                slim.image_id.clone()
            }
            OutputTarget::OciArchive { reference, .. } => {
                let image = slim.oci_image().map_err(failed)?;
                let names = names(reference);
                write_file(path, cancel, |out| {
                    write_oci_archive(image, &names, epoch::chosen_mtime(), out).map(drop)
                })
                .map_err(failed)?;
                image.manifest_digest.clone()
            }
            OutputTarget::OciLayout { reference, .. } => {
                let image = slim.oci_image().map_err(failed)?;
                let names = names(reference);
                let mtime = epoch::source_date_epoch().ok().flatten();
                write_dir(path, cancel, |dir, wrap| {
                    write_oci_dir(image, &names, mtime, dir, wrap)
                })
                .map_err(failed)?;
                image.manifest_digest.clone()
            }
        };
        records.push(OutputRecord {
            kind: target.kind().to_string(),
            location: path.display().to_string(),
            digest,
            image_id: slim.image_id.clone(),
        });
    }
    Ok(records)
}

/// A writer that fails once the build is interrupted, so a write running on
/// a blocking thread stops instead of finishing and renaming its file.
struct Cancellable<W> {
    inner: W,
    cancel: Arc<AtomicBool>,
}

impl<W: Write> Write for Cancellable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            // Not ErrorKind::Interrupted: `write_all` retries those forever.
            return Err(io::Error::other("the build was interrupted"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `.<name>.rslim-<owner token>-`: a killed build's temp file is removed
/// by the next build that writes the same target ([`Outputs::check`]).
fn temp_prefix(target: &Path) -> String {
    crate::leftovers::temp::output_prefix(target)
}

fn interrupted(cancel: &AtomicBool) -> anyhow::Result<()> {
    match cancel.load(Ordering::Relaxed) {
        true => anyhow::bail!("the build was interrupted"),
        false => Ok(()),
    }
}

/// Writes `target` through a temp file beside it, renamed over it at the end.
fn write_file(
    target: &Path,
    cancel: &Arc<AtomicBool>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o644))
        .tempfile_in(parent_dir(target))
        .context("cannot create a temp file beside it")?;
    {
        let mut out = BufWriter::with_capacity(
            256 << 10,
            Cancellable {
                inner: temp.as_file(),
                cancel: cancel.clone(),
            },
        );
        write(&mut out)?;
        out.flush()?;
    }
    temp.as_file().sync_all()?;
    interrupted(cancel)?;
    temp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Writes directory `target` through a temp directory beside it, which then
/// takes its place (an existing layout is swapped out and removed).
fn write_dir(
    target: &Path,
    cancel: &Arc<AtomicBool>,
    write: impl FnOnce(&Path, &dyn Fn(File) -> Box<dyn Write>) -> io::Result<()>,
) -> anyhow::Result<()> {
    // Removed on drop: the new layout on failure, the old one after a swap.
    let temp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .suffix(".tmp")
        .tempdir_in(parent_dir(target))
        .context("cannot create a temp directory beside it")?;
    let wrap = |file: File| -> Box<dyn Write> {
        Box::new(Cancellable {
            inner: file,
            cancel: cancel.clone(),
        })
    };
    write(temp.path(), &wrap)?;
    interrupted(cancel)?;
    if target.symlink_metadata().is_ok() {
        exchange(temp.path(), target)?;
    } else {
        fs::rename(temp.path(), target)?;
    }
    Ok(())
}

/// Swaps two directories in one step, so `target` is never missing or half
/// written.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(new: &Path, target: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    renameat2(
        AT_FDCWD,
        new,
        AT_FDCWD,
        target,
        RenameFlags::RENAME_EXCHANGE,
    )
    .map_err(io::Error::from)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(new: &Path, target: &Path) -> io::Result<()> {
    let old = new.with_extension("old");
    fs::rename(target, &old)?;
    fs::rename(new, target)?;
    fs::rename(&old, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> OutputTarget {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_to_the_engine_and_refuses_a_path_twice() {
        assert!(Outputs::new(&[]).unwrap().to_engine());
        let twice = [target("oci:/tmp/x"), target("oci-archive:/tmp/x")];
        assert_eq!(Outputs::new(&twice).unwrap_err().kind, ExitKind::Usage);
    }

    #[test]
    fn a_report_path_that_cannot_be_written_is_found_before_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        fs::create_dir(at("sub")).unwrap();
        fs::write(at("old.json"), b"{}").unwrap();
        assert!(check_report(&at("new.json")).is_ok());
        assert!(check_report(&at("old.json")).is_ok(), "replaced whole");
        for (bad, why) in [
            (at("missing/report.json"), "directory"),
            (at("sub"), "is a directory"),
            (at("old.json/x"), "is not a directory"),
        ] {
            let failure = check_report(&bad).unwrap_err();
            assert_eq!(failure.kind, ExitKind::Usage);
            let message = failure.to_string();
            assert!(message.starts_with("--report "), "{message}");
            assert!(message.contains(why), "{message}");
        }
        if !nix::unistd::geteuid().is_root() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(at("old.json"), fs::Permissions::from_mode(0o444)).unwrap();
            assert!(check_report(&at("old.json")).is_err());
        }
    }

    #[test]
    fn targets_are_checked_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        fs::create_dir(dir.path().join("full")).unwrap();
        fs::write(dir.path().join("full/file"), b"x").unwrap();
        let good = Outputs::new(&[
            target(&format!("docker-archive:{}", path("a.tar"))),
            target(&format!("oci:{}", path("layout"))),
        ])
        .unwrap();
        assert!(good.check().is_ok());
        for bad in [
            format!("docker-archive:{}", path("missing/a.tar")),
            format!("oci-archive:{}", path("full")),
            format!("oci:{}", path("full")),
            format!("oci:{}", path("full/file")),
        ] {
            let outputs = Outputs::new(&[target(&bad)]).unwrap();
            let error = outputs.check().unwrap_err();
            assert_eq!(error.kind, ExitKind::OutputFailed, "{bad}");
            assert!(
                error
                    .to_string()
                    .contains(&bad[bad.find(':').unwrap() + 1..]),
                "{error}"
            );
        }
    }

    #[test]
    fn a_failed_write_leaves_nothing_at_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.tar");
        let cancel = Arc::new(AtomicBool::new(false));
        let failing = write_file(&file, &cancel, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failing.is_err());
        cancel.store(true, Ordering::Relaxed);
        let cancelled = write_file(&file, &cancel, |out| out.write_all(b"whole"));
        assert!(cancelled.is_err());
        let layout = dir.path().join("layout");
        let cancelled = write_dir(&layout, &cancel, |dir, _| fs::write(dir.join("x"), b"x"));
        assert!(cancelled.is_err());
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn a_layout_replaces_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let cancel = Arc::new(AtomicBool::new(false));
        write_dir(&layout, &cancel, |dir, _| fs::write(dir.join("old"), b"1")).unwrap();
        write_dir(&layout, &cancel, |dir, _| fs::write(dir.join("new"), b"2")).unwrap();
        assert!(layout.join("new").exists());
        assert!(!layout.join("old").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
