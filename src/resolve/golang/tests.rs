//! The formats: pclntab, build information, and finding them in ELF files.

use std::cell::RefCell;
use std::io;
use std::os::unix::fs::symlink;

use super::synthetic::{elf, pclntab, poke, Locate, Spec};
use super::*;
use crate::resolve::tree::{FsTree, HostTree};

const FORMATS: [PclntabFormat; 4] = PclntabFormat::ALL;

pub(super) fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn every_format_reads_back_its_function_names() {
    let functions = [
        "runtime.main",
        "main.main",
        "time.LoadLocation",
        "ünicode.Fünc",
    ];
    for format in FORMATS {
        for ptr_size in [4, 8] {
            for big_endian in [false, true] {
                let bytes = pclntab(format, ptr_size, big_endian, &functions, &["pkg.inlined"]);
                let case = format!("{format:?} ptr {ptr_size} big-endian {big_endian}");
                let table = Pclntab::parse(&bytes).expect(&case);
                assert_eq!(table.format, format, "{case}");
                assert_eq!(table.function_count(), 4, "{case}");
                assert_eq!(table.function_names(), Some(set(&functions)), "{case}");
                let mut all = set(&functions);
                all.insert("pkg.inlined".into());
                if format == PclntabFormat::Go12 {
                    // The pre-1.16 scan keeps only ASCII symbol-like strings.
                    all.remove("ünicode.Fünc");
                    assert_eq!(table.scanned_names(), all, "{case}");
                    all.insert("ünicode.Fünc".into());
                } else {
                    assert_eq!(table.scanned_names(), all, "{case}");
                }
                assert_eq!(table.names(), all, "{case}");
            }
        }
    }
}

#[test]
fn the_pre_1_16_scan_leaves_out_file_names() {
    let files = ["/usr/local/go/src/time/zoneinfo.go", "runtime/asm_amd64.s"];
    let bytes = pclntab(PclntabFormat::Go12, 8, false, &["a.b"], &files);
    let table = Pclntab::parse(&bytes).unwrap();
    assert_eq!(table.names(), set(&["a.b"]));
}

#[test]
fn a_record_that_disagrees_with_the_table_fails_the_walk() {
    for format in [PclntabFormat::Go116, PclntabFormat::Go120] {
        let mut bytes = pclntab(format, 8, false, &["a.one", "a.two"], &[]);
        let table = Pclntab::parse(&bytes).unwrap();
        assert!(table.function_names().is_some());
        // The functab's offset is the header's last word.
        let (word, field) = match format {
            PclntabFormat::Go116 => (6, 8),
            _ => (7, 4),
        };
        let at = 8 + word * 8;
        let functab = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        // The second entry's PC: before the first (1.16), or not its record's (1.20).
        poke(&mut bytes, functab + 2 * field, 0x7, false);
        let table = Pclntab::parse(&bytes).unwrap();
        assert_eq!(table.function_names(), None, "{format:?}");
        // The name table still answers.
        assert_eq!(table.names(), set(&["a.one", "a.two"]), "{format:?}");
    }
}

#[test]
fn implausible_headers_are_rejected() {
    let good = pclntab(PclntabFormat::Go118, 8, false, &["a.b"], &[]);
    assert!(Pclntab::parse(&good).is_some());
    let broken = |at: usize, byte: u8| {
        let mut bytes = good.clone();
        bytes[at] = byte;
        Pclntab::parse(&bytes).is_none()
    };
    assert!(broken(0, 0xfc), "unknown magic");
    assert!(broken(4, 1), "padding");
    assert!(broken(6, 3), "pc quantum");
    assert!(broken(7, 5), "pointer size");
    assert!(broken(8, 0), "no functions");
    assert!(broken(8, 0xff), "more functions than fit");
    // funcnametab after cutab.
    assert!(broken(8 + 3 * 8, 0xf0), "offsets out of order");
    assert!(
        Pclntab::parse(&good[..good.len() / 2]).is_none(),
        "truncated"
    );
    assert!(
        Pclntab::parse(&good[..7]).is_none(),
        "shorter than a header"
    );
}

/// An image tree in a temporary directory, with the reads it serves counted.
pub(super) struct Image {
    pub root: tempfile::TempDir,
    /// The largest read of each file, by path.
    reads: RefCell<BTreeMap<PathBuf, u64>>,
}

impl Image {
    pub fn new() -> Image {
        Image {
            root: tempfile::tempdir().unwrap(),
            reads: RefCell::default(),
        }
    }

    pub fn write(&self, path: &str, bytes: &[u8]) -> &Self {
        let at = self.root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, bytes).unwrap();
        self
    }

    pub fn dir(&self, path: &str) -> &Self {
        std::fs::create_dir_all(self.root.path().join(path.trim_start_matches('/'))).unwrap();
        self
    }

    pub fn link(&self, path: &str, target: &str) -> &Self {
        let at = self.root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(target, at).unwrap();
        self
    }

    fn host(&self) -> HostTree {
        HostTree::new(self.root.path())
    }

    pub fn most_read(&self, path: &str) -> u64 {
        self.reads
            .borrow()
            .get(Path::new(path))
            .copied()
            .unwrap_or(0)
    }
}

impl FsTree for Image {
    fn kind(&self, path: &Path) -> Option<NodeKind> {
        self.host().kind(path)
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let mut reads = self.reads.borrow_mut();
        let most = reads.entry(path.to_path_buf()).or_default();
        *most = (*most).max(limit);
        self.host().read(path, limit)
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        self.host().list(dir)
    }
}

fn read(spec: &Spec) -> Option<GoExecutable> {
    let image = Image::new();
    image.write("/app", &elf(spec));
    read_go_executable(&image, Path::new("/app"))
}

#[test]
fn the_table_is_found_by_section_by_symbol_and_by_search() {
    let functions = ["main.main", "time.LoadLocation"];
    for class64 in [true, false] {
        for big_endian in [false, true] {
            for locate in [Locate::Section, Locate::Symbol, Locate::Stripped] {
                for format in FORMATS {
                    let spec = Spec {
                        class64,
                        big_endian,
                        format,
                        locate,
                        ..Spec::new(&functions)
                    };
                    let case = format!("{spec:?}");
                    let exe = read(&spec).expect(&case);
                    let how = match locate {
                        Locate::Section => FoundBy::Section,
                        Locate::Symbol => FoundBy::Symbol,
                        Locate::Stripped => FoundBy::Search,
                    };
                    assert_eq!(exe.found_by, Some(how), "{case}");
                    assert_eq!(exe.pclntab, Some(format), "{case}");
                    assert_eq!(exe.functions, set(&functions), "{case}");
                    assert_eq!(exe.build.unwrap().go_version, "go1.22.1", "{case}");
                }
            }
        }
    }
}

#[test]
fn build_info_reads_in_both_layouts() {
    for inline_build_info in [true, false] {
        for (class64, big_endian) in [(true, false), (false, true)] {
            let spec = Spec {
                inline_build_info,
                class64,
                big_endian,
                go_version: "go1.16.3",
                ..Spec::new(&["main.main"])
            };
            let case = format!("{spec:?}");
            assert_eq!(
                read(&spec).and_then(|exe| exe.build),
                Some(BuildInfo {
                    go_version: "go1.16.3".into(),
                    main_package: Some("example.com/app/cmd/app".into()),
                    main_module: Some("example.com/app".into()),
                    main_version: Some("(devel)".into()),
                }),
                "{case}"
            );
        }
    }
    // Built outside module mode: no module lines at all.
    let spec = Spec {
        modinfo: "",
        ..Spec::new(&["main.main"])
    };
    let build = read(&spec).and_then(|exe| exe.build).unwrap();
    assert_eq!((build.main_package, build.main_module), (None, None));
}

#[test]
fn a_go_program_without_a_readable_table_is_still_recognised() {
    let spec = Spec {
        no_table: true,
        ..Spec::new(&["main.main"])
    };
    let exe = read(&spec).unwrap();
    assert_eq!((exe.pclntab, exe.functions.len()), (None, 0));
    assert!(exe.build.is_some());
}

#[test]
fn other_files_are_not_go_and_are_read_only_at_their_head() {
    let image = Image::new();
    // The host's own programs: section headers at the end, no Go note.
    let bash = std::fs::read("/bin/bash").unwrap();
    image.write("/bin/bash", &bash);
    image.write("/etc/hosts", &b"127.0.0.1 localhost\n".repeat(10));
    image.write("/empty", b"");
    image.write("/short.elf", b"\x7fELF\x02\x01\x01");
    let mut garbage = b"\x7fELF\x02\x01\x01".to_vec();
    garbage.resize(4096, 0xff);
    image.write("/garbage.elf", &garbage);
    for path in [
        "/bin/bash",
        "/etc/hosts",
        "/empty",
        "/short.elf",
        "/garbage.elf",
    ] {
        assert_eq!(read_go_executable(&image, Path::new(path)), None, "{path}");
    }
    assert_eq!(image.most_read("/etc/hosts"), 64, "only the magic");
    assert!(image.most_read("/bin/bash") <= 64 * 1024);
    assert!(bash.len() > 64 * 1024, "the check above means something");
    // Not a regular file.
    assert_eq!(read_go_executable(&image, Path::new("/")), None);
}
