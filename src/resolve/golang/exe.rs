//! Finding the Go build information and pclntab in an ELF file of an
//! image, reading as little of it as the layout allows: Go programs run
//! from 2 to over 100 MB, and [`FsTree::read`] only reads from the start.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use goblin::container::{Ctx, Endian};
use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
use goblin::elf::section_header::SHT_NOBITS;
use goblin::elf::{Header, ProgramHeader, SectionHeader, Sym};
use goblin::strtab::Strtab;

use super::buildinfo::{self, BuildInfo};
use super::pclntab::{find_tables, Pclntab, PclntabFormat};
use crate::image::node::NodeKind;
use crate::resolve::tree::FsTree;

/// Read first from every ELF file: the program headers, the notes and Go's
/// own section headers (its linker writes them right after the program
/// headers) are all in the first page or so.
const HEAD: u64 = 64 * 1024;
/// How much of the data segment Go's `debug/buildinfo` searches for the header.
const BUILDINFO_WINDOW: u64 = 64 * 1024;
/// The note Go's linker adds (`.note.go.buildid`, name "Go").
const GO_NOTE_OWNER: &[u8] = b"Go";
/// Where Go's linker puts the table: its own section, or inside
/// `.data.rel.ro` (as a section of its own when linking a PIE itself).
const PCLNTAB_SECTIONS: &[&str] = &[".gopclntab", ".data.rel.ro.gopclntab"];

/// What rslim reads from one Go executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoExecutable {
    /// `None` for Go before 1.13, which wrote none, or when it is unreadable.
    pub build: Option<BuildInfo>,
    /// `None` when no pclntab was found: then nothing is known about what
    /// the program calls.
    pub pclntab: Option<PclntabFormat>,
    /// How the pclntab was found.
    pub found_by: Option<FoundBy>,
    /// The functions in the program, inlined ones included (Go 1.16+).
    pub functions: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    Section,
    Symbol,
    Search,
}

/// Reads the Go executable at real path `path`; `None` when it is not a
/// regular ELF file or shows no sign of Go.
pub fn read_go_executable(tree: &dyn FsTree, path: &Path) -> Option<GoExecutable> {
    let Some(NodeKind::File { size }) = tree.kind(path) else {
        return None;
    };
    let mut file = Prefix::new(tree, path, size);
    // The magic first: most kept files are not ELF and cost 64 bytes.
    if !file.get(0..64.min(size))?.starts_with(b"\x7fELF") {
        return None;
    }
    file.get(0..HEAD.min(size))?;
    let elf = Layout::read(&mut file)?;
    // Other linkers put the section headers at the end of the file: such a
    // file is only read further when it carries Go's note (so a program
    // linked externally with an empty build ID goes unrecognised).
    if !elf.go_note && elf.section_table_end > HEAD {
        return None;
    }
    file.get(0..elf.loaded_end.max(elf.section_table_end).min(size))?;
    let sections = elf.sections(&mut file);
    let section = |name: &str| {
        sections
            .iter()
            .find(|(found, header)| found == name && header.sh_type != SHT_NOBITS)
            .map(|(_, header)| span(header))
    };
    let build_section = section(".go.buildinfo");
    let build = build_section
        .clone()
        .or_else(|| elf.data_window())
        .and_then(|range| {
            let data = file.get(range)?;
            Some(data[buildinfo::find(data)?..].to_vec())
        })
        .and_then(|header| {
            buildinfo::parse(&header, &mut |address, len| {
                elf.read_memory(&mut file, address, len)
            })
        });
    let table_section = PCLNTAB_SECTIONS.iter().find_map(|name| section(name));
    if !elf.go_note && build.is_none() && build_section.is_none() && table_section.is_none() {
        return None;
    }
    let found = match table_section {
        Some(range) => Some((range, FoundBy::Section)),
        None => elf
            .symbol_range(&mut file, &sections)
            .map(|range| (range, FoundBy::Symbol)),
    };
    let table = match found {
        Some((range, how)) => file
            .get(range)
            .and_then(Pclntab::parse)
            .map(|table| (table.format, how, table.names())),
        None => elf
            .search_pclntab(&mut file)
            .map(|(format, names)| (format, FoundBy::Search, names)),
    };
    let (pclntab, found_by, functions) = match table {
        Some((format, how, names)) => (Some(format), Some(how), names),
        None => (None, None, BTreeSet::new()),
    };
    Some(GoExecutable {
        build,
        pclntab,
        found_by,
        functions,
    })
}

/// The start of a file, read again further when more is needed.
struct Prefix<'t> {
    tree: &'t dyn FsTree,
    path: &'t Path,
    size: u64,
    bytes: Vec<u8>,
}

impl<'t> Prefix<'t> {
    fn new(tree: &'t dyn FsTree, path: &'t Path, size: u64) -> Self {
        Prefix {
            tree,
            path,
            size,
            bytes: Vec::new(),
        }
    }

    /// The bytes in `range`, reading up to its end if not read yet; `None`
    /// past the end of the file.
    fn get(&mut self, range: Range<u64>) -> Option<&[u8]> {
        if range.start > range.end || range.end > self.size {
            return None;
        }
        if range.end > self.bytes.len() as u64 {
            self.bytes = self.tree.read(self.path, range.end).ok()?;
        }
        let range = usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?;
        self.bytes.get(range)
    }
}

/// What the headers say, in file offsets.
struct Layout {
    ctx: Ctx,
    header: Header,
    segments: Vec<ProgramHeader>,
    /// Where the loaded segments' file contents end: nothing past it is
    /// needed unless the section or symbol table lies there.
    loaded_end: u64,
    section_count: usize,
    section_table_end: u64,
    go_note: bool,
}

impl Layout {
    fn read(file: &mut Prefix) -> Option<Layout> {
        let header = goblin::elf::Elf::parse_header(file.get(0..64)?).ok()?;
        let ctx = Ctx::new(header.container().ok()?, header.endianness().ok()?);
        let table = |offset: u64, count: u16, entry: u16| {
            offset..offset.saturating_add(u64::from(count) * u64::from(entry))
        };
        let ph = table(header.e_phoff, header.e_phnum, header.e_phentsize);
        let segments = ProgramHeader::parse(
            file.get(0..ph.end)?,
            ph.start as usize,
            header.e_phnum as usize,
            ctx,
        )
        .ok()?;
        let loaded_end = segments
            .iter()
            .filter(|segment| segment.p_type == PT_LOAD)
            .map(|segment| segment.p_offset.saturating_add(segment.p_filesz))
            .max()
            .unwrap_or(0);
        let sh = table(header.e_shoff, header.e_shnum, header.e_shentsize);
        let section_count = if header.e_shoff == 0 {
            0
        } else {
            header.e_shnum as usize
        };
        let mut layout = Layout {
            ctx,
            header,
            segments,
            loaded_end,
            section_count,
            section_table_end: if section_count == 0 { 0 } else { sh.end },
            go_note: false,
        };
        layout.go_note = layout.has_go_note(file);
        Some(layout)
    }

    /// Whether a PT_NOTE segment in the first [`HEAD`] bytes holds a note
    /// owned by "Go" (the build ID note the go command always asks for).
    fn has_go_note(&self, file: &mut Prefix) -> bool {
        let big_endian = self.ctx.le == Endian::Big;
        let notes: Vec<Range<u64>> = self
            .segments
            .iter()
            .filter(|segment| segment.p_type == PT_NOTE)
            .map(|segment| segment.p_offset..segment.p_offset.saturating_add(segment.p_filesz))
            .filter(|range| range.end <= HEAD)
            .collect();
        notes.into_iter().any(|range| {
            let Some(mut notes) = file.get(range) else {
                return false;
            };
            let word = |bytes: &[u8], at| super::pclntab::read_uint(bytes, at, 4, big_endian);
            while notes.len() >= 12 {
                let (Some(name_size), Some(desc_size)) = (word(notes, 0), word(notes, 4)) else {
                    return false;
                };
                let name_end = 12 + name_size as usize;
                // The name is NUL-terminated and padded: "Go\0\0".
                let name = notes.get(12..name_end).unwrap_or_default();
                if name.split(|&b| b == 0).next() == Some(GO_NOTE_OWNER) {
                    return true;
                }
                let next = 12 + align4(name_size as usize) + align4(desc_size as usize);
                notes = notes.get(next..).unwrap_or_default();
            }
            false
        })
    }

    /// The section headers with their names; empty when they are stripped.
    fn sections(&self, file: &mut Prefix) -> Vec<(String, SectionHeader)> {
        if self.section_count == 0 {
            return Vec::new();
        }
        let headers = file.get(0..self.section_table_end).and_then(|bytes| {
            SectionHeader::parse(
                bytes,
                self.header.e_shoff as usize,
                self.section_count,
                self.ctx,
            )
            .ok()
        });
        let Some(headers) = headers else {
            return Vec::new();
        };
        let names = headers
            .get(self.header.e_shstrndx as usize)
            .map(span)
            .and_then(|range| file.get(range).map(<[u8]>::to_vec))
            .unwrap_or_default();
        let Ok(names) = Strtab::new_preparsed(&names, 0) else {
            return Vec::new();
        };
        headers
            .into_iter()
            .map(|header| {
                let name = names.get_at(header.sh_name).unwrap_or_default().to_string();
                (name, header)
            })
            .collect()
    }

    /// `runtime.pclntab` to `runtime.epclntab` in the symbol table (which
    /// lies near the end of the file: only read when no section names the table).
    fn symbol_range(
        &self,
        file: &mut Prefix,
        sections: &[(String, SectionHeader)],
    ) -> Option<Range<u64>> {
        let (_, symtab) = sections.iter().find(|(name, _)| name == ".symtab")?;
        let (_, strtab) = sections.get(symtab.sh_link as usize)?;
        let count = (symtab.sh_size / symtab.sh_entsize.max(1)) as usize;
        let symbols = Sym::parse(
            file.get(0..span(symtab).end)?,
            symtab.sh_offset as usize,
            count,
            self.ctx,
        )
        .ok()?;
        let names = file.get(span(strtab))?.to_vec();
        let names = Strtab::new_preparsed(&names, 0).ok()?;
        let address = |wanted: &str| {
            symbols
                .iter()
                .find(|symbol| names.get_at(symbol.st_name) == Some(wanted))
                .map(|symbol| symbol.st_value)
        };
        let (start, end) = (address("runtime.pclntab")?, address("runtime.epclntab")?);
        let offset = self.file_offset(start)?;
        (end > start).then(|| offset..offset.saturating_add(end - start))
    }

    /// The first pclntab in a loaded segment whose header and records all
    /// read consistently.
    fn search_pclntab(&self, file: &mut Prefix) -> Option<(PclntabFormat, BTreeSet<String>)> {
        let ranges: Vec<Range<u64>> = self
            .segments
            .iter()
            .filter(|segment| segment.p_type == PT_LOAD)
            .map(|segment| segment.p_offset..segment.p_offset.saturating_add(segment.p_filesz))
            .collect();
        for range in ranges {
            let Some(data) = file.get(range) else {
                continue;
            };
            for at in find_tables(data) {
                let Some(table) = Pclntab::parse(&data[at..]) else {
                    continue;
                };
                if let Some(mut names) = table.function_names() {
                    names.extend(table.scanned_names());
                    return Some((table.format, names));
                }
            }
        }
        None
    }

    /// The first 64 KiB of the first writable segment, where Go's linker
    /// puts the build information first (`debug/buildinfo` looks there too).
    fn data_window(&self) -> Option<Range<u64>> {
        let data = self.segments.iter().find(|segment| {
            segment.p_type == PT_LOAD && segment.is_write() && !segment.is_executable()
        })?;
        let len = data.p_filesz.min(BUILDINFO_WINDOW);
        Some(data.p_offset..data.p_offset.saturating_add(len))
    }

    /// The file offset of virtual address `address`, in a loaded segment.
    fn file_offset(&self, address: u64) -> Option<u64> {
        self.segments
            .iter()
            .filter(|segment| segment.p_type == PT_LOAD)
            .find(|segment| {
                address >= segment.p_vaddr && address - segment.p_vaddr < segment.p_filesz
            })
            .map(|segment| segment.p_offset + (address - segment.p_vaddr))
    }

    /// `len` bytes of the program's memory image at `address`.
    fn read_memory(&self, file: &mut Prefix, address: u64, len: u64) -> Option<Vec<u8>> {
        let start = self.file_offset(address)?;
        file.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
    }
}

fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Where a section's contents are in the file.
fn span(section: &SectionHeader) -> Range<u64> {
    section.sh_offset..section.sh_offset.saturating_add(section.sh_size)
}
