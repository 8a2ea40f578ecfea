//! The controller's heartbeat: rslim renews `/.rslim/heartbeat` through the
//! archive API while it profiles; when no new one arrives for the configured
//! time (rslim was killed with SIGKILL, its host went away), the sensor ends
//! the app as if it had been stopped, writes its findings and exits, so the
//! container stops holding the app's ports and the sensor's capabilities.
//!
//! The app runs as root beside the sensor and can write the file too, so a
//! heartbeat counts only when it is sealed with the run's key (which the app
//! never sees) and carries a sequence number higher than the last one: a
//! copy of an old heartbeat renews nothing. The file is opened without
//! following symlinks and without blocking, and only a small regular file is
//! read, so the app cannot stall or flood the sensor with it.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rslim_sensor::seal;

/// More than a heartbeat file ever holds (`<u64> <64 hex digits>\n`).
const MAX_BYTES: u64 = 128;

/// The sensor's view of the heartbeat.
pub struct Heartbeat {
    timeout: Duration,
    key: Vec<u8>,
    last_sequence: u64,
    deadline: Instant,
}

impl Heartbeat {
    /// `None` when the controller asked for no limit (a timeout of 0).
    /// The first deadline counts from now: the controller renews only after
    /// its first interval.
    pub fn new(timeout: Duration, key: Vec<u8>, now: Instant) -> Option<Heartbeat> {
        (!timeout.is_zero()).then(|| Heartbeat {
            timeout,
            key,
            last_sequence: 0,
            deadline: now + timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often to look at the file: an eighth of the timeout, between
    /// 100 ms and a second (a `stat`-sized cost).
    pub fn check_every(&self) -> Duration {
        (self.timeout / 8).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// Takes `bytes` (the file's content) as a renewal if it is one: sealed
    /// with the key, and newer than any seen.
    pub fn renew(&mut self, bytes: &[u8], now: Instant) -> bool {
        match seal::open_heartbeat(&self.key, bytes) {
            Some(sequence) if sequence > self.last_sequence => {
                self.last_sequence = sequence;
                self.deadline = now + self.timeout;
                true
            }
            _ => false,
        }
    }

    /// Reads the file at `path` and returns whether the controller has been
    /// silent past the timeout.
    pub fn expired(&mut self, path: &Path, now: Instant) -> bool {
        if let Some(bytes) = read_small(path) {
            self.renew(&bytes, now);
        }
        now >= self.deadline
    }
}

/// The content of `path` if it is a regular file of at most [`MAX_BYTES`]:
/// no symlink is followed and a FIFO does not block the open.
fn read_small(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [5; 32];

    #[test]
    fn only_new_sealed_heartbeats_move_the_deadline() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut beat = Heartbeat::new(10 * second, KEY.to_vec(), start).unwrap();
        assert_eq!(beat.check_every(), second);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heartbeat");
        assert!(!beat.expired(&path, start + 9 * second), "no file yet");
        assert!(beat.expired(&path, start + 10 * second));
        std::fs::write(&path, seal::heartbeat(&KEY, 1)).unwrap();
        assert!(!beat.expired(&path, start + 11 * second), "renewed at 11 s");
        // The same heartbeat again, or one under another key: no renewal.
        assert!(!beat.expired(&path, start + 20 * second));
        assert!(beat.expired(&path, start + 21 * second));
        std::fs::write(&path, seal::heartbeat(&[6; 32], 2)).unwrap();
        assert!(beat.expired(&path, start + 22 * second));
        std::fs::write(&path, seal::heartbeat(&KEY, 2)).unwrap();
        assert!(!beat.expired(&path, start + 22 * second));
        assert!(Heartbeat::new(Duration::ZERO, KEY.to_vec(), start).is_none());
    }

    #[test]
    fn the_app_cannot_stall_the_sensor_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            read_small(&fifo),
            None,
            "a FIFO is not read (nor waited on)"
        );
        let target = dir.path().join("target");
        std::fs::write(&target, seal::heartbeat(&KEY, 1)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_small(&link), None, "a symlink is not followed");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'1'; 4096]).unwrap();
        assert_eq!(read_small(&big), None);
        assert!(read_small(&target).is_some());
    }
}
