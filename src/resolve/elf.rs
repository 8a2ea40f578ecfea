//! What one ELF file asks of the dynamic loader (interpreter, needed
//! sonames, search paths), and the loader's search directories for it.

use std::path::{Path, PathBuf};

use super::ldcache::{EM_386, EM_AARCH64, EM_ARM, EM_X86_64};
use super::pathwalk::{normalize, resolve};
use super::tree::FsTree;
use crate::image::node::NodeKind;

const EM_PPC64: u16 = 21;
const EM_S390: u16 = 22;
const EM_RISCV: u16 = 243;

/// The dynamic-loading facts of one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// PT_INTERP, as written in the file.
    pub interpreter: Option<PathBuf>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RPATH entries, split at `:`, before `$ORIGIN` expansion.
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries, split at `:`, before `$ORIGIN` expansion.
    pub runpath: Vec<String>,
    pub soname: Option<String>,
    pub class64: bool,
    pub machine: u16,
    /// Undefined dynamic symbols (what it calls in other objects), sorted:
    /// runtime rules look for `getpwnam`, `iconv_open`, `setlocale` there.
    pub imports: Vec<String>,
}

impl ElfInfo {
    pub fn imports(&self, symbol: &str) -> bool {
        self.imports
            .binary_search_by(|name| name.as_str().cmp(symbol))
            .is_ok()
    }
}

/// The class and machine of the ELF at real path `path`, from its first
/// 20 bytes only; `None` for anything that is not an ELF file.
pub fn elf_identity(tree: &dyn FsTree, path: &Path) -> Option<(bool, u16)> {
    let head = tree.read(path, 20).ok()?;
    if head.len() < 20 || !head.starts_with(b"\x7fELF") {
        return None;
    }
    let class64 = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let machine = match head[5] {
        1 => u16::from_le_bytes([head[18], head[19]]),
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => return None,
    };
    Some((class64, machine))
}

/// Parses the ELF file at `path` (symlinks are followed); `None` when it is
/// missing, not a regular file, or not ELF.
pub fn read_elf_info(tree: &dyn FsTree, path: &Path) -> Option<ElfInfo> {
    let real = resolve(tree, path)?.path;
    let Some(NodeKind::File { size }) = tree.kind(&real) else {
        return None;
    };
    // Checking the magic first avoids reading large data files whole.
    elf_identity(tree, &real)?;
    if size > READ_WHOLE_UP_TO {
        if let Some(info) = dynamic_parts(tree, &real, size).and_then(|image| elf_info(&image)) {
            return Some(info);
        }
    }
    elf_info(&tree.read(&real, size).ok()?)
}

/// ELF files up to this size are read whole; larger ones only in the parts
/// dynamic loading reads (most of a binary is code and data).
const READ_WHOLE_UP_TO: u64 = 256 << 10;
/// The first read of a large ELF: the file header, and nearly always the
/// program headers and the dynamic-linking sections of the first segment.
const ELF_HEAD: u64 = 64 << 10;

/// An image of the file as long as it, holding only what [`elf_info`]
/// reads: the headers, the section table and its names, `PT_INTERP`,
/// `PT_DYNAMIC`, and the sections of dynamic symbols, their strings, hash
/// tables, versions and relocations; zeros elsewhere (pages never written,
/// so they cost no memory). `None` when a part the dynamic section names
/// lies outside what was read (no section table, an odd layout): the file
/// is then read whole. Each part is a request of its own to the walker
/// instead of the whole file: a few kB against megabytes.
fn dynamic_parts(tree: &dyn FsTree, path: &Path, size: u64) -> Option<Vec<u8>> {
    use goblin::container::Ctx;
    use goblin::elf::dynamic::Dynamic;
    use goblin::elf::program_header::{ProgramHeader, PT_DYNAMIC, PT_INTERP};
    use goblin::elf::section_header::{self as sh, SectionHeader};

    let mut image = vec![0u8; usize::try_from(size).ok()?];
    let mut filled: Vec<(u64, u64)> = Vec::new();
    let mut fill = |image: &mut Vec<u8>, offset: u64, len: u64| -> Option<()> {
        let end = offset.checked_add(len).filter(|&end| end <= size)?;
        if len == 0 || filled.iter().any(|&(s, e)| s <= offset && end <= e) {
            return Some(());
        }
        let bytes = tree.read_at(path, offset, len).ok()?;
        (bytes.len() as u64 == len).then_some(())?;
        image[offset as usize..end as usize].copy_from_slice(&bytes);
        filled.push((offset, end));
        Some(())
    };
    fill(&mut image, 0, ELF_HEAD.min(size))?;
    let header = goblin::elf::Elf::parse_header(&image).ok()?;
    let ctx = Ctx::new(header.container().ok()?, header.endianness().ok()?);
    let table = |offset: u64, count: u16, entry: u16| (offset, u64::from(count) * u64::from(entry));
    let (offset, len) = table(header.e_phoff, header.e_phnum, header.e_phentsize);
    fill(&mut image, offset, len)?;
    let (offset, len) = table(header.e_shoff, header.e_shnum, header.e_shentsize);
    if len == 0 {
        return None;
    }
    fill(&mut image, offset, len)?;
    let segments =
        ProgramHeader::parse(&image, header.e_phoff as usize, header.e_phnum.into(), ctx).ok()?;
    for segment in segments
        .iter()
        .filter(|s| matches!(s.p_type, PT_INTERP | PT_DYNAMIC))
    {
        fill(&mut image, segment.p_offset, segment.p_filesz)?;
    }
    let sections =
        SectionHeader::parse(&image, header.e_shoff as usize, header.e_shnum.into(), ctx).ok()?;
    let mut wanted = vec![usize::from(header.e_shstrndx)];
    for (index, section) in sections.iter().enumerate() {
        match section.sh_type {
            sh::SHT_DYNSYM => wanted.extend([index, section.sh_link as usize]),
            sh::SHT_DYNAMIC
            | sh::SHT_GNU_HASH
            | sh::SHT_HASH
            | sh::SHT_GNU_VERSYM
            | sh::SHT_GNU_VERDEF
            | sh::SHT_GNU_VERNEED
            | sh::SHT_RELA
            | sh::SHT_REL => wanted.push(index),
            _ => {}
        }
    }
    for section in wanted.iter().filter_map(|&index| sections.get(index)) {
        if section.sh_type != sh::SHT_NOBITS {
            fill(&mut image, section.sh_offset, section.sh_size)?;
        }
    }
    // What the dynamic section points at must have been read.
    if let Some(dynamic) = Dynamic::parse(&image, &segments, ctx).ok()? {
        let info = &dynamic.info;
        let read = |offset: usize, len: usize| {
            let (start, end) = (offset as u64, (offset + len) as u64);
            len == 0 || filled.iter().any(|&(s, e)| s <= start && end <= e)
        };
        let tables = [
            (info.strtab, info.strsz),
            (info.symtab, 1),
            (info.rela, info.relasz),
            (info.rel, info.relsz),
            (info.jmprel, info.pltrelsz),
            (
                info.gnu_hash.unwrap_or(0) as usize,
                usize::from(info.gnu_hash.is_some()),
            ),
            (
                info.hash.unwrap_or(0) as usize,
                usize::from(info.hash.is_some()),
            ),
        ];
        if !tables.iter().all(|&(offset, len)| read(offset, len)) {
            return None;
        }
    }
    Some(image)
}

/// What dynamic loading reads from an ELF file's bytes.
fn elf_info(bytes: &[u8]) -> Option<ElfInfo> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let split = |entries: &[&str]| -> Vec<String> {
        entries
            .iter()
            .flat_map(|entry| entry.split(':'))
            .filter(|dir| !dir.is_empty())
            .map(str::to_string)
            .collect()
    };
    Some(ElfInfo {
        interpreter: elf.interpreter.map(PathBuf::from),
        needed: elf.libraries.iter().map(|name| name.to_string()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
        soname: elf.soname.map(str::to_string),
        class64: elf.is_64,
        machine: elf.header.e_machine,
        imports: undefined_symbols(&elf),
    })
}

fn undefined_symbols(elf: &goblin::elf::Elf) -> Vec<String> {
    let mut names: Vec<String> = elf
        .dynsyms
        .iter()
        .filter(|sym| sym.st_shndx == goblin::elf::section_header::SHN_UNDEF as usize)
        .filter_map(|sym| elf.dynstrtab.get_at(sym.st_name))
        // `getpwnam@GLIBC_2.2.5` style names carry no version in dynstr.
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The Debian multiarch triplet for objects of this class and machine.
pub fn multiarch_triplet(class64: bool, machine: u16) -> Option<&'static str> {
    Some(match (class64, machine) {
        (true, EM_X86_64) => "x86_64-linux-gnu",
        (false, EM_X86_64) => "x86_64-linux-gnux32",
        (false, EM_386) => "i386-linux-gnu",
        (true, EM_AARCH64) => "aarch64-linux-gnu",
        (false, EM_ARM) => "arm-linux-gnueabihf",
        (true, EM_PPC64) => "powerpc64le-linux-gnu",
        (true, EM_S390) => "s390x-linux-gnu",
        (true, EM_RISCV) => "riscv64-linux-gnu",
        _ => return None,
    })
}

/// What `$PLATFORM` means for this machine. ld.so takes it from the
/// kernel's AT_PLATFORM, which can name the CPU model (`haswell`); the
/// architecture name is what a static analysis can know.
fn platform(class64: bool, machine: u16) -> &'static str {
    match (class64, machine) {
        (_, EM_X86_64) => "x86_64",
        (false, EM_386) => "i686",
        (true, EM_AARCH64) => "aarch64",
        (false, EM_ARM) => "v7l",
        (true, EM_PPC64) => "power8",
        (true, EM_S390) => "z900",
        (true, EM_RISCV) => "riscv64",
        _ => "unknown",
    }
}

/// ld.so's built-in search directories, searched last: the multiarch
/// directories first (Debian), then the lib64 (Fedora) and plain ones.
pub fn default_dirs(class64: bool, machine: u16) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(triplet) = multiarch_triplet(class64, machine) {
        dirs.push(Path::new("/lib").join(triplet));
        dirs.push(Path::new("/usr/lib").join(triplet));
    }
    if class64 {
        dirs.push(PathBuf::from("/lib64"));
        dirs.push(PathBuf::from("/usr/lib64"));
    }
    dirs.push(PathBuf::from("/lib"));
    dirs.push(PathBuf::from("/usr/lib"));
    dirs
}

/// Values for the dynamic string tokens of one object.
pub struct Tokens<'a> {
    /// Directory of the object's real path.
    pub origin: &'a Path,
    pub class64: bool,
    pub machine: u16,
    /// Whether the image uses multiarch directories, which makes Debian's
    /// ld.so expand `$LIB` to `lib/<triplet>`.
    pub multiarch: bool,
}

impl Tokens<'_> {
    fn lib(&self) -> String {
        match multiarch_triplet(self.class64, self.machine) {
            Some(triplet) if self.multiarch => format!("lib/{triplet}"),
            _ if self.class64 => "lib64".to_string(),
            _ => "lib".to_string(),
        }
    }

    /// `entry` with `$ORIGIN`, `$LIB` and `$PLATFORM` (also in `${...}`
    /// form) replaced, as an absolute normalised path. A relative result is
    /// relative to the process's working directory, taken as `/`.
    pub fn expand(&self, entry: &str) -> PathBuf {
        let mut expanded = String::with_capacity(entry.len());
        let mut rest = entry;
        while let Some(dollar) = rest.find('$') {
            expanded.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            let (name, after) = match rest
                .strip_prefix('{')
                .and_then(|braced| braced.split_once('}'))
            {
                Some((name, after)) => (name, after),
                None => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                }
            };
            match name {
                "ORIGIN" => expanded.push_str(&self.origin.to_string_lossy()),
                "LIB" => expanded.push_str(&self.lib()),
                "PLATFORM" => expanded.push_str(platform(self.class64, self.machine)),
                // Unknown tokens stay as written, like ld.so's literal use of them.
                other => {
                    expanded.push('$');
                    expanded.push_str(other);
                }
            }
            rest = after;
        }
        expanded.push_str(rest);
        normalize(Path::new(&expanded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;

    #[test]
    fn reads_the_hosts_bash() {
        let tree = HostTree::new("/");
        let info = read_elf_info(&tree, Path::new("/bin/bash")).expect("bash is ELF");
        assert!(info.class64);
        assert_eq!(info.machine, EM_X86_64);
        assert_eq!(
            info.interpreter,
            Some(PathBuf::from("/lib64/ld-linux-x86-64.so.2"))
        );
        assert!(
            info.needed.contains(&"libc.so.6".to_string()),
            "{:?}",
            info.needed
        );
        assert_eq!(read_elf_info(&tree, Path::new("/etc/passwd")), None);
        assert_eq!(read_elf_info(&tree, Path::new("/nonexistent/bin")), None);
    }

    /// Counts the bytes read through it.
    struct Counting {
        tree: HostTree,
        bytes: std::cell::Cell<u64>,
    }

    impl FsTree for Counting {
        fn kind(&self, path: &Path) -> Option<NodeKind> {
            self.tree.kind(path)
        }
        fn read(&self, path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
            let bytes = self.tree.read(path, limit)?;
            self.bytes.set(self.bytes.get() + bytes.len() as u64);
            Ok(bytes)
        }
        fn read_at(&self, path: &Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Seek};
            let mut file = std::fs::File::open(path)?;
            file.seek(std::io::SeekFrom::Start(offset))?;
            let mut bytes = Vec::new();
            file.take(len).read_to_end(&mut bytes)?;
            self.bytes.set(self.bytes.get() + bytes.len() as u64);
            Ok(bytes)
        }
        fn list(&self, dir: &Path) -> Vec<PathBuf> {
            self.tree.list(dir)
        }
    }

    /// The parts read of every large ELF file of the host's system
    /// directories say what the whole file says, for a fraction of its bytes.
    #[test]
    fn the_dynamic_parts_of_large_elf_files_say_what_the_whole_files_say() {
        let tree = Counting {
            tree: HostTree::new("/"),
            bytes: std::cell::Cell::new(0),
        };
        let (mut compared, mut in_parts, mut whole_bytes) = (0, 0, 0u64);
        for dir in [
            "/usr/bin",
            "/usr/sbin",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/libexec",
        ] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() || meta.len() <= READ_WHOLE_UP_TO {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let Some(whole) = bytes
                    .starts_with(b"\x7fELF")
                    .then(|| elf_info(&bytes))
                    .flatten()
                else {
                    continue;
                };
                compared += 1;
                if let Some(parts) = dynamic_parts(&tree, &path, meta.len()) {
                    in_parts += 1;
                    whole_bytes += meta.len();
                    assert_eq!(elf_info(&parts), Some(whole), "{}", path.display());
                }
            }
        }
        println!(
            "{in_parts} of {compared} large ELF files read in parts: {} of {whole_bytes} bytes",
            tree.bytes.get()
        );
        assert!(
            compared >= 20,
            "only {compared} large ELF files on this host"
        );
        assert!(
            in_parts * 10 >= compared * 9,
            "only {in_parts} of {compared} were read in parts"
        );
        assert!(
            tree.bytes.get() * 4 < whole_bytes,
            "the parts were {} bytes of {whole_bytes}",
            tree.bytes.get()
        );
    }

    #[test]
    fn expands_dynamic_string_tokens() {
        let tokens = Tokens {
            origin: Path::new("/app/bin"),
            class64: true,
            machine: EM_X86_64,
            multiarch: true,
        };
        assert_eq!(tokens.expand("$ORIGIN/../lib"), PathBuf::from("/app/lib"));
        assert_eq!(
            tokens.expand("${ORIGIN}/x/$LIB"),
            PathBuf::from("/app/bin/x/lib/x86_64-linux-gnu")
        );
        assert_eq!(
            tokens.expand("/opt/$PLATFORM/${LIB}"),
            PathBuf::from("/opt/x86_64/lib/x86_64-linux-gnu")
        );
        assert_eq!(
            tokens.expand("/opt/$UNKNOWN"),
            PathBuf::from("/opt/$UNKNOWN")
        );
        let plain = Tokens {
            multiarch: false,
            ..tokens
        };
        assert_eq!(plain.expand("/opt/$LIB"), PathBuf::from("/opt/lib64"));
    }
}
