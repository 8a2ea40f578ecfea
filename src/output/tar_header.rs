//! Deterministic tar headers: POSIX ustar, with a PAX extended header in front
//! when a name does not fit or the entry has extended attributes.
//!
//! One format throughout (PAX, as Docker's own layers use) rather than mixing
//! in GNU long-name entries. Headers carry only what the node says: no user or
//! group names, no atime/ctime, and never the current time.

use std::io::{self, Read, Write};

use tar::{Builder, EntryType, Header};

use crate::image::node::NodeMeta;

/// Width of the ustar `name` and `linkname` fields.
const USTAR_NAME_LEN: usize = 100;

/// Fixed name of every PAX extended header; readers ignore it, and a constant
/// keeps the output reproducible (GNU tar puts its pid there).
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";

/// Everything about one entry except its data.
pub struct EntrySpec<'a> {
    /// Relative path bytes as stored in the tar (directories end with `/`).
    pub name: &'a [u8],
    pub entry_type: EntryType,
    /// Symlink target or hard link target.
    pub link_name: Option<&'a [u8]>,
    /// Bytes of data following the header (regular files only).
    pub size: u64,
    /// Major and minor number of a character or block device.
    pub device: Option<(u32, u32)>,
    pub meta: &'a NodeMeta,
}

/// Appends `spec` and its `data` (exactly `spec.size` bytes) to `builder`,
/// preceded by a PAX header when one is needed.
pub fn append_entry<W: Write>(
    builder: &mut Builder<W>,
    spec: &EntrySpec<'_>,
    data: impl Read,
) -> io::Result<()> {
    let records = pax_records(spec);
    if !records.is_empty() {
        let mut pax_header = Header::new_ustar();
        set_name_field(&mut pax_header.as_old_mut().name, PAX_HEADER_NAME);
        pax_header.set_entry_type(EntryType::XHeader);
        pax_header.set_mode(0o644);
        pax_header.set_uid(0);
        pax_header.set_gid(0);
        pax_header.set_mtime(0);
        pax_header.set_size(records.len() as u64);
        pax_header.set_cksum();
        builder.append(&pax_header, records.as_slice())?;
    }
    builder.append(&ustar_header(spec)?, data)
}

fn ustar_header(spec: &EntrySpec<'_>) -> io::Result<Header> {
    let mut header = Header::new_ustar();
    // Names that do not fit are carried in full by the PAX header; the
    // truncated copy here only matters to readers that ignore PAX.
    set_name_field(&mut header.as_old_mut().name, spec.name);
    if let Some(link_name) = spec.link_name {
        set_name_field(&mut header.as_old_mut().linkname, link_name);
    }
    header.set_entry_type(spec.entry_type);
    header.set_mode(spec.meta.mode & 0o7777);
    header.set_uid(spec.meta.uid);
    header.set_gid(spec.meta.gid);
    header.set_mtime(spec.meta.mtime);
    header.set_size(spec.size);
    if let Some((major, minor)) = spec.device {
        header.set_device_major(major)?;
        header.set_device_minor(minor)?;
    }
    header.set_cksum();
    Ok(header)
}

fn set_name_field(field: &mut [u8], name: &[u8]) {
    let len = name.len().min(field.len());
    field[..len].copy_from_slice(&name[..len]);
    field[len..].fill(0);
}

/// PAX records for what the ustar header cannot hold: long names and xattrs.
/// Xattrs come in the node's order, which the reader keeps sorted by name.
fn pax_records(spec: &EntrySpec<'_>) -> Vec<u8> {
    let mut records = Vec::new();
    if spec.name.len() > USTAR_NAME_LEN {
        push_pax_record(&mut records, b"path", spec.name);
    }
    if let Some(link_name) = spec.link_name.filter(|l| l.len() > USTAR_NAME_LEN) {
        push_pax_record(&mut records, b"linkpath", link_name);
    }
    for (name, value) in &spec.meta.xattrs {
        let key = [b"SCHILY.xattr.".as_slice(), name.as_bytes()].concat();
        push_pax_record(&mut records, &key, value);
    }
    records
}

/// Appends one `"<len> <key>=<value>\n"` record, where `<len>` counts the
/// whole record including its own digits.
fn push_pax_record(records: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + decimal_digits(len) {
        len = rest + decimal_digits(len);
    }
    records.extend_from_slice(format!("{len} ").as_bytes());
    records.extend_from_slice(key);
    records.push(b'=');
    records.extend_from_slice(value);
    records.push(b'\n');
}

fn decimal_digits(n: usize) -> usize {
    n.to_string().len()
}

/// Yields exactly `remaining` bytes of `inner`, failing if it ends sooner:
/// a short read would otherwise shift every later entry of the tar.
pub struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R> ExactReader<R> {
    pub fn new(inner: R, len: u64) -> Self {
        ExactReader {
            inner,
            remaining: len,
        }
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let limit = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..limit])?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("content ended {} bytes early", self.remaining),
            ));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_its_own_digits() {
        let mut records = Vec::new();
        push_pax_record(&mut records, b"path", b"abc");
        // "12 path=abc\n" is 12 bytes.
        assert_eq!(records, b"12 path=abc\n");

        // A record whose length crosses from two to three digits.
        let mut records = Vec::new();
        push_pax_record(&mut records, b"k", &[b'v'; 95]);
        assert_eq!(records.len(), 102);
        assert!(records.starts_with(b"102 k="));
    }

    #[test]
    fn long_names_truncate_in_the_header_and_go_whole_into_pax() {
        let meta = NodeMeta::default();
        let long = vec![b'x'; 150];
        let spec = EntrySpec {
            name: &long,
            entry_type: EntryType::Regular,
            link_name: None,
            size: 0,
            device: None,
            meta: &meta,
        };
        let header = ustar_header(&spec).unwrap();
        assert_eq!(&header.as_old().name[..], &long[..100]);
        let records = pax_records(&spec);
        assert!(records.starts_with(b"160 path=xxx"));
        assert_eq!(records.len(), 160);
    }
}
