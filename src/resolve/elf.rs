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
    let bytes = tree.read(&real, size).ok()?;
    let elf = goblin::elf::Elf::parse(&bytes).ok()?;
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
