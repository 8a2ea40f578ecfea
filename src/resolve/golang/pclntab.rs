//! Function names from a Go program's pclntab, the table the runtime itself
//! uses for stack traces: it survives `-ldflags=-s -w`, which drops only the
//! ELF symbol table and DWARF. Layouts from Go's `runtime/symtab.go`,
//! `cmd/link/internal/ld/pcln.go` and `debug/gosym`.

use std::collections::BTreeSet;
use std::ops::Range;

use serde::Serialize;

/// The pclntab header layouts, named after the first Go release that wrote each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PclntabFormat {
    /// Magic 0xfffffffb, Go 1.2–1.15: names live among the function records.
    Go12,
    /// Magic 0xfffffffa, Go 1.16–1.17: separate name table, absolute entry PCs.
    Go116,
    /// Magic 0xfffffff0, Go 1.18–1.19: entries become 32-bit offsets from the text start.
    Go118,
    /// Magic 0xfffffff1, Go 1.20 and later: the 1.18 layout (the text start word is unused).
    Go120,
}

impl PclntabFormat {
    pub const ALL: [PclntabFormat; 4] = [
        PclntabFormat::Go12,
        PclntabFormat::Go116,
        PclntabFormat::Go118,
        PclntabFormat::Go120,
    ];

    pub fn magic(self) -> u32 {
        match self {
            PclntabFormat::Go12 => 0xffff_fffb,
            PclntabFormat::Go116 => 0xffff_fffa,
            PclntabFormat::Go118 => 0xffff_fff0,
            PclntabFormat::Go120 => 0xffff_fff1,
        }
    }

    fn from_magic(magic: u32) -> Option<PclntabFormat> {
        Self::ALL.into_iter().find(|format| format.magic() == magic)
    }

    /// 1.18 made entry PCs 32-bit offsets (functab fields and `_func.entryOff`).
    fn relative_entries(self) -> bool {
        self >= PclntabFormat::Go118
    }
}

/// A parsed pclntab header over the table's bytes.
#[derive(Debug, Clone)]
pub struct Pclntab<'a> {
    data: &'a [u8],
    pub format: PclntabFormat,
    big_endian: bool,
    ptr_size: usize,
    nfunc: usize,
    /// Where `_func.nameOff` counts from.
    names_base: usize,
    /// The name table (1.16+); before 1.16 names are spread through the table.
    name_table: Option<Range<usize>>,
    functab: usize,
    /// Where a functab entry's record offset counts from.
    records_base: usize,
}

impl<'a> Pclntab<'a> {
    /// Parses the header at the start of `data` (which may run past the
    /// table's end) in either byte order; `None` unless every field is
    /// plausible: the checks `debug/gosym` makes, plus offsets that fit.
    pub fn parse(data: &'a [u8]) -> Option<Pclntab<'a>> {
        let head = data.get(..8)?;
        let magic = u32::from_le_bytes(head[..4].try_into().ok()?);
        let (format, big_endian) = match PclntabFormat::from_magic(magic) {
            Some(format) => (format, false),
            None => (PclntabFormat::from_magic(magic.swap_bytes())?, true),
        };
        let (pad, quantum, ptr_size) = (&head[4..6], head[6], head[7] as usize);
        if pad != [0, 0] || ![1, 2, 4].contains(&quantum) || ![4, 8].contains(&ptr_size) {
            return None;
        }
        let mut table = Pclntab {
            data,
            format,
            big_endian,
            ptr_size,
            nfunc: 0,
            names_base: 0,
            name_table: None,
            functab: 0,
            records_base: 0,
        };
        let word = |i: usize| table.uint(8 + i * ptr_size, ptr_size);
        let nfunc = usize::try_from(word(0)?).ok()?;
        match format {
            PclntabFormat::Go12 => {
                table.functab = 8 + ptr_size;
            }
            PclntabFormat::Go116 | PclntabFormat::Go118 | PclntabFormat::Go120 => {
                // 1.18 inserted the text start as word 2; the rest shifted by one.
                let first = if format == PclntabFormat::Go116 { 2 } else { 3 };
                let offsets = (first..first + 5)
                    .map(|i| usize::try_from(word(i)?).ok())
                    .collect::<Option<Vec<usize>>>()?;
                // funcnametab, cutab, filetab, pctab, pclntab: written in this order.
                let header_end = 8 + (first + 5) * ptr_size;
                if offsets[0] < header_end
                    || offsets.windows(2).any(|pair| pair[0] > pair[1])
                    || offsets[4] > data.len()
                {
                    return None;
                }
                table.names_base = offsets[0];
                table.name_table = Some(offsets[0]..offsets[1]);
                table.functab = offsets[4];
                table.records_base = offsets[4];
            }
        }
        let functab_len = nfunc.checked_mul(2)?.checked_add(1)? * table.field_size();
        if nfunc == 0 || table.functab.checked_add(functab_len)? > data.len() {
            return None;
        }
        table.nfunc = nfunc;
        Some(table)
    }

    /// How many functions the function table lists.
    pub fn function_count(&self) -> usize {
        self.nfunc
    }

    /// The names of the functions the table lists, read through each
    /// function's record; `None` if any record disagrees with the table
    /// (entry PCs out of order, a record naming another entry, a name out
    /// of bounds), which is how a false magic match shows.
    pub fn function_names(&self) -> Option<BTreeSet<String>> {
        let field = self.field_size();
        let entry_field = if self.format.relative_entries() {
            4
        } else {
            self.ptr_size
        };
        let mut names = BTreeSet::new();
        let mut previous = 0;
        for i in 0..self.nfunc {
            let entry = self.uint(self.functab + 2 * i * field, field)?;
            let record_offset = self.uint(self.functab + (2 * i + 1) * field, field)?;
            let record = self
                .records_base
                .checked_add(usize::try_from(record_offset).ok()?)?;
            if entry < previous || self.uint(record, entry_field)? != entry {
                return None;
            }
            previous = entry;
            let name_offset = self.uint(record + entry_field, 4)?;
            let start = self
                .names_base
                .checked_add(usize::try_from(name_offset).ok()?)?;
            if let Some(table) = &self.name_table {
                if !table.contains(&start) {
                    return None;
                }
            }
            names.insert(self.c_string(start)?);
        }
        Some(names)
    }

    /// Every NUL-terminated string in the name table. Since 1.16 that table
    /// also holds the names of functions inlined into others, which have no
    /// record of their own. Before 1.16 there is no separate table: the
    /// strings between the records that look like Go symbols are taken.
    pub fn scanned_names(&self) -> BTreeSet<String> {
        let (range, filter) = match &self.name_table {
            Some(table) => (table.clone(), false),
            None => {
                let functab_end = self.functab + (2 * self.nfunc + 1) * self.field_size();
                (functab_end..self.data.len(), true)
            }
        };
        let Some(bytes) = self.data.get(range) else {
            return BTreeSet::new();
        };
        bytes
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .filter(|name| !filter || looks_like_symbol(name))
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    }

    /// The functions the program contains: the records' names, plus the
    /// name table's (inlined callees) when the records read consistently;
    /// the scan alone when they do not.
    pub fn names(&self) -> BTreeSet<String> {
        let mut names = self.function_names().unwrap_or_default();
        names.extend(self.scanned_names());
        names
    }

    fn field_size(&self) -> usize {
        if self.format.relative_entries() {
            4
        } else {
            self.ptr_size
        }
    }

    fn uint(&self, at: usize, size: usize) -> Option<u64> {
        read_uint(self.data, at, size, self.big_endian)
    }

    fn c_string(&self, start: usize) -> Option<String> {
        let rest = self.data.get(start..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..len]).into_owned())
    }
}

/// An unsigned integer of `size` bytes (4 or 8) at `at`.
pub(super) fn read_uint(data: &[u8], at: usize, size: usize, big_endian: bool) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(size)?)?;
    Some(match (size, big_endian) {
        (4, false) => u32::from_le_bytes(bytes.try_into().ok()?) as u64,
        (4, true) => u32::from_be_bytes(bytes.try_into().ok()?) as u64,
        (8, false) => u64::from_le_bytes(bytes.try_into().ok()?),
        (8, true) => u64::from_be_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

/// A Go symbol name: printable ASCII with a package qualifier (`time.Now`,
/// `net/http.(*Server).Serve`), not a source file name (`/src/time/zoneinfo.go`,
/// `runtime/asm_amd64.s`). Filters the pre-1.16 scan, whose strings sit
/// between binary records and file names; non-ASCII names are found by the
/// record walk.
fn looks_like_symbol(bytes: &[u8]) -> bool {
    bytes.len() >= 3
        && bytes.contains(&b'.')
        && bytes.iter().all(|b| b.is_ascii_graphic())
        && !bytes.starts_with(b"/")
        && !bytes.ends_with(b".go")
        && !bytes.ends_with(b".s")
}

/// Offsets in `data` where a pclntab header of either byte order parses,
/// at 4-byte alignment (the linker aligns the table at least that much).
pub(super) fn find_tables(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (0..data.len().saturating_sub(8))
        .step_by(4)
        .filter(move |&at| {
            let magic = u32::from_le_bytes(data[at..at + 4].try_into().unwrap_or_default());
            // Every magic is 0xffffffXX: the last byte on disk is 0xff one way or the other.
            (magic >> 8 == 0x00ff_ffff || magic & 0x00ff_ffff == 0x00ff_ffff)
                && Pclntab::parse(&data[at..]).is_some()
        })
}
