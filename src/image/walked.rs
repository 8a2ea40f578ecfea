//! The original filesystem as rslim's walker container sees it: a container
//! of the image that never runs the app, whose sensor (`serve-tree`) sends
//! an index of every path and then the bytes of the files asked for. What a
//! build costs then grows with what it keeps, not with the image (see
//! docs/design.md, "Reading the original filesystem").
//!
//! The engine mounts things over the running walker's root (`/proc`, `/sys`,
//! `/dev`, tmpfs at the VOLUMEs, its own `/etc/hosts`); the sensor reports
//! those mount points instead of walking them. The few subtrees that hide
//! image files (the three kernel directories and the VOLUMEs) are read from
//! the archive API before the walker starts, as tars, with the one image
//! reader. Docker's init layer is undone as for an export, so both sources
//! give the same tree.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use rslim_sensor::tree::{Entry, Kind, Record, Reply, Request, MAGIC};

use super::export::{self, INIT_LAYER_FILES};
use super::node::{self, ContentRef, ContentSource, Node, NodeKind, NodeMeta};
use super::RootFs;
use crate::resolve::tree::FsTree;

pub mod cache;
use cache::{CacheEntry, Saving};

/// `ContentRef::layer` of the files the walker serves; subtree `k` read
/// from the archive API is layer `k + 1`.
const SERVED: usize = 0;

/// Directories the engines always mount over, whose image contents are
/// read from the archive API of the never-started walker.
pub const KERNEL_DIRS: &[&str] = &["/dev", "/proc", "/sys"];

/// Directories whose own metadata the engine may change when the walker
/// starts: the parents of the files it mounts at run time (Podman creates
/// `/run/.containerenv` in a started container, which an export of a
/// never-started one does not show), but for those [`export::undo_init_layer`]
/// resets anyway, and the root, which layers do not carry.
pub fn touched_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = INIT_LAYER_FILES
        .iter()
        .filter_map(|file| Path::new(file).parent())
        .filter(|dir| {
            *dir != Path::new("/") && !export::INIT_LAYER_DIRS.contains(&dir.to_str().unwrap_or(""))
        })
        .map(Path::to_path_buf)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The walker's stdin and stdout.
pub struct Connection {
    pub reader: Box<dyn Read + Send>,
    pub writer: Box<dyn Write + Send>,
}

struct Served {
    connection: Connection,
    /// A reply was cut short: the stream is out of step, nothing more can be read.
    broken: bool,
}

/// A subtree read from the never-started walker, as a tar.
pub struct HiddenSubtree {
    /// E.g. `/app/data`.
    pub path: PathBuf,
    /// The archive API's tar of it (names start with the path's own name);
    /// `None` when the image has nothing there.
    pub tree: Option<RootFs>,
    /// What it is for: a mount point's files, or a [`touched_dirs`] entry's
    /// own metadata.
    pub mounted: bool,
}

pub struct WalkedTree {
    nodes: BTreeMap<PathBuf, Node>,
    /// The nodes of files the walk named without looking them up (their
    /// node in `nodes` is a stand-in, see [`unlooked_file`]), by content
    /// id, once looked up.
    looked: Vec<std::sync::OnceLock<Box<Node>>>,
    /// The tree path of each content id the walker serves.
    served_paths: Vec<PathBuf>,
    hidden: Vec<RootFs>,
    served: Mutex<Served>,
    /// The first bytes of files resolution read, by content id: it reads
    /// the same headers again and again (an ELF's by each rule that looks
    /// at it), and each read is a round trip to the walker.
    prefixes: Mutex<PrefixCache>,
    index_from_cache: bool,
    /// Content ids by `(dev, ino)` of the files with more than one link.
    inodes: Mutex<HashMap<(u64, u64), u64>>,
    /// Lookups that failed: the tree must not be trusted (see [`WalkedTree::check`]).
    failures: Mutex<Vec<String>>,
}

/// `ContentRef::layer` of a stand-in node: a regular file not looked up
/// yet, whose content id is `offset`.
const UNLOOKED: usize = usize::MAX;

/// The content id of a stand-in node.
fn unlooked_id(node: &Node) -> Option<usize> {
    node.content
        .filter(|content| content.layer == UNLOOKED)
        .map(|content| content.offset as usize)
}

/// Lookups asked for at once (each request and reply is about 100 bytes).
const STAT_WINDOW: usize = 256;

/// Reads through to `inner`, recording what passes into a cache entry.
struct Tee<'a, R> {
    inner: R,
    saving: Option<&'a mut Saving>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(saving) = self.saving.as_mut() {
            saving.record(&buf[..n]);
        }
        Ok(n)
    }
}

/// Reads kept for a second asking: up to [`PrefixCache::MAX_READ`] bytes
/// each, [`PrefixCache::MAX_TOTAL`] in all (then it starts over).
#[derive(Default)]
struct PrefixCache {
    reads: HashMap<u64, Vec<u8>>,
    bytes: usize,
}

impl PrefixCache {
    const MAX_READ: usize = 64 << 10;
    const MAX_TOTAL: usize = 4 << 20;

    /// The first `limit` bytes of content `id` (of `size` bytes), if known.
    fn get(&self, id: u64, size: u64, limit: u64) -> Option<Vec<u8>> {
        let cached = self.reads.get(&id)?;
        let whole = cached.len() as u64 == size;
        (whole || cached.len() as u64 >= limit)
            .then(|| cached[..cached.len().min(limit as usize)].to_vec())
    }

    fn put(&mut self, id: u64, bytes: &[u8]) {
        if bytes.len() > Self::MAX_READ {
            return;
        }
        if self.bytes + bytes.len() > Self::MAX_TOTAL {
            self.reads.clear();
            self.bytes = 0;
        }
        let longer = self
            .reads
            .get(&id)
            .is_none_or(|old| old.len() < bytes.len());
        if longer {
            self.bytes += bytes.len();
            if let Some(old) = self.reads.insert(id, bytes.to_vec()) {
                self.bytes -= old.len();
            }
        }
    }
}

/// The walker's index as read: every path but the mount points, which it names.
pub struct Index {
    nodes: BTreeMap<PathBuf, Node>,
    inodes: HashMap<(u64, u64), u64>,
    /// The tree path of each content id.
    served_paths: Vec<PathBuf>,
    mounts: Vec<PathBuf>,
    from_cache: bool,
}

impl Index {
    /// This image's index from rslim's cache, if it has a usable one; a
    /// damaged one (a disk error, a cut-short write) is removed.
    pub fn from_cache(entry: &CacheEntry) -> Option<Index> {
        let file = entry.open()?;
        match Index::read(&mut io::BufReader::with_capacity(256 << 10, file)) {
            Ok(index) => Some(Index {
                from_cache: true,
                ..index
            }),
            Err(_) => {
                entry.discard();
                None
            }
        }
    }

    /// Reads an index (the walker's, or a kept copy). A walk that met
    /// errors is refused.
    fn read(reader: &mut impl Read) -> anyhow::Result<Index> {
        let mut magic = [0u8; MAGIC.len()];
        reader
            .read_exact(&mut magic)
            .context("the walker sent no index")?;
        if &magic != MAGIC {
            bail!("the walker sent something that is not an index");
        }
        let mut index = Index {
            nodes: BTreeMap::new(),
            inodes: HashMap::new(),
            served_paths: Vec::new(),
            mounts: Vec::new(),
            from_cache: false,
        };
        let mut inodes: HashMap<(u64, u64), u64> = HashMap::new();
        let mut errors = Vec::new();
        let mut count = 0u64;
        loop {
            match Record::read_from(reader).context("the walker's index is cut short")? {
                Record::Entry(entry) => {
                    count += 1;
                    let node = index.node(entry, &mut inodes)?;
                    index.nodes.insert(node.path.clone(), node);
                }
                Record::File(path) => {
                    count += 1;
                    let path = plain_path(&path)?;
                    index.served_paths.push(path.clone());
                    let id = (index.served_paths.len() - 1) as u64;
                    index.nodes.insert(path.clone(), unlooked_file(path, id));
                }
                Record::MountPoint(path) => {
                    index.mounts.push(PathBuf::from(OsStr::from_bytes(&path)))
                }
                Record::Error(message) => errors.push(message),
                Record::End { entries } if entries == count => break,
                Record::End { entries } => {
                    bail!("the walker announced {entries} entries and sent {count}")
                }
            }
        }
        if !errors.is_empty() {
            bail!("the walk was incomplete: {}", errors.join("; "));
        }
        index.inodes = inodes;
        Ok(index)
    }

    fn node(
        &mut self,
        entry: Entry,
        inodes: &mut HashMap<(u64, u64), u64>,
    ) -> anyhow::Result<Node> {
        let path = plain_path(&entry.path)?;
        let mut id = 0;
        if entry.kind == Kind::File {
            let mut new_id = || {
                self.served_paths.push(path.clone());
                (self.served_paths.len() - 1) as u64
            };
            // Hard links share one content id, so the writer links them.
            id = match entry.nlink > 1 {
                true => *inodes.entry((entry.dev, entry.ino)).or_insert_with(new_id),
                false => new_id(),
            };
        }
        Ok(entry_node(path, entry, id))
    }
}

/// The node of a walker's entry; `id` is its content id if it is a regular file.
fn entry_node(path: PathBuf, entry: Entry, id: u64) -> Node {
    let kind = match entry.kind {
        Kind::File => NodeKind::File { size: entry.size },
        Kind::Dir => NodeKind::Dir,
        Kind::Symlink => NodeKind::Symlink {
            target: PathBuf::from(OsStr::from_bytes(&entry.target)),
        },
        Kind::CharDevice => NodeKind::CharDevice {
            major: entry.rdev_major,
            minor: entry.rdev_minor,
        },
        Kind::BlockDevice => NodeKind::BlockDevice {
            major: entry.rdev_major,
            minor: entry.rdev_minor,
        },
        Kind::Fifo => NodeKind::Fifo,
    };
    let content = (entry.kind == Kind::File).then_some(ContentRef {
        layer: SERVED,
        offset: id,
        size: entry.size,
    });
    let xattrs = entry
        .capability
        .map(|value| vec![("security.capability".to_string(), value)])
        .unwrap_or_default();
    Node {
        path,
        kind,
        meta: NodeMeta {
            mode: entry.mode,
            uid: entry.uid.into(),
            gid: entry.gid.into(),
            mtime: entry.mtime.max(0) as u64,
            xattrs,
        },
        content,
    }
}

/// Sends [`Request::Hurry`] once `hurry` says so, unless the walk is `done`
/// first (then nothing: the stream is the reader's again).
fn pass_on_hurry(
    hurry: &std::sync::mpsc::Receiver<()>,
    writer: &mut Box<dyn Write + Send>,
    done: &std::sync::atomic::AtomicBool,
) {
    use std::sync::mpsc::RecvTimeoutError;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        match hurry.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(()) => {
                let _ = Request::Hurry
                    .write_to(writer)
                    .and_then(|()| writer.flush());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Gives directory `dir` the metadata it had before the walker started
/// (`before`: its tar, named from its own name), or removes it with what
/// is below when the image had none.
fn restore(nodes: &mut BTreeMap<PathBuf, Node>, dir: &Path, before: Option<&RootFs>) {
    let name = Path::new("/").join(dir.file_name().unwrap_or_default());
    match before.and_then(|tree| tree.get(&name)) {
        Some(original) => {
            if let Some(node) = nodes.get_mut(dir) {
                if node.is_dir() && original.is_dir() {
                    node.meta = original.meta.clone();
                }
            }
        }
        None => nodes.retain(|path, _| !path.starts_with(dir)),
    }
}

/// Puts the nodes of `subtree` (named from the mount point's own name) at
/// `mount`; their content is layer `k + 1` of the `k` subtrees grafted.
fn graft(
    nodes: &mut BTreeMap<PathBuf, Node>,
    grafted: &mut Vec<RootFs>,
    mount: &Path,
    subtree: RootFs,
) {
    let layer = grafted.len() + 1;
    let parent = mount.parent().unwrap_or(Path::new("/"));
    for node in subtree.nodes() {
        let relative = node.path.strip_prefix("/").unwrap_or(&node.path);
        let path = parent.join(relative);
        if !path.starts_with(mount) {
            continue;
        }
        let mut node = node.clone();
        node.path = path;
        if let Some(content) = &mut node.content {
            debug_assert_eq!(content.layer, 0, "a flat tar has one layer");
            content.layer = layer;
        }
        nodes.insert(node.path.clone(), node);
    }
    grafted.push(subtree);
}

/// A path the walker sent, refused unless absolute and free of `..`.
fn plain_path(bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(OsStr::from_bytes(bytes));
    if !path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
        bail!(
            "the walker sent a path that is not plain: {}",
            path.display()
        );
    }
    Ok(path)
}

/// The stand-in node of a regular file not looked up yet: its kind, and
/// nothing else (see [`WalkedTree::walk`]).
fn unlooked_file(path: PathBuf, id: u64) -> Node {
    Node {
        path,
        kind: NodeKind::File { size: 0 },
        meta: NodeMeta::default(),
        content: Some(ContentRef {
            layer: UNLOOKED,
            offset: id,
            size: 0,
        }),
    }
}

impl WalkedTree {
    /// Asks the walker for its index and builds the tree. `hidden` are the
    /// subtrees read before it started; `image_created` is the image's
    /// creation time (for the init layer's directories).
    pub fn read(
        connection: Connection,
        hidden: Vec<HiddenSubtree>,
        image_created: u64,
    ) -> anyhow::Result<WalkedTree> {
        Self::read_cached(
            connection,
            hidden,
            image_created,
            None,
            None,
            Request::Walk,
            None,
        )
    }

    /// As [`WalkedTree::read`], with `cached` (this image's index from
    /// rslim's cache) in place of a walk; a walk's index is kept in `cache`.
    /// `walk` is [`Request::Walk`], or [`Request::WalkNames`], whose regular
    /// files are looked up when first used.
    pub fn read_cached(
        mut connection: Connection,
        hidden: Vec<HiddenSubtree>,
        image_created: u64,
        cache: Option<&CacheEntry>,
        cached: Option<Index>,
        walk: Request,
        hurry: Option<std::sync::mpsc::Receiver<()>>,
    ) -> anyhow::Result<WalkedTree> {
        let index = match cached {
            Some(index) => index,
            None => {
                walk.write_to(&mut connection.writer)?;
                connection.writer.flush()?;
                let mut saving = cache.and_then(|entry| entry.save().ok());
                let Connection { reader, writer } = &mut connection;
                let done = std::sync::atomic::AtomicBool::new(false);
                let index = std::thread::scope(|scope| {
                    // A message on `hurry` (the profiling is over: the build now
                    // waits for the walk) tells the walker to list the rest light.
                    if let Some(hurry) = hurry {
                        let done = &done;
                        scope.spawn(move || pass_on_hurry(&hurry, writer, done));
                    }
                    let tee = Tee {
                        inner: reader,
                        saving: saving.as_mut(),
                    };
                    let index = Index::read(&mut io::BufReader::with_capacity(256 << 10, tee));
                    done.store(true, std::sync::atomic::Ordering::Relaxed);
                    index
                })?;
                // A cache that cannot be written costs the next build a walk, nothing more.
                let _ = saving.map(Saving::commit);
                index
            }
        };
        let mut nodes = index.nodes;
        let mut grafted = Vec::new();
        // Only the engine's own files may be hidden, and the subtrees read
        // from the never-started walker: anything else would be missing.
        let mut subtrees: HashMap<PathBuf, RootFs> = HashMap::new();
        for subtree in hidden {
            match (subtree.mounted, subtree.tree) {
                (true, Some(tree)) => {
                    subtrees.insert(subtree.path, tree);
                }
                (true, None) => {}
                (false, before) => restore(&mut nodes, &subtree.path, before.as_ref()),
            }
        }
        for mount in index.mounts {
            if let Some(subtree) = subtrees.remove(&mount) {
                graft(&mut nodes, &mut grafted, &mount, subtree);
            } else if !INIT_LAYER_FILES.iter().any(|f| Path::new(f) == mount) {
                bail!(
                    "{} is a mount point in the walker, and its files cannot be read",
                    mount.display()
                );
            }
        }
        export::undo_init_layer(&mut nodes, image_created);
        let looked = (0..index.served_paths.len())
            .map(|_| std::sync::OnceLock::new())
            .collect();
        Ok(WalkedTree {
            nodes,
            looked,
            served_paths: index.served_paths,
            hidden: grafted,
            served: Mutex::new(Served {
                connection,
                broken: false,
            }),
            prefixes: Mutex::new(PrefixCache::default()),
            index_from_cache: index.from_cache,
            inodes: Mutex::new(index.inodes),
            failures: Mutex::new(Vec::new()),
        })
    }

    /// The index came from rslim's cache, not from a walk.
    pub fn index_from_cache(&self) -> bool {
        self.index_from_cache
    }

    /// The node at `path`; a regular file the walk did not look up is
    /// looked up now, with the other such files of its directory.
    pub fn get(&self, path: &Path) -> Option<&Node> {
        let node = self.nodes.get(path)?;
        let Some(id) = unlooked_id(node) else {
            return Some(node);
        };
        let cell = self.looked.get(id)?;
        if cell.get().is_none() {
            let dir = path.parent().unwrap_or(Path::new("/"));
            let siblings = self
                .nodes
                .range::<Path, _>((std::ops::Bound::Excluded(dir), std::ops::Bound::Unbounded))
                .take_while(|(p, _)| p.starts_with(dir))
                .filter(|(p, n)| {
                    p.parent() == Some(dir) && *p != path && self.unlooked(n).is_some()
                })
                .map(|(p, _)| p.as_path());
            let wanted: Vec<&Path> = std::iter::once(path)
                .chain(siblings)
                .take(STAT_WINDOW)
                .collect();
            self.look_up(&wanted);
        }
        cell.get().map(|node| node.as_ref())
    }

    /// The content id of a stand-in node whose file is not looked up yet.
    fn unlooked(&self, node: &Node) -> Option<usize> {
        unlooked_id(node).filter(|&id| self.looked.get(id).is_some_and(|c| c.get().is_none()))
    }

    /// The node as known now: looked up, or the stand-in.
    fn known<'a>(&'a self, node: &'a Node) -> &'a Node {
        unlooked_id(node)
            .and_then(|id| self.looked.get(id)?.get())
            .map_or(node, |looked| looked.as_ref())
    }

    /// Looks up the files of `paths` not looked up yet, [`STAT_WINDOW`] at a time.
    fn look_up(&self, paths: &[&Path]) {
        let wanted: Vec<(&Path, usize)> = paths
            .iter()
            .filter_map(|path| Some((*path, self.unlooked(self.nodes.get(*path)?)?)))
            .collect();
        for window in wanted.chunks(STAT_WINDOW) {
            if let Err(e) = self.look_up_window(window) {
                self.fail(format!("looking up files in the walker failed: {e}"));
                return;
            }
        }
    }

    fn look_up_window(&self, window: &[(&Path, usize)]) -> io::Result<()> {
        let requests = window.iter().map(|(path, _)| Request::Stat {
            path: path.as_os_str().as_bytes().to_vec(),
        });
        let mut records = Vec::with_capacity(window.len());
        self.exchange(requests, |reader| {
            // Nothing follows the replies: the buffer is empty at the end.
            let mut reader = io::BufReader::new(reader);
            for _ in window {
                records.push(Record::read_from(&mut reader)?);
            }
            Ok(())
        })?;
        for (&(path, own_id), record) in window.iter().zip(records) {
            match record {
                Record::Entry(entry)
                    if entry.kind == Kind::File && entry.path == path.as_os_str().as_bytes() =>
                {
                    // Hard links share one content id, so the writer links them.
                    let id = match entry.nlink > 1 {
                        true => {
                            let mut inodes = self.inodes.lock().map_err(|_| broken())?;
                            *inodes
                                .entry((entry.dev, entry.ino))
                                .or_insert(own_id as u64)
                        }
                        false => own_id as u64,
                    };
                    let _ = self.looked[own_id].set(Box::new(entry_node(
                        path.to_path_buf(),
                        entry,
                        id,
                    )));
                }
                Record::Error(message) => self.fail(message),
                other => self.fail(format!(
                    "the walker described {} as {other:?}, not the regular file its listing named",
                    path.display()
                )),
            }
        }
        Ok(())
    }

    fn fail(&self, message: String) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(message);
        }
    }

    /// Fails when a file the walk named could not be looked up later:
    /// what was resolved or written from the tree may then be wrong.
    pub fn check(&self) -> anyhow::Result<()> {
        let failures = self
            .failures
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        match failures.first() {
            None => Ok(()),
            Some(first) => bail!(
                "{} file(s) of the image could not be looked up in the walker: {first}",
                failures.len()
            ),
        }
    }

    /// All nodes in path order, every file looked up.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        let unlooked: Vec<&Path> = self
            .nodes
            .iter()
            .filter(|(_, node)| self.unlooked(node).is_some())
            .map(|(path, _)| path.as_path())
            .collect();
        self.look_up(&unlooked);
        self.nodes.keys().filter_map(|path| self.get(path))
    }

    /// Where the bytes of the regular file at `path` are.
    fn file_content(&self, path: &Path) -> io::Result<ContentRef> {
        node::file_content_of(path, self.get(path))
    }

    /// Tells the walker to exit; it is removed with every other container.
    pub fn finish(&self) {
        if let Ok(mut served) = self.served.lock() {
            let writer = &mut served.connection.writer;
            let _ = Request::Quit.write_to(writer).and_then(|()| writer.flush());
        }
    }

    /// Up to `len` bytes of a file the walker serves, from its start.
    fn request(&self, id: u64, len: u64) -> io::Result<ServedBytes<'_>> {
        self.request_at(id, 0, len)
    }

    /// Up to `len` bytes of a file the walker serves, from `offset`.
    fn request_at(&self, id: u64, offset: u64, len: u64) -> io::Result<ServedBytes<'_>> {
        let path = self
            .served_paths
            .get(id as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such content"))?;
        let mut served = self.served.lock().map_err(|_| broken())?;
        if served.broken {
            return Err(broken());
        }
        served.broken = true;
        let connection = &mut served.connection;
        Request::Read {
            path: path.as_os_str().as_bytes().to_vec(),
            offset,
            len,
        }
        .write_to(&mut connection.writer)?;
        connection.writer.flush()?;
        let reply = Reply::read_from(&mut connection.reader)?;
        if !reply.ok {
            let mut message = Vec::new();
            (&mut connection.reader)
                .take(reply.len)
                .read_to_end(&mut message)?;
            served.broken = message.len() as u64 != reply.len;
            return Err(io::Error::other(
                String::from_utf8_lossy(&message).into_owned(),
            ));
        }
        Ok(ServedBytes {
            served,
            remaining: reply.len,
        })
    }
}

/// Requests in flight at once when prefetching.
const PREFETCH_WINDOW: usize = 64;

impl WalkedTree {
    /// Sends `requests` (a window: a few kB, see [`WalkedTree::prefetch_heads`]),
    /// then lets `replies` read every reply, in order. Any error leaves the
    /// connection marked broken: out of step.
    fn exchange(
        &self,
        requests: impl Iterator<Item = Request>,
        replies: impl FnOnce(&mut Box<dyn Read + Send>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut served = self.served.lock().map_err(|_| broken())?;
        if served.broken {
            return Err(broken());
        }
        served.broken = true;
        let connection = &mut served.connection;
        for request in requests {
            request.write_to(&mut connection.writer)?;
        }
        connection.writer.flush()?;
        replies(&mut connection.reader)?;
        served.broken = false;
        Ok(())
    }

    /// Sends the read requests of `window` (content id, length), then reads
    /// the replies in order into the prefix cache.
    fn prefetch_window(&self, window: &[(u64, u64)]) -> io::Result<()> {
        let requests = window.iter().map(|&(id, len)| Request::Read {
            path: self.served_paths[id as usize]
                .as_os_str()
                .as_bytes()
                .to_vec(),
            offset: 0,
            len,
        });
        self.exchange(requests, |reader| {
            for &(id, _) in window {
                let reply = Reply::read_from(reader)?;
                let mut bytes = Vec::with_capacity(reply.len.min(1 << 20) as usize);
                reader.take(reply.len).read_to_end(&mut bytes)?;
                if bytes.len() as u64 != reply.len {
                    return Err(broken());
                }
                // A file that cannot be read is left for its own read to report.
                if reply.ok {
                    if let Ok(mut cache) = self.prefixes.lock() {
                        cache.put(id, &bytes);
                    }
                }
            }
            Ok(())
        })
    }

    /// Reads the first `limit` bytes (all, when fewer) of each of
    /// `contents` into the prefix cache, asking for up to
    /// [`PREFETCH_WINDOW`] before reading the first reply: a window's
    /// requests are a few kB, so they fit in the pipes to the walker even
    /// while it writes replies, and nothing can block. What is already
    /// cached, too large for the cache, or not served by the walker is left
    /// to a read of its own.
    fn prefetch_heads(&self, contents: &[ContentRef], limit: u64) {
        let mut wanted: Vec<(u64, u64)> = Vec::new();
        let mut budget = PrefixCache::MAX_TOTAL / 2;
        {
            let Ok(cache) = self.prefixes.lock() else {
                return;
            };
            for content in contents {
                let len = content.size.min(limit) as usize;
                let fits = len <= PrefixCache::MAX_READ && len <= budget;
                if content.layer != SERVED
                    || !fits
                    || cache
                        .get(content.offset, content.size, len as u64)
                        .is_some()
                    || wanted.iter().any(|(id, _)| *id == content.offset)
                {
                    continue;
                }
                budget -= len;
                wanted.push((content.offset, len as u64));
            }
        }
        for window in wanted.chunks(PREFETCH_WINDOW) {
            if self.prefetch_window(window).is_err() {
                return;
            }
        }
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the connection to the walker container broke off",
    )
}

/// One reply's bytes; the rest is skipped when dropped early, so the next
/// reply starts in step.
struct ServedBytes<'a> {
    served: std::sync::MutexGuard<'a, Served>,
    remaining: u64,
}

impl Read for ServedBytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.served.connection.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the walker container's reply was cut short",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl Drop for ServedBytes<'_> {
    fn drop(&mut self) {
        let remaining = self.remaining;
        let skipped = match remaining {
            0 => Ok(0),
            _ => io::copy(
                &mut (&mut self.served.connection.reader).take(remaining),
                &mut io::sink(),
            ),
        };
        // In step again only when the whole reply has been read.
        self.served.broken = skipped.ok() != Some(remaining);
    }
}

impl ContentSource for WalkedTree {
    fn open(&self, content: &ContentRef) -> io::Result<Box<dyn Read + '_>> {
        if content.layer == SERVED {
            // Prefetched whole: no round trip.
            let cached = self
                .prefixes
                .lock()
                .ok()
                .and_then(|cache| cache.get(content.offset, content.size, content.size));
            if let Some(bytes) = cached.filter(|b| b.len() as u64 == content.size) {
                return Ok(Box::new(io::Cursor::new(bytes)));
            }
            let bytes = self.request(content.offset, content.size)?;
            if bytes.remaining != content.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the walker served {} bytes of a {}-byte file",
                        bytes.remaining, content.size
                    ),
                ));
            }
            return Ok(Box::new(bytes));
        }
        let subtree = self
            .hidden
            .get(content.layer - 1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such subtree"))?;
        subtree.open(&ContentRef {
            layer: 0,
            ..*content
        })
    }

    fn prefetch(&self, contents: &[ContentRef]) {
        self.prefetch_heads(contents, u64::MAX);
    }
}

impl FsTree for WalkedTree {
    fn kind(&self, path: &Path) -> Option<NodeKind> {
        node::kind_of(path, |path| self.get(path))
    }

    fn kind_unsized(&self, path: &Path) -> Option<NodeKind> {
        node::kind_of(path, |path| Some(self.known(self.nodes.get(path)?)))
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let content = self.file_content(path)?;
        if content.layer != SERVED {
            let mut bytes = Vec::with_capacity(content.size.min(limit) as usize);
            self.open(&content)?.take(limit).read_to_end(&mut bytes)?;
            return Ok(bytes);
        }
        let id = content.offset;
        let cached = self
            .prefixes
            .lock()
            .ok()
            .and_then(|cache| cache.get(id, content.size, limit));
        if let Some(bytes) = cached {
            return Ok(bytes);
        }
        let mut bytes = Vec::with_capacity(content.size.min(limit) as usize);
        self.request(id, limit)?.read_to_end(&mut bytes)?;
        if let Ok(mut cache) = self.prefixes.lock() {
            cache.put(id, &bytes);
        }
        Ok(bytes)
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        super::overlay::children(&self.nodes, dir)
    }

    fn read_at(&self, path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let content = self.file_content(path)?;
        if content.layer != SERVED || offset == 0 {
            let mut bytes = self.read(path, offset.saturating_add(len))?;
            return Ok(bytes.split_off((offset as usize).min(bytes.len())));
        }
        let mut bytes = Vec::with_capacity(len.min(content.size) as usize);
        self.request_at(content.offset, offset, len)?
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The files are looked up together first (a limit of 0 does only that).
    fn prefetch(&self, paths: &[PathBuf], limit: u64) {
        let wanted: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        self.look_up(&wanted);
        if limit == 0 {
            return;
        }
        let contents: Vec<ContentRef> = paths
            .iter()
            .filter_map(|path| self.file_content(path).ok())
            .collect();
        self.prefetch_heads(&contents, limit);
    }

    /// Regular files the walk did not look up are visited as files of
    /// size 0: the walk tells kinds (and is one pass over the index), not
    /// sizes; ask [`FsTree::kind`] for those.
    fn walk(&self, dir: &Path, visit: &mut dyn FnMut(&Path, &NodeKind)) {
        super::overlay::walk(&self.nodes, dir, |node| &self.known(node).kind, visit)
    }
}

#[cfg(test)]
mod tests;
