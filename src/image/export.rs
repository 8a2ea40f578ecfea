//! Reading an image through `docker export` of a container that never ran.
//!
//! That is the image's layers as the engine merges them, read in one stream,
//! about twice as fast as `docker save`. What the engine adds for every
//! container is undone here, so the view depends on the image alone and is
//! the same whichever engine exported it:
//!
//! - Docker's "init layer" creates a few files and the directories missing
//!   from the image, and touches their parents, with the container's
//!   creation time; it would make two builds of the same image differ.
//! - Podman's export of a never-started container has no such layer: its
//!   `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and `/run/.containerenv`
//!   are bind-mounted at run time, over the image's own copies. So the same
//!   files are dropped, and the directories Docker's init layer would have
//!   created are added as Docker creates them (0755 root, here with the
//!   image's creation time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::node::{Node, NodeKind, NodeMeta};
#[cfg(test)]
use super::RootFs;

/// Files the engines put into every container: Docker's init layer creates
/// them, Podman mounts its own over them at run time, so the image's copy
/// (if any) never shows.
pub const INIT_LAYER_FILES: &[&str] = &[
    "/.dockerenv",
    "/dev/console",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/run/.containerenv",
];

/// Directories Docker's init layer creates when the image lacks them (and
/// touches when it creates something inside).
pub const INIT_LAYER_DIRS: &[&str] = &["/dev", "/dev/pts", "/dev/shm", "/etc", "/proc", "/sys"];

/// Removes the init layer's files, adds its directories where the image has
/// none, and gives those directories a fixed modification time (the image's
/// creation time), so the view depends on the image alone. Both the export
/// and the walked tree (`super::walked`) go through it.
pub fn undo_init_layer(nodes: &mut BTreeMap<PathBuf, Node>, image_created: u64) {
    for file in INIT_LAYER_FILES {
        nodes.remove(Path::new(file));
    }
    for dir in INIT_LAYER_DIRS {
        match nodes.get_mut(Path::new(dir)) {
            Some(node) => node.meta.mtime = image_created,
            None => {
                nodes.insert(
                    PathBuf::from(dir),
                    Node {
                        path: PathBuf::from(dir),
                        kind: NodeKind::Dir,
                        meta: NodeMeta {
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                            mtime: image_created,
                            xattrs: Vec::new(),
                        },
                        content: None,
                    },
                );
            }
        }
    }
}

/// Seconds since the epoch of an RFC 3339 time such as Docker's `created`
/// (`2026-11-26T16:40:55.123456789Z`); `None` if it does not parse.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let clock = &time[..8.min(time.len())];
    let mut clock_parts = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (
        clock_parts.next()??,
        clock_parts.next()??,
        clock_parts.next()??,
    );
    let zone = &time[8..];
    let zone = zone.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second - offset).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::test_archive::{layer_tar, Entry};
    use crate::image::ImageArchive;

    /// `export` of a container of an image created at 2026-11-26T16:40:55Z.
    fn exported(entries: &[Entry]) -> RootFs {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&layer_tar(entries)).unwrap();
        let config = br#"{"created": "2026-11-26T16:40:55Z", "config": {"Cmd": ["sh"]}}"#;
        let archive = ImageArchive::from_flat_export(file, config.to_vec()).unwrap();
        RootFs::build(&archive).unwrap()
    }

    const CREATED: u64 = 1_795_711_255;

    #[test]
    fn docker_and_podman_exports_of_one_image_give_one_view() {
        // Docker: the init layer's files and directories, with the container's time.
        let docker = exported(&[
            Entry::File(".dockerenv", b""),
            Entry::Dir("dev", 0o755),
            Entry::File("dev/console", b""),
            Entry::Dir("dev/pts", 0o755),
            Entry::Dir("dev/shm", 0o755),
            Entry::Dir("etc", 0o755),
            Entry::File("etc/hostname", b""),
            Entry::File("etc/hosts", b""),
            Entry::Symlink("etc/mtab", "/proc/mounts"),
            Entry::File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
            Entry::File("etc/resolv.conf", b""),
            Entry::Dir("proc", 0o755),
            Entry::Dir("sys", 0o755),
        ]);
        // Podman: the image as it is, its own hostname and resolv.conf included.
        let podman = exported(&[
            Entry::Dir("dev", 0o755),
            Entry::Dir("etc", 0o755),
            Entry::File("etc/hostname", b"vm\n"),
            Entry::File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
            Entry::File("etc/resolv.conf", b"nameserver 10.0.2.3\n"),
            Entry::Dir("proc", 0o755),
            Entry::Dir("sys", 0o755),
        ]);
        let view = |rootfs: &RootFs| -> Vec<(PathBuf, NodeMeta)> {
            rootfs
                .nodes()
                .map(|n| (n.path.clone(), n.meta.clone()))
                .collect()
        };
        assert_eq!(view(&docker), view(&podman));
        let pts = podman.get(Path::new("/dev/pts")).expect("/dev/pts added");
        assert!(pts.is_dir());
        assert_eq!((pts.meta.mode, pts.meta.mtime), (0o755, CREATED));
        assert!(podman.get(Path::new("/etc/hostname")).is_none());
        assert!(podman.get(Path::new("/etc/passwd")).is_some());
    }

    #[test]
    fn parses_docker_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        // `date -d 2026-11-26T16:40:55Z +%s`
        assert_eq!(
            parse_rfc3339("2026-11-26T16:40:55.123456789Z"),
            Some(1_795_711_255)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T18:40:55+02:00"),
            Some(1_795_711_255)
        );
        assert_eq!(parse_rfc3339("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
