//! The wire format of `rslim-sensor serve-tree`: the sensor, in a container
//! of the image that never runs the app, walks the image's filesystem once,
//! sends rslim an index of it (metadata only), then serves the bytes of the
//! files rslim asks for (docs/design.md, "Reading the original filesystem").
//!
//! Everything travels over the container's attached stdin and stdout as
//! binary records, little-endian, names as raw bytes (any byte but NUL can be
//! in a Linux file name, newlines and invalid UTF-8 included):
//!
//! - rslim → sensor: one [`Request`] at a time; [`Request::Walk`] first.
//! - sensor → rslim: after `Walk`, [`MAGIC`] then [`Record`]s up to
//!   [`Record::End`]; after each `Read`, a [`Reply`] header and its bytes.

use std::io::{self, Read, Write};

/// What the sensor writes before the index, so that rslim never mistakes
/// other output (an engine's message, a foreign binary) for one.
pub const MAGIC: &[u8; 11] = b"RSLIMTREE1\n";

/// Longest name or link target accepted (Linux's PATH_MAX is 4096).
pub const MAX_NAME: usize = 64 << 10;
/// Longest extended attribute value accepted (Linux's limit is 64 KiB).
pub const MAX_XATTR: usize = 64 << 10;

/// What a walked path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::File => b'f',
            Kind::Dir => b'd',
            Kind::Symlink => b'l',
            Kind::CharDevice => b'c',
            Kind::BlockDevice => b'b',
            Kind::Fifo => b'p',
        }
    }

    fn from_code(code: u8) -> io::Result<Kind> {
        Ok(match code {
            b'f' => Kind::File,
            b'd' => Kind::Dir,
            b'l' => Kind::Symlink,
            b'c' => Kind::CharDevice,
            b'b' => Kind::BlockDevice,
            b'p' => Kind::Fifo,
            other => return Err(invalid(format!("unknown entry kind {other}"))),
        })
    }
}

/// One path of the walked filesystem, as `lstat` and friends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// `st_mode & 0o7777`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// Hard-link identity: regular files with `nlink > 1` and the same
    /// `(dev, ino)` are one inode.
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// Device numbers of a device node.
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// A symlink's target, as stored.
    pub target: Vec<u8>,
    /// The `security.capability` extended attribute, the one the engines'
    /// exports carry.
    pub capability: Option<Vec<u8>>,
}

/// One record of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Entry(Entry),
    /// Something is mounted here (`/proc`, a VOLUME's tmpfs, a bind-mounted
    /// `/etc/hosts`): what lies below is not the image's, and was not walked.
    MountPoint(Vec<u8>),
    /// A regular file named by its directory's listing and not looked up
    /// (a light walk): rslim asks for its metadata with [`Request::Stat`]
    /// when resolution first needs it. Counted as an entry.
    File(Vec<u8>),
    /// The walk could not read something: the index is incomplete.
    Error(String),
    /// The end of the index, with the number of entries sent.
    End {
        entries: u64,
    },
}

const TAG_ENTRY: u8 = 1;
const TAG_MOUNT: u8 = 2;
const TAG_ERROR: u8 = 3;
const TAG_END: u8 = 4;
const TAG_FILE: u8 = 5;

impl Record {
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Record::Entry(entry) => {
                out.write_all(&[TAG_ENTRY, entry.kind.code()])?;
                write_bytes(out, &entry.path)?;
                for value in [entry.mode, entry.uid, entry.gid] {
                    out.write_all(&value.to_le_bytes())?;
                }
                out.write_all(&entry.size.to_le_bytes())?;
                out.write_all(&entry.mtime.to_le_bytes())?;
                for value in [entry.dev, entry.ino, entry.nlink] {
                    out.write_all(&value.to_le_bytes())?;
                }
                out.write_all(&entry.rdev_major.to_le_bytes())?;
                out.write_all(&entry.rdev_minor.to_le_bytes())?;
                write_bytes(out, &entry.target)?;
                match &entry.capability {
                    None => out.write_all(&[0]),
                    Some(value) => {
                        out.write_all(&[1])?;
                        write_bytes(out, value)
                    }
                }
            }
            Record::MountPoint(path) => {
                out.write_all(&[TAG_MOUNT])?;
                write_bytes(out, path)
            }
            Record::File(path) => {
                out.write_all(&[TAG_FILE])?;
                write_bytes(out, path)
            }
            Record::Error(message) => {
                out.write_all(&[TAG_ERROR])?;
                write_bytes(out, message.as_bytes())
            }
            Record::End { entries } => {
                out.write_all(&[TAG_END])?;
                out.write_all(&entries.to_le_bytes())
            }
        }
    }

    /// Reads one record; a stream that ends inside one is an error.
    pub fn read_from(input: &mut impl Read) -> io::Result<Record> {
        Ok(match read_u8(input)? {
            TAG_ENTRY => {
                let kind = Kind::from_code(read_u8(input)?)?;
                let path = read_bytes(input, MAX_NAME)?;
                let (mode, uid, gid) = (read_u32(input)?, read_u32(input)?, read_u32(input)?);
                let size = read_u64(input)?;
                let mtime = read_u64(input)? as i64;
                let (dev, ino, nlink) = (read_u64(input)?, read_u64(input)?, read_u64(input)?);
                let (rdev_major, rdev_minor) = (read_u32(input)?, read_u32(input)?);
                let target = read_bytes(input, MAX_NAME)?;
                let capability = match read_u8(input)? {
                    0 => None,
                    _ => Some(read_bytes(input, MAX_XATTR)?),
                };
                Record::Entry(Entry {
                    path,
                    kind,
                    mode,
                    uid,
                    gid,
                    size,
                    mtime,
                    dev,
                    ino,
                    nlink,
                    rdev_major,
                    rdev_minor,
                    target,
                    capability,
                })
            }
            TAG_MOUNT => Record::MountPoint(read_bytes(input, MAX_NAME)?),
            TAG_FILE => Record::File(read_bytes(input, MAX_NAME)?),
            TAG_ERROR => {
                Record::Error(String::from_utf8_lossy(&read_bytes(input, MAX_NAME)?).into_owned())
            }
            TAG_END => Record::End {
                entries: read_u64(input)?,
            },
            other => return Err(invalid(format!("unknown record tag {other}"))),
        })
    }
}

/// What rslim asks the sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Walk the filesystem and send the index.
    Walk,
    /// Walk as [`Request::Walk`], but send regular files as [`Record::File`]
    /// without looking them up: most of a walk's cost is that lookup.
    WalkNames,
    /// One [`Record::Entry`] (or [`Record::Error`]) for the path.
    Stat { path: Vec<u8> },
    /// Sent while a [`Request::Walk`] runs: list the directories not
    /// listed yet as [`Request::WalkNames`] does (rslim has what it waited
    /// for and would now wait for the walk). Nothing otherwise.
    Hurry,
    /// Up to `len` bytes of the regular file `path` from `offset`.
    Read {
        path: Vec<u8>,
        offset: u64,
        len: u64,
    },
    /// Exit: nothing more will be asked.
    Quit,
}

const REQUEST_WALK: u8 = 1;
const REQUEST_READ: u8 = 2;
const REQUEST_QUIT: u8 = 3;
const REQUEST_WALK_NAMES: u8 = 4;
const REQUEST_STAT: u8 = 5;
const REQUEST_HURRY: u8 = 6;

impl Request {
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Request::Walk => out.write_all(&[REQUEST_WALK]),
            Request::Read { path, offset, len } => {
                out.write_all(&[REQUEST_READ])?;
                write_bytes(out, path)?;
                out.write_all(&offset.to_le_bytes())?;
                out.write_all(&len.to_le_bytes())
            }
            Request::Quit => out.write_all(&[REQUEST_QUIT]),
            Request::WalkNames => out.write_all(&[REQUEST_WALK_NAMES]),
            Request::Stat { path } => {
                out.write_all(&[REQUEST_STAT])?;
                write_bytes(out, path)
            }
            Request::Hurry => out.write_all(&[REQUEST_HURRY]),
        }
    }

    /// The next request; `None` when the input ended (rslim is gone).
    pub fn read_from(input: &mut impl Read) -> io::Result<Option<Request>> {
        let mut tag = [0u8];
        if input.read(&mut tag)? == 0 {
            return Ok(None);
        }
        Ok(Some(match tag[0] {
            REQUEST_WALK => Request::Walk,
            REQUEST_READ => Request::Read {
                path: read_bytes(input, MAX_NAME)?,
                offset: read_u64(input)?,
                len: read_u64(input)?,
            },
            REQUEST_QUIT => Request::Quit,
            REQUEST_WALK_NAMES => Request::WalkNames,
            REQUEST_STAT => Request::Stat {
                path: read_bytes(input, MAX_NAME)?,
            },
            REQUEST_HURRY => Request::Hurry,
            other => return Err(invalid(format!("unknown request {other}"))),
        }))
    }
}

/// The header of the sensor's answer to a `Read`: `len` bytes follow,
/// the file's bytes when `ok`, else a message saying why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    pub len: u64,
}

impl Reply {
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&[u8::from(self.ok)])?;
        out.write_all(&self.len.to_le_bytes())
    }

    pub fn read_from(input: &mut impl Read) -> io::Result<Reply> {
        let ok = match read_u8(input)? {
            0 => false,
            1 => true,
            other => return Err(invalid(format!("unknown reply status {other}"))),
        };
        Ok(Reply {
            ok,
            len: read_u64(input)?,
        })
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn write_bytes(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| invalid("field too long".into()))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)
}

fn read_bytes(input: &mut impl Read, limit: usize) -> io::Result<Vec<u8>> {
    let len = read_u32(input)? as usize;
    if len > limit {
        return Err(invalid(format!("a field of {len} bytes (at most {limit})")));
    }
    let mut bytes = vec![0; len];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_u8(input: &mut impl Read) -> io::Result<u8> {
    let mut byte = [0u8];
    input.read_exact(&mut byte)?;
    Ok(byte[0])
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_requests_survive_the_wire() {
        let entry = Entry {
            path: b"/odd\nname\xff".to_vec(),
            kind: Kind::File,
            mode: 0o4755,
            uid: 10001,
            gid: 42,
            size: 1 << 40,
            mtime: -5,
            dev: 0x801,
            ino: 123456789,
            nlink: 2,
            rdev_major: 0,
            rdev_minor: 0,
            target: Vec::new(),
            capability: Some(vec![1, 0, 0, 2, 0, 32, 0, 0]),
        };
        let records = [
            Record::Entry(entry),
            Record::MountPoint(b"/proc".to_vec()),
            Record::File(b"/big\xff".to_vec()),
            Record::Error("cannot list /x".into()),
            Record::End { entries: 1 },
        ];
        let mut wire = Vec::new();
        for record in &records {
            record.write_to(&mut wire).unwrap();
        }
        let mut input = wire.as_slice();
        for record in &records {
            assert_eq!(&Record::read_from(&mut input).unwrap(), record);
        }
        assert!(input.is_empty());

        let requests = [
            Request::Walk,
            Request::Read {
                path: b"/usr/bin/\n".to_vec(),
                offset: 7,
                len: 4096,
            },
            Request::WalkNames,
            Request::Stat {
                path: b"/a b".to_vec(),
            },
            Request::Hurry,
            Request::Quit,
        ];
        let mut wire = Vec::new();
        for request in &requests {
            request.write_to(&mut wire).unwrap();
        }
        let mut input = wire.as_slice();
        for request in &requests {
            assert_eq!(
                Request::read_from(&mut input).unwrap().as_ref(),
                Some(request)
            );
        }
        assert_eq!(Request::read_from(&mut input).unwrap(), None);
    }

    #[test]
    fn cut_or_oversized_records_are_errors() {
        let mut wire = Vec::new();
        Record::MountPoint(b"/proc".to_vec())
            .write_to(&mut wire)
            .unwrap();
        wire.pop();
        assert!(Record::read_from(&mut wire.as_slice()).is_err());
        let mut huge = vec![TAG_MOUNT];
        huge.extend_from_slice(&(MAX_NAME as u32 + 1).to_le_bytes());
        assert!(Record::read_from(&mut huge.as_slice()).is_err());
        assert!(Record::read_from(&mut [9u8].as_slice()).is_err());
    }
}
