//! The image's own library search configuration: `/etc/ld.so.cache` (what
//! ld.so consults before the default directories) and `/etc/ld.so.conf`
//! (what ldconfig built the cache from, used when the cache is absent).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::pathwalk::{normalize, resolve};
use super::tree::FsTree;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// magic+version, nlibs, len_strings, flags, padding, extension offset, unused.
const NEW_HEADER_LEN: usize = 20 + 4 + 4 + 1 + 3 + 4 + 12;
/// flags, key, value, osversion, hwcap.
const NEW_ENTRY_LEN: usize = 4 + 4 + 4 + 4 + 8;
/// magic (padded to 12), nlibs.
const OLD_HEADER_LEN: usize = 16;
const OLD_ENTRY_LEN: usize = 12;

/// glibc's `FLAG_ELF_LIBC6` (library type) and the `FLAG_*` arch values in
/// the high byte (`FLAG_REQUIRED_MASK`).
const FLAG_TYPE_MASK: u32 = 0x00ff;
const FLAG_ELF_LIBC6: u32 = 0x0003;
const FLAG_REQUIRED_MASK: u32 = 0xff00;
const FLAG_X8664_LIB64: u32 = 0x0300;
const FLAG_X8664_LIBX32: u32 = 0x0800;
const FLAG_ARM_LIBHF: u32 = 0x0900;
const FLAG_AARCH64_LIB64: u32 = 0x0a00;

pub const EM_386: u16 = 3;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

/// One line of `ldconfig -p`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub soname: Vec<u8>,
    pub path: PathBuf,
    pub flags: u32,
    /// Non-zero for libraries in `glibc-hwcaps` subdirectories, which ld.so
    /// uses only on CPUs that support them.
    pub hwcap: u64,
}

#[derive(Debug, Clone, Default)]
pub struct LdCache {
    /// In file order, which is ld.so's order of preference.
    pub entries: Vec<CacheEntry>,
}

impl LdCache {
    /// The image's `/etc/ld.so.cache`; empty when absent or unreadable,
    /// since ld.so then just falls back to the default directories.
    pub fn load(tree: &dyn FsTree) -> LdCache {
        resolve(tree, Path::new("/etc/ld.so.cache"))
            .and_then(|file| tree.read(&file.path, u64::MAX).ok())
            .and_then(|bytes| Self::parse(&bytes))
            .unwrap_or_default()
    }

    /// Parses the new format, alone or after the old-format section.
    pub fn parse(bytes: &[u8]) -> Option<LdCache> {
        let new_start = if bytes.starts_with(NEW_MAGIC) {
            0
        } else if bytes.starts_with(OLD_MAGIC) {
            let old_libs = u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?) as usize;
            // The new section is aligned like its 8-byte hwcap field.
            (OLD_HEADER_LEN + old_libs * OLD_ENTRY_LEN).next_multiple_of(8)
        } else {
            return None;
        };
        let new = bytes.get(new_start..)?;
        if !new.starts_with(NEW_MAGIC) || new.len() < NEW_HEADER_LEN {
            return None;
        }
        // flags byte: 2 little endian, 3 big endian, 0 written before the byte existed (native).
        let big_endian = new[28] == 3;
        let u32_at = |at: usize| -> Option<u32> {
            let raw: [u8; 4] = new.get(at..at + 4)?.try_into().ok()?;
            Some(if big_endian {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            })
        };
        let u64_at = |at: usize| -> Option<u64> {
            let raw: [u8; 8] = new.get(at..at + 8)?.try_into().ok()?;
            Some(if big_endian {
                u64::from_be_bytes(raw)
            } else {
                u64::from_le_bytes(raw)
            })
        };
        // String offsets count from the start of the new section.
        let string_at = |at: u32| -> Option<&[u8]> {
            let rest = new.get(at as usize..)?;
            Some(&rest[..rest.iter().position(|&b| b == 0)?])
        };
        let libs = u32_at(20)? as usize;
        let mut entries = Vec::with_capacity(libs.min(new.len() / NEW_ENTRY_LEN));
        for index in 0..libs {
            let at = NEW_HEADER_LEN + index * NEW_ENTRY_LEN;
            entries.push(CacheEntry {
                flags: u32_at(at)?,
                soname: string_at(u32_at(at + 4)?)?.to_vec(),
                path: PathBuf::from(OsStr::from_bytes(string_at(u32_at(at + 8)?)?)),
                hwcap: u64_at(at + 16)?,
            });
        }
        Some(LdCache { entries })
    }

    /// Paths the cache gives for `soname` for objects of this class and
    /// machine, baseline entries before hwcap-specific ones.
    pub fn lookup<'a>(
        &'a self,
        soname: &'a [u8],
        class64: bool,
        machine: u16,
    ) -> impl Iterator<Item = &'a Path> + 'a {
        let wanted = cache_arch_flags(class64, machine);
        let matching = move |entry: &&CacheEntry| {
            entry.soname == soname
                && entry.flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6
                && wanted.is_none_or(|flags| entry.flags & FLAG_REQUIRED_MASK == flags)
        };
        let baseline = self
            .entries
            .iter()
            .filter(matching)
            .filter(|entry| entry.hwcap == 0);
        let hwcaps = self
            .entries
            .iter()
            .filter(matching)
            .filter(|entry| entry.hwcap != 0);
        baseline.chain(hwcaps).map(|entry| entry.path.as_path())
    }
}

/// The arch flag ldconfig stores for libraries of this class and machine;
/// `None` for machines whose flag is not modelled here (then the candidate's
/// own ELF header decides).
pub fn cache_arch_flags(class64: bool, machine: u16) -> Option<u32> {
    match (class64, machine) {
        (true, EM_X86_64) => Some(FLAG_X8664_LIB64),
        (false, EM_X86_64) => Some(FLAG_X8664_LIBX32),
        (false, EM_386) => Some(0),
        (true, EM_AARCH64) => Some(FLAG_AARCH64_LIB64),
        (false, EM_ARM) => Some(FLAG_ARM_LIBHF),
        _ => None,
    }
}

/// How deep `include` may nest before the configuration counts as a loop.
const MAX_INCLUDE_DEPTH: usize = 8;

/// The directories listed by the image's `/etc/ld.so.conf`, following
/// `include` lines (a `*`/`?` glob in the last component only), in order
/// and without duplicates.
pub fn ld_so_conf_dirs(tree: &dyn FsTree) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    read_conf(tree, Path::new("/etc/ld.so.conf"), 0, &mut dirs);
    dirs
}

fn read_conf(tree: &dyn FsTree, file: &Path, depth: usize, dirs: &mut Vec<PathBuf>) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Some(bytes) = resolve(tree, file).and_then(|real| tree.read(&real.path, 1 << 20).ok())
    else {
        return;
    };
    let conf_dir = file.parent().unwrap_or(Path::new("/"));
    for raw_line in bytes.split(|&b| b == b'\n') {
        let line = raw_line
            .split(|&b| b == b'#')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if let Some(pattern) = line
            .strip_prefix(b"include")
            .filter(|rest| rest.first().is_some_and(u8::is_ascii_whitespace))
        {
            let pattern = conf_dir.join(OsStr::from_bytes(pattern.trim_ascii()));
            for included in glob(tree, &normalize(&pattern)) {
                read_conf(tree, &included, depth + 1, dirs);
            }
        } else if !line.is_empty() && !line.starts_with(b"hwcap") {
            for dir in line
                .split(|b| b.is_ascii_whitespace() || b",:=".contains(b))
                .filter(|d| !d.is_empty())
            {
                let dir = normalize(Path::new(OsStr::from_bytes(dir)));
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
}

/// The entries of the pattern's directory whose names match its last
/// component, sorted (glob(3) order).
fn glob(tree: &dyn FsTree, pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name_pattern)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let Some(real_dir) = resolve(tree, dir) else {
        return Vec::new();
    };
    tree.list(&real_dir.path)
        .into_iter()
        .filter_map(|entry| entry.file_name().map(|name| dir.join(name)))
        .filter(|entry| {
            entry
                .file_name()
                .is_some_and(|name| wildcard_match(name_pattern.as_bytes(), name.as_bytes()))
        })
        .collect()
}

/// `*` matches any run of bytes, `?` one byte; a leading dot must be matched
/// literally, as in glob(3).
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    fn matches(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
            Some((b'?', rest)) => !name.is_empty() && matches(rest, &name[1..]),
            Some((literal, rest)) => name.first() == Some(literal) && matches(rest, &name[1..]),
        }
    }
    matches(pattern, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;

    /// `ldconfig -p` lines as (soname, arch description, path).
    fn ldconfig_print() -> Vec<(String, String, PathBuf)> {
        let output = std::process::Command::new("ldconfig")
            .arg("-p")
            .output()
            .expect("run ldconfig -p");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (left, path) = line.trim().split_once(" => ")?;
                let (soname, arch) = left.split_once(" (")?;
                Some((
                    soname.to_string(),
                    arch.trim_end_matches(')').to_string(),
                    PathBuf::from(path),
                ))
            })
            .collect()
    }

    #[test]
    fn parses_the_hosts_ld_so_cache_like_ldconfig() {
        let cache = LdCache::load(&HostTree::new("/"));
        let printed = ldconfig_print();
        assert!(
            printed.len() > 10,
            "ldconfig -p printed too little to compare"
        );
        assert_eq!(cache.entries.len(), printed.len());
        for (entry, (soname, arch, path)) in cache.entries.iter().zip(&printed) {
            assert_eq!(entry.soname, soname.as_bytes());
            assert_eq!(&entry.path, path);
            assert_eq!(entry.flags & FLAG_TYPE_MASK, FLAG_ELF_LIBC6, "{soname}");
            let x86_64 = entry.flags & FLAG_REQUIRED_MASK == FLAG_X8664_LIB64;
            assert_eq!(x86_64, arch.contains("x86-64"), "{soname}: {arch}");
        }
        let libc: Vec<&Path> = cache.lookup(b"libc.so.6", true, EM_X86_64).collect();
        let printed_libc = printed
            .iter()
            .find(|(soname, arch, _)| soname == "libc.so.6" && arch.contains("x86-64"));
        assert_eq!(
            libc.first().copied(),
            printed_libc.map(|(_, _, path)| path.as_path())
        );
        assert_eq!(
            cache.lookup(b"libc.so.6", false, EM_386).count(),
            0,
            "no i386 libc on this host"
        );
    }

    #[test]
    fn finds_the_new_format_after_an_old_format_section() {
        let new = std::fs::read("/etc/ld.so.cache").unwrap();
        assert!(
            new.starts_with(NEW_MAGIC),
            "the host cache is expected in the new-only format"
        );
        // Old header (magic padded to 12, nlibs = 1) and one 12-byte entry; the
        // new section then starts at the next multiple of 8 (32).
        let mut combined = b"ld.so-1.7.0\0".to_vec();
        combined.extend_from_slice(&1u32.to_le_bytes());
        combined.extend_from_slice(&[0u8; OLD_ENTRY_LEN]);
        combined.resize(32, 0);
        combined.extend_from_slice(&new);
        let alone = LdCache::parse(&new).unwrap();
        let after_old = LdCache::parse(&combined).unwrap();
        assert!(!alone.entries.is_empty());
        assert_eq!(after_old.entries, alone.entries);
    }

    #[test]
    fn rejects_non_cache_bytes() {
        assert!(LdCache::parse(b"not a cache at all, clearly").is_none());
        assert!(LdCache::parse(NEW_MAGIC).is_none(), "header cut short");
    }

    #[test]
    fn ld_so_conf_follows_include_globs_in_order() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        std::fs::write(
            etc.join("ld.so.conf"),
            "/opt/first # comment\ninclude ld.so.conf.d/*.conf\n/usr/local/lib\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("ld.so.conf.d/b.conf"),
            "/opt/b1\n/opt/b2,/opt/b3\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("ld.so.conf.d/a.conf"),
            "# only a comment\n/opt/a//lib/\n",
        )
        .unwrap();
        std::fs::write(etc.join("ld.so.conf.d/.hidden.conf"), "/opt/hidden\n").unwrap();
        std::fs::write(etc.join("ld.so.conf.d/c.conf.disabled"), "/opt/disabled\n").unwrap();
        let dirs = ld_so_conf_dirs(&HostTree::new(root.path()));
        let expected: Vec<PathBuf> = [
            "/opt/first",
            "/opt/a/lib",
            "/opt/b1",
            "/opt/b2",
            "/opt/b3",
            "/usr/local/lib",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn wildcard_matches_like_glob() {
        assert!(wildcard_match(b"*.conf", b"libc.conf"));
        assert!(!wildcard_match(b"*.conf", b"libc.conf.bak"));
        assert!(!wildcard_match(b"*.conf", b".hidden.conf"));
        assert!(wildcard_match(b"lib?.so", b"libz.so"));
    }
}
