//! Reading an image through `docker export` of a container that never ran.
//!
//! That is the image's layers as Docker merges them, read in one stream,
//! about twice as fast as `docker save`. Docker adds one thing: the "init
//! layer" every container gets, which creates a few files and directories
//! with the container's creation time. They would make two builds of the
//! same image differ, and none of them comes from the image, so they are
//! undone here.

use std::path::Path;

use super::RootFs;

/// Files Docker's init layer creates; at run time Docker mounts or creates
/// them again, so the image's own copy (if any) never shows.
pub const INIT_LAYER_FILES: &[&str] = &[
    "/.dockerenv",
    "/dev/console",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
];

/// Directories Docker's init layer creates (or re-creates over the image's).
pub const INIT_LAYER_DIRS: &[&str] = &["/dev", "/dev/pts", "/dev/shm", "/etc", "/proc", "/sys"];

/// Removes the init layer's files and gives its directories a fixed
/// modification time (the image's creation time), so the view depends on
/// the image alone.
pub fn undo_init_layer(rootfs: &mut RootFs, image_created: u64) {
    for file in INIT_LAYER_FILES {
        rootfs.forget(Path::new(file));
    }
    for dir in INIT_LAYER_DIRS {
        if let Some(node) = rootfs.get_mut(Path::new(dir)) {
            node.meta.mtime = image_created;
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
