//! `rslim-sensor serve-tree [ROOT]`: PID 1 of rslim's walker container, a
//! container of the image that never runs the app, so its files are the
//! image's. Asked to walk, it sends an index of the filesystem under ROOT
//! (default `/`); then it sends the bytes of the files rslim asks for,
//! until rslim says quit or closes stdin. Wire format: `rslim_sensor::tree`.
//!
//! Nothing below a mount point is walked: what is mounted there (`/proc`,
//! `/sys`, `/dev`, the engine's `/etc/hosts`, a tmpfs at a VOLUME) is not the
//! image's; rslim reads those few places from the never-started container
//! instead. rslim's own `/.rslim` is left out too.
//!
//! `serve-tree --view` needs none of that: given CAP_SYS_ADMIN, it binds
//! the container's root, without what is mounted on it, at [`VIEW`], drops
//! the capability, and serves the tree there: the image's files as the
//! engine unpacked them, mount points included.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use rslim_sensor::tree::{Entry, Kind, Record, Reply, Request, MAGIC};
use rslim_sensor::SENSOR_DIR;

/// Where `--view` binds the container's root without its submounts.
pub const VIEW: &str = "/.rslim/view";

/// `serve-tree --view`: binds `/` (alone, not its submounts) at [`VIEW`]
/// while the sensor holds CAP_SYS_ADMIN, then, before it reads anything of
/// the image, keeps only CAP_DAC_OVERRIDE (what the plain walker gets),
/// and serves the tree at [`VIEW`].
pub fn serve_view() -> i32 {
    if let Err(e) = bind_root_at(Path::new(VIEW)) {
        eprintln!("rslim-sensor serve-tree: cannot bind / at {VIEW}: {e}");
        return 3;
    }
    if let Err(e) = crate::confine::keep_only_capability(crate::confine::CAP_DAC_OVERRIDE) {
        eprintln!("rslim-sensor serve-tree: cannot drop CAP_SYS_ADMIN: {e}");
        return 3;
    }
    serve(Path::new(VIEW))
}

/// A non-recursive bind mount of `/` at `target` (created if missing).
fn bind_root_at(target: &Path) -> io::Result<()> {
    fs::create_dir_all(target)?;
    let source = c"/";
    let target = CString::new(target.as_os_str().as_bytes())?;
    // SAFETY: NUL-terminated paths; no filesystem type or data for a bind.
    let status = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    match status {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Serves requests from stdin until told to stop; the exit code.
pub fn serve(root: &Path) -> i32 {
    let mut input = BufReader::new(io::stdin().lock());
    let mut out = BufWriter::with_capacity(256 << 10, io::stdout().lock());
    loop {
        let request = match Request::read_from(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("rslim-sensor serve-tree: unreadable request: {e}");
                return 2;
            }
        };
        let answered = match request {
            Request::Quit => return 0,
            Request::Walk => {
                let hurry = AtomicBool::new(false);
                // A Hurry already read with the Walk: list light at once.
                if input.buffer().first() == Some(&HURRY_TAG) {
                    input.consume(1);
                    hurry.store(true, Ordering::Relaxed);
                }
                walk_until_hurried(root, &mut out, &hurry, input.buffer().is_empty())
            }
            Request::WalkNames => walk(root, &mut out, &AtomicBool::new(true)),
            Request::Stat { path } => stat(root, path, &mut out),
            Request::Read { path, offset, len } => send_file(root, &path, offset, len, &mut out),
            // Came after the walk it was meant for ended.
            Request::Hurry => Ok(()),
        };
        // Replies go out when no request waits behind them: a window of
        // requests gets its replies in a few writes, not one each.
        let flushed = match input.buffer().is_empty() {
            true => answered.and_then(|()| out.flush()),
            false => answered,
        };
        // A failed write means rslim is gone; a failed read mid-file has
        // already cut the reply short, which rslim sees as a broken stream.
        if let Err(e) = flushed {
            eprintln!("rslim-sensor serve-tree: {e}");
            return 1;
        }
    }
}

/// The host path of tree path `path` (absolute) under `root`.
fn host_path(root: &Path, path: &[u8]) -> PathBuf {
    let relative = OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path));
    root.join(relative)
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = dir.to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// Threads walking at once, at most: the walk's cost is the kernel's
/// first lookup of each path in the container's overlay (measured: `find /
/// -xdev` statting the 55k files of the 5 GB bench image costs as much), which
/// spreads over the cores the engine gives the container.
const MAX_WALKERS: usize = 4;

/// Walks the tree under `root` and writes the index: each directory's
/// entries together, directories in no fixed order (rslim orders the index).
/// The tag of [`Request::Hurry`] on the wire.
const HURRY_TAG: u8 = 6;

/// [`walk`], listing light once rslim sends [`Request::Hurry`]: a thread
/// watches stdin (fd 0, unbuffered: `watch` only when nothing of it is
/// buffered) while the walk runs. Only a Hurry can come then: rslim asks
/// for nothing else before the index has ended.
fn walk_until_hurried(
    root: &Path,
    out: &mut impl Write,
    hurry: &AtomicBool,
    watch: bool,
) -> io::Result<()> {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if watch && !hurry.load(Ordering::Relaxed) {
            scope.spawn(|| watch_for_hurry(hurry, &done));
        }
        let walked = walk(root, out, hurry);
        done.store(true, Ordering::Relaxed);
        walked
    })
}

fn watch_for_hurry(hurry: &AtomicBool, done: &AtomicBool) {
    use std::os::fd::BorrowedFd;
    // SAFETY: fd 0 stays open for the whole process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    while !done.load(Ordering::Relaxed) {
        let mut fds = [nix::poll::PollFd::new(stdin, nix::poll::PollFlags::POLLIN)];
        if !matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20u8)), Ok(n) if n > 0)
        {
            continue;
        }
        let mut byte = [0u8];
        // SAFETY: one byte into a live one-byte buffer.
        let read = unsafe { libc::read(0, byte.as_mut_ptr().cast(), 1) };
        if read == 1 && byte[0] != HURRY_TAG {
            eprintln!("rslim-sensor serve-tree: request {} during a walk", byte[0]);
        }
        // A Hurry, or stdin closed (rslim is gone): finish fast.
        hurry.store(true, Ordering::Relaxed);
        return;
    }
}

fn walk(root: &Path, out: &mut impl Write, hurry: &AtomicBool) -> io::Result<()> {
    out.write_all(MAGIC)?;
    let mounts = mount_points(root);
    let root_dev = fs::symlink_metadata(root)?.dev();
    let queue = DirQueue::new(b"/".to_vec());
    let walkers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WALKERS);
    let mut entries = 0u64;
    std::thread::scope(|scope| -> io::Result<()> {
        let (sender, listings) = mpsc::sync_channel::<(Vec<u8>, u64)>(64);
        for _ in 0..walkers {
            let (sender, queue, mounts) = (sender.clone(), &queue, &mounts);
            scope.spawn(move || {
                while let Some(dir) = queue.next() {
                    let mut listing = Listing::default();
                    let light = hurry.load(Ordering::Relaxed);
                    list_dir(root, &dir, mounts, root_dev, light, &mut listing);
                    queue.done(listing.subdirs);
                    if sender.send((listing.records, listing.entries)).is_err() {
                        queue.stop();
                    }
                }
            });
        }
        drop(sender);
        for (records, count) in listings {
            entries += count;
            if let Err(e) = out.write_all(&records) {
                // The walkers see the closed channel and stop.
                queue.stop();
                return Err(e);
            }
        }
        Ok(())
    })?;
    Record::End { entries }.write_to(out)
}

/// What one directory's listing adds to the index.
#[derive(Default)]
struct Listing {
    /// Its records, encoded.
    records: Vec<u8>,
    /// How many of them are entries.
    entries: u64,
    /// Its subdirectories, still to be listed.
    subdirs: Vec<Vec<u8>>,
}

impl Listing {
    fn record(&mut self, record: Record) {
        record
            .write_to(&mut self.records)
            .expect("writing to memory does not fail");
    }
}

/// The directories still to list, shared by the walking threads.
struct DirQueue {
    state: Mutex<DirQueueState>,
    changed: Condvar,
}

struct DirQueueState {
    dirs: Vec<Vec<u8>>,
    /// Directories being listed now, whose subdirectories are still to come.
    listing: usize,
    stopped: bool,
}

impl DirQueue {
    fn new(root: Vec<u8>) -> Self {
        DirQueue {
            state: Mutex::new(DirQueueState {
                dirs: vec![root],
                listing: 0,
                stopped: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// The next directory to list; `None` once all are listed (or the walk stopped).
    fn next(&self) -> Option<Vec<u8>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.stopped {
                return None;
            }
            if let Some(dir) = state.dirs.pop() {
                state.listing += 1;
                return Some(dir);
            }
            if state.listing == 0 {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A directory is listed; `subdirs` are what it holds to list next.
    fn done(&self, subdirs: Vec<Vec<u8>>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.dirs.extend(subdirs);
        state.listing -= 1;
        self.changed.notify_all();
    }

    fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.stopped = true;
        self.changed.notify_all();
    }
}

/// Lists directory `dir` (a tree path) into `listing`. A `light` listing
/// names regular files (by the kind the directory entry carries) without
/// looking them up.
fn list_dir(
    root: &Path,
    dir: &[u8],
    mounts: &HashSet<Vec<u8>>,
    root_dev: u64,
    light: bool,
    listing: &mut Listing,
) {
    let items = match fs::read_dir(host_path(root, dir)) {
        Ok(items) => items,
        Err(e) => {
            let shown = String::from_utf8_lossy(dir);
            listing.record(Record::Error(format!("cannot list {shown}: {e}")));
            return;
        }
    };
    for item in items {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                let shown = String::from_utf8_lossy(dir);
                listing.record(Record::Error(format!("cannot list {shown}: {e}")));
                break;
            }
        };
        let name = item.file_name().into_vec();
        let path = join(dir, &name);
        if path == SENSOR_DIR.as_bytes() {
            continue;
        }
        if mounts.contains(&path) {
            listing.record(Record::MountPoint(path));
            continue;
        }
        // The entry's own kind (d_type): no lookup, unless the filesystem
        // does not say (then std looks it up).
        if light && item.file_type().is_ok_and(|t| t.is_file()) {
            listing.record(Record::File(path));
            listing.entries += 1;
            continue;
        }
        let host = host_path(root, &path);
        // Through the directory's descriptor (fstatat), not a lookup of the
        // whole path again.
        let meta = match item.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                let shown = String::from_utf8_lossy(&path);
                listing.record(Record::Error(format!("cannot stat {shown}: {e}")));
                continue;
            }
        };
        if meta.is_dir() && meta.dev() != root_dev {
            // A mount the mount table did not name (it names what the
            // engine mounted; this catches anything else).
            listing.record(Record::MountPoint(path));
            continue;
        }
        match entry(path, &host, &meta) {
            Ok(Some(entry)) => {
                if entry.kind == Kind::Dir {
                    listing.subdirs.push(entry.path.clone());
                }
                listing.record(Record::Entry(entry));
                listing.entries += 1;
            }
            Ok(None) => {}
            Err(message) => listing.record(Record::Error(message)),
        }
    }
}

/// `Stat`: the entry of one path, as the walk would have sent it.
fn stat(root: &Path, path: Vec<u8>, out: &mut impl Write) -> io::Result<()> {
    let host = host_path(root, &path);
    let record = match fs::symlink_metadata(&host) {
        Err(e) => Record::Error(format!(
            "cannot stat {}: {e}",
            String::from_utf8_lossy(&path)
        )),
        Ok(meta) => match entry(path.clone(), &host, &meta) {
            Ok(Some(entry)) => Record::Entry(entry),
            Ok(None) => Record::Error(format!("{} is a socket", String::from_utf8_lossy(&path))),
            Err(message) => Record::Error(message),
        },
    };
    record.write_to(out)
}

/// The index entry of tree path `path` (at `host`, with `meta`); `None`
/// for a socket (the engines' exports leave them out too).
fn entry(path: Vec<u8>, host: &Path, meta: &fs::Metadata) -> Result<Option<Entry>, String> {
    let kind = match meta.file_type() {
        t if t.is_dir() => Kind::Dir,
        t if t.is_file() => Kind::File,
        t if t.is_symlink() => Kind::Symlink,
        t if t.is_char_device() => Kind::CharDevice,
        t if t.is_block_device() => Kind::BlockDevice,
        t if t.is_fifo() => Kind::Fifo,
        _ => return Ok(None),
    };
    let target = match kind {
        Kind::Symlink => match fs::read_link(host) {
            Ok(target) => target.into_os_string().into_vec(),
            Err(e) => {
                let shown = String::from_utf8_lossy(&path);
                return Err(format!("cannot read link {shown}: {e}"));
            }
        },
        _ => Vec::new(),
    };
    let rdev = meta.rdev();
    Ok(Some(Entry {
        path,
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: if kind == Kind::File { meta.len() } else { 0 },
        mtime: meta.mtime(),
        dev: meta.dev(),
        ino: meta.ino(),
        nlink: meta.nlink(),
        rdev_major: libc::major(rdev),
        rdev_minor: libc::minor(rdev),
        target,
        // The kernel keeps file capabilities on regular files only.
        capability: (kind == Kind::File).then(|| capability(host)).flatten(),
    }))
}

/// The `security.capability` attribute of `path` (not following a symlink).
fn capability(path: &Path) -> Option<Vec<u8>> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let name = c"security.capability";
    let mut value = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated, the buffer is as long as said.
    let len = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    if len < 0 {
        return None;
    }
    value.truncate(len as usize);
    Some(value)
}

/// Tree paths (absolute, below `root`) where something is mounted, from
/// this process's mount table.
fn mount_points(root: &Path) -> HashSet<Vec<u8>> {
    let table = fs::read("/proc/self/mountinfo").unwrap_or_default();
    let root = root.as_os_str().as_bytes();
    table
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .map(unescape_mount_path)
        .filter_map(|mounted| {
            let below = match root {
                b"/" => mounted.as_slice(),
                _ => mounted.strip_prefix(root)?,
            };
            (below.len() > 1 && below.starts_with(b"/")).then(|| below.to_vec())
        })
        .collect()
}

/// Undoes the kernel's octal escapes in mountinfo (`\040` for a space).
fn unescape_mount_path(field: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|digits| field[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                path.push(value as u8);
                i += 4;
            }
            None => {
                path.push(field[i]);
                i += 1;
            }
        }
    }
    path
}

/// Answers a `Read`: a header, then exactly the bytes it announces.
fn send_file(
    root: &Path,
    path: &[u8],
    offset: u64,
    len: u64,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut file = match open_regular(&host_path(root, path)) {
        Ok(file) => file,
        Err(e) => {
            let message = format!("cannot read {}: {e}", String::from_utf8_lossy(path));
            Reply {
                ok: false,
                len: message.len() as u64,
            }
            .write_to(out)?;
            return out.write_all(message.as_bytes());
        }
    };
    let size = file.metadata()?.len();
    let len = len.min(size.saturating_sub(offset));
    Reply { ok: true, len }.write_to(out)?;
    file.seek(SeekFrom::Start(offset))?;
    let copied = io::copy(&mut file.take(len), out)?;
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{} ended after {copied} of {len} bytes",
                String::from_utf8_lossy(path)
            ),
        ));
    }
    Ok(())
}

/// Opens `path` for reading if it is a regular file, not through a final symlink.
fn open_regular(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records of a walk of `root` (listed light when `light`), after
    /// checking the magic, the count `End` gives and that nothing follows.
    fn walked_records(root: &Path, light: bool) -> Vec<Record> {
        let mut wire = Vec::new();
        walk(root, &mut wire, &AtomicBool::new(light)).unwrap();
        assert_eq!(&wire[..MAGIC.len()], MAGIC);
        let mut input = &wire[MAGIC.len()..];
        let mut records = Vec::new();
        loop {
            match Record::read_from(&mut input).unwrap() {
                Record::End { entries } => {
                    let counted = records
                        .iter()
                        .filter(|r| matches!(r, Record::Entry(_) | Record::File(_)))
                        .count();
                    assert_eq!(entries as usize, counted);
                    break;
                }
                record => records.push(record),
            }
        }
        assert!(input.is_empty());
        records
    }

    /// The entries of a full walk of `root`; anything else fails the test.
    fn walked_entries(root: &Path) -> Vec<Entry> {
        walked_records(root, false)
            .into_iter()
            .map(|record| match record {
                Record::Entry(entry) => entry,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn mount_table_escapes_are_undone() {
        assert_eq!(
            unescape_mount_path(br"/data\040dir\134x\011"),
            b"/data dir\\x\t".to_vec()
        );
        assert_eq!(unescape_mount_path(br"/a\9b"), br"/a\9b".to_vec());
    }

    /// The walking threads list every directory once, each entry once,
    /// however the directories are shared out among them.
    #[test]
    fn every_path_is_indexed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut expected = Vec::new();
        for top in 0..8 {
            for sub in 0..6 {
                let sub_dir = format!("/d{top}/s{sub}");
                fs::create_dir_all(root.join(&sub_dir[1..])).unwrap();
                for file in 0..(top * sub) {
                    let path = format!("{sub_dir}/f{file}");
                    fs::write(root.join(&path[1..]), path.as_bytes()).unwrap();
                    expected.push(path);
                }
                expected.push(sub_dir);
            }
            expected.push(format!("/d{top}"));
        }
        expected.sort();

        let mut paths: Vec<String> = walked_entries(root)
            .into_iter()
            .map(|entry| String::from_utf8(entry.path).unwrap())
            .collect();
        paths.sort();
        assert_eq!(paths, expected);
    }

    /// A light walk names regular files without their metadata, and a
    /// `Stat` of one gives what the full walk sent for it.
    #[test]
    fn a_light_walk_names_files_and_stat_gives_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/f"), b"0123456789").unwrap();
        fs::hard_link(root.join("d/f"), root.join("d/g")).unwrap();
        std::os::unix::fs::symlink("d/f", root.join("link")).unwrap();
        let records = |light: bool| {
            let mut records = walked_records(root, light);
            records.sort_by_key(|r| match r {
                Record::Entry(e) => e.path.clone(),
                Record::File(path) => path.clone(),
                other => panic!("unexpected {other:?}"),
            });
            records
        };
        let (full, light) = (records(false), records(true));
        assert_eq!(full.len(), light.len());
        for (full, light) in full.iter().zip(&light) {
            let Record::Entry(entry) = full else {
                unreachable!()
            };
            match light {
                Record::File(path) => {
                    assert_eq!(entry.kind, Kind::File);
                    let mut wire = Vec::new();
                    stat(root, path.clone(), &mut wire).unwrap();
                    let stated = Record::read_from(&mut wire.as_slice()).unwrap();
                    assert_eq!(&stated, full, "{}", String::from_utf8_lossy(path));
                }
                other => {
                    assert_ne!(entry.kind, Kind::File);
                    assert_eq!(other, full);
                }
            }
        }
        let mut wire = Vec::new();
        stat(root, b"/missing".to_vec(), &mut wire).unwrap();
        assert!(matches!(
            Record::read_from(&mut wire.as_slice()).unwrap(),
            Record::Error(_)
        ));
    }

    #[test]
    fn walks_hostile_names_and_serves_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let odd = OsStr::from_bytes(b"new\nline\xff");
        fs::create_dir(root.join(odd)).unwrap();
        fs::write(root.join(odd).join("f"), b"0123456789").unwrap();
        fs::hard_link(root.join(odd).join("f"), root.join("g")).unwrap();
        std::os::unix::fs::symlink("new\nline", root.join("link")).unwrap();
        fs::create_dir_all(root.join(".rslim")).unwrap();

        let mut entries = walked_entries(root);
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<&[u8]> = entries.iter().map(|e| e.path.as_slice()).collect();
        assert_eq!(
            paths,
            [&b"/g"[..], b"/link", b"/new\nline\xff", b"/new\nline\xff/f"]
        );
        let (g, f) = (&entries[0], &entries[3]);
        assert_eq!((g.kind, g.size, g.nlink), (Kind::File, 10, 2));
        assert_eq!((g.dev, g.ino), (f.dev, f.ino));
        assert_eq!(entries[1].target, b"new\nline");

        let mut reply = Vec::new();
        send_file(root, b"/new\nline\xff/f", 3, 4, &mut reply).unwrap();
        let mut input = reply.as_slice();
        assert_eq!(
            Reply::read_from(&mut input).unwrap(),
            Reply { ok: true, len: 4 }
        );
        assert_eq!(input, b"3456");
        let mut reply = Vec::new();
        send_file(root, b"/link", 0, 4, &mut reply).unwrap();
        assert!(!Reply::read_from(&mut reply.as_slice()).unwrap().ok);
    }
}
