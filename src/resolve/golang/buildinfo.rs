//! The build information the Go linker stores since Go 1.13 (what
//! `go version -m` prints): a 32-byte header starting `\xff Go buildinf:`,
//! then the Go version and the module information. Layout from Go's
//! `debug/buildinfo` and `cmd/go/internal/modload/build.go`.

use serde::Serialize;

pub(super) const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The header is 16-byte aligned and 32 bytes long.
const ALIGN: usize = 16;
const HEADER: usize = 32;
/// Flag bit: the strings follow the header (Go 1.18+) instead of being pointed to.
const INLINE_STRINGS: u8 = 2;

/// What a Go executable says about its own build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildInfo {
    /// `go1.19.8`, or a `devel …` string for an unreleased toolchain.
    pub go_version: String,
    /// The main package's import path (`path` line); `command-line-arguments`
    /// for `go build file.go`.
    pub main_package: Option<String>,
    /// The main module's path (`mod` line); absent outside module mode.
    pub main_module: Option<String>,
    /// The main module's version: `(devel)` for a local build.
    pub main_version: Option<String>,
}

/// Where the header is in `data`: the first 16-byte aligned magic.
pub(super) fn find(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = find_bytes(data.get(from..)?, MAGIC) {
        let at = from + found;
        if at % ALIGN == 0 && data.len() - at >= HEADER {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Parses the header at the start of `data`. Before Go 1.18 the header
/// holds two pointers to Go string headers (`{data, len}`), which
/// `read_at(address, len)` reads from the program's memory image.
pub(super) fn parse(
    data: &[u8],
    read_at: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>,
) -> Option<BuildInfo> {
    if !data.starts_with(MAGIC) || data.len() < HEADER {
        return None;
    }
    let ptr_size = data[14] as usize;
    let flags = data[15];
    let (version, modinfo) = if flags & INLINE_STRINGS != 0 {
        let (version, rest) = varint_string(&data[HEADER..])?;
        let (modinfo, _) = varint_string(rest)?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        let big_endian = flags & 1 != 0;
        let pointer = |at: usize| super::pclntab::read_uint(data, at, ptr_size, big_endian);
        let mut string = |address: u64| -> Option<Vec<u8>> {
            let header = read_at(address, 2 * ptr_size as u64)?;
            let start = super::pclntab::read_uint(&header, 0, ptr_size, big_endian)?;
            let len = super::pclntab::read_uint(&header, ptr_size, ptr_size, big_endian)?;
            // No string in a build header comes near this; a bad pointer might.
            if len > 1 << 20 {
                return None;
            }
            read_at(start, len)
        };
        let version = string(pointer(16)?)?;
        // An executable built outside module mode has an empty module string.
        let modinfo = pointer(16 + ptr_size)
            .and_then(&mut string)
            .unwrap_or_default();
        (version, modinfo)
    };
    let go_version = String::from_utf8_lossy(&version).into_owned();
    if go_version.is_empty() {
        return None;
    }
    let mut info = BuildInfo {
        go_version,
        main_package: None,
        main_module: None,
        main_version: None,
    };
    read_modinfo(&modinfo, &mut info);
    Some(info)
}

/// The module text is wrapped in two 16-byte sentinels (`runtime/debug`
/// finds it in memory by them, and they are not text); inside,
/// tab-separated lines.
fn read_modinfo(modinfo: &[u8], info: &mut BuildInfo) {
    let len = modinfo.len();
    if len < 33 || modinfo[len - 17] != b'\n' {
        return;
    }
    let text = String::from_utf8_lossy(&modinfo[16..len - 16]);
    for line in text.lines() {
        let mut fields = line.split('\t');
        match fields.next() {
            Some("path") => info.main_package = fields.next().map(str::to_string),
            Some("mod") => {
                info.main_module = fields.next().map(str::to_string);
                info.main_version = fields.next().map(str::to_string);
            }
            _ => {}
        }
    }
}

/// A uvarint length, then that many bytes.
fn varint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    for (i, &byte) in data.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let rest = &data[i + 1..];
            let len = usize::try_from(len).ok().filter(|&len| len <= rest.len())?;
            return Some(rest.split_at(len));
        }
    }
    None
}

pub(super) fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
