//! The fanotify side: marks set up before the application starts, and a reader
//! thread that turns events into paths until it is told to drain and stop.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::fanotify::{EventFFlags, Fanotify, FanotifyEvent, InitFlags, MarkFlags, MaskFlags};
use nix::sys::stat::SFlag;
use nix::unistd::pipe;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::thread::JoinHandle;

/// What the reader thread collected.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: BTreeSet<Vec<u8>>,
    pub dirs: BTreeSet<Vec<u8>>,
    pub executed: BTreeSet<Vec<u8>>,
    pub pids: BTreeSet<i32>,
    pub events: u64,
    pub overflows: u64,
    pub errors: Vec<String>,
    /// Print every event to stderr (RSLIM_SENSOR_TRACE set in the container), for debugging.
    trace: bool,
}

/// A fanotify group with its marks in place.
pub struct Watch {
    group: Fanotify,
    /// `"filesystem"` or `"mount"`.
    pub mark: &'static str,
    /// Marks that failed without making the watch useless.
    pub errors: Vec<String>,
}

fn watched_events() -> MaskFlags {
    MaskFlags::FAN_OPEN | MaskFlags::FAN_OPEN_EXEC | MaskFlags::FAN_ONDIR
}

/// Creates the group and marks the root filesystem (falling back to a mount
/// mark), then each extra mount point. Only a failure on the root is fatal.
pub fn setup(mount_marks: &[String]) -> Result<Watch, String> {
    let group = Fanotify::init(
        InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_CLOEXEC | InitFlags::FAN_UNLIMITED_QUEUE,
        EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
    )
    .map_err(|e| {
        format!("fanotify_init failed ({e}); run the container with --cap-add SYS_ADMIN")
    })?;
    let cwd = nix::fcntl::AT_FDCWD;
    let mark = match group.mark(
        MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
        watched_events(),
        cwd,
        Some("/"),
    ) {
        Ok(()) => "filesystem",
        Err(fs_err) => {
            group
                .mark(
                    MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_MOUNT,
                    watched_events(),
                    cwd,
                    Some("/"),
                )
                .map_err(|e| {
                    format!("cannot mark / (filesystem mark: {fs_err}, mount mark: {e})")
                })?;
            "mount"
        }
    };
    let errors = mount_marks
        .iter()
        .filter_map(|path| {
            group
                .mark(
                    MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_MOUNT,
                    watched_events(),
                    cwd,
                    Some(path.as_str()),
                )
                .err()
                .map(|e| {
                    format!("cannot watch volume {path}: {e}; accesses there are not recorded")
                })
        })
        .collect();
    Ok(Watch {
        group,
        mark,
        errors,
    })
}

/// Strips the " (deleted)" the kernel appends to the link of an unlinked file.
pub fn strip_deleted(link: &[u8]) -> &[u8] {
    link.strip_suffix(b" (deleted)").unwrap_or(link)
}

/// Whether a resolved path belongs in the findings: absolute, and not rslim's own.
pub fn is_recordable(path: &[u8]) -> bool {
    let sensor_dir = rslim_sensor::SENSOR_DIR.as_bytes();
    let ours = path
        .strip_prefix(sensor_dir)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'/');
    path.first() == Some(&b'/') && !ours
}

/// Whether an open fd is a directory (fstat opens nothing, so it raises no event).
pub fn is_directory(fd: BorrowedFd) -> bool {
    nix::sys::stat::fstat(fd)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

impl Collected {
    fn record(&mut self, event: &FanotifyEvent, own_pid: i32) {
        self.events += 1;
        let mask = event.mask();
        if mask.contains(MaskFlags::FAN_Q_OVERFLOW) {
            self.overflows += 1;
            eprintln!("rslim-sensor: fanotify queue overflow, some file accesses were lost");
            return;
        }
        if event.pid() == own_pid {
            return;
        }
        // The event owns its fd and closes it when dropped by the caller.
        let Some(fd) = event.fd() else { return };
        let link = match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
            Ok(link) => link,
            Err(e) => {
                self.errors
                    .push(format!("cannot resolve an event's file: {e}"));
                return;
            }
        };
        let path = strip_deleted(link.as_os_str().as_bytes());
        if self.trace {
            eprintln!(
                "rslim-sensor: trace pid={} mask={:?} dir={} {:?}",
                event.pid(),
                mask,
                is_directory(fd),
                link
            );
        }
        if !is_recordable(path) {
            return;
        }
        self.pids.insert(event.pid());
        // Without FAN_REPORT_FID the kernel does not report FAN_ONDIR in the
        // event mask, so the open fd itself says whether it is a directory.
        if is_directory(fd) {
            self.dirs.insert(path.to_vec());
            return;
        }
        self.files.insert(path.to_vec());
        if mask.contains(MaskFlags::FAN_OPEN_EXEC) {
            self.executed.insert(path.to_vec());
        }
    }
}

/// The running reader thread; [`Reader::finish`] drains what is queued and returns it all.
pub struct Reader {
    stop: File,
    thread: JoinHandle<Collected>,
}

impl Reader {
    pub fn start(watch: Watch, own_pid: i32) -> std::io::Result<Reader> {
        let (stop_rx, stop_tx) = pipe()?;
        let thread = std::thread::Builder::new()
            .name("fanotify".into())
            .spawn(move || read_until_stopped(watch.group, stop_rx, own_pid))?;
        Ok(Reader {
            stop: File::from(stop_tx),
            thread,
        })
    }

    pub fn finish(mut self) -> Collected {
        let _ = self.stop.write_all(b"x");
        self.thread.join().unwrap_or_else(|_| Collected {
            errors: vec!["the fanotify reader thread panicked".into()],
            ..Collected::default()
        })
    }
}

fn readable(
    group: &Fanotify,
    stop: Option<&OwnedFd>,
    timeout: PollTimeout,
) -> Result<(bool, bool), Errno> {
    let mut fds = vec![PollFd::new(group.as_fd(), PollFlags::POLLIN)];
    if let Some(stop) = stop {
        fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
    }
    loop {
        match poll(&mut fds, timeout) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    let is_ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
    Ok((is_ready(&fds[0]), fds.get(1).is_some_and(is_ready)))
}

fn read_batch(group: &Fanotify, collected: &mut Collected, own_pid: i32) -> Result<(), Errno> {
    for event in group.read_events()? {
        collected.record(&event, own_pid);
    }
    Ok(())
}

fn read_until_stopped(group: Fanotify, stop: OwnedFd, own_pid: i32) -> Collected {
    let mut collected = Collected {
        trace: std::env::var_os("RSLIM_SENSOR_TRACE").is_some(),
        ..Collected::default()
    };
    loop {
        match readable(&group, Some(&stop), PollTimeout::NONE) {
            Ok((_, true)) => break,
            Ok((true, false)) => {
                if let Err(e) = read_batch(&group, &mut collected, own_pid) {
                    collected
                        .errors
                        .push(format!("reading fanotify events failed: {e}"));
                    return collected;
                }
            }
            Ok((false, false)) => {}
            Err(e) => {
                collected
                    .errors
                    .push(format!("waiting for fanotify events failed: {e}"));
                return collected;
            }
        }
    }
    // Drain: events queued before the application was killed are still there.
    while let Ok((true, _)) = readable(&group, None, PollTimeout::ZERO) {
        if let Err(e) = read_batch(&group, &mut collected, own_pid) {
            collected
                .errors
                .push(format!("draining fanotify events failed: {e}"));
            break;
        }
    }
    collected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deleted_suffix_is_stripped_only_at_the_end() {
        assert_eq!(strip_deleted(b"/tmp/x (deleted)"), b"/tmp/x");
        assert_eq!(strip_deleted(b"/tmp/x"), b"/tmp/x");
        assert_eq!(strip_deleted(b"/tmp/ (deleted) y"), b"/tmp/ (deleted) y");
    }

    #[test]
    fn the_deleted_suffix_is_what_the_kernel_really_writes() {
        let path =
            std::env::temp_dir().join(format!("rslim-sensor-deleted-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        assert_eq!(
            strip_deleted(link.as_os_str().as_bytes()),
            path.as_os_str().as_bytes()
        );
        assert_ne!(link, path);
    }

    #[test]
    fn directories_are_told_apart_from_files_by_their_fd() {
        assert!(is_directory(File::open("/usr").unwrap().as_fd()));
        assert!(!is_directory(File::open("/etc/passwd").unwrap().as_fd()));
    }

    #[test]
    fn rslim_paths_and_pseudo_paths_are_not_recorded() {
        assert!(is_recordable(b"/etc/os-release"));
        assert!(is_recordable(b"/.rslimx/file"));
        assert!(!is_recordable(b"/.rslim"));
        assert!(!is_recordable(b"/.rslim/findings.json.tmp"));
        assert!(!is_recordable(b"anon_inode:[eventfd]"));
    }
}
