//! Small ELF files shaped like Go's output, built by the tests: a pclntab
//! of any format, build information in either layout, and the ways a table
//! can be found (named section, `runtime.pclntab` symbol, neither).

use super::pclntab::PclntabFormat;

/// Go's `runtime/debug` sentinels around the module text: not UTF-8.
const MODINFO_START: [u8; 16] = [
    0x30, 0x77, 0xaf, 0x0c, 0x92, 0x74, 0x08, 0x02, 0x41, 0xe1, 0xc1, 0x07, 0xe6, 0xd6, 0x18, 0xe6,
];
const MODINFO_END: [u8; 16] = [
    0xf9, 0x32, 0x43, 0x31, 0x86, 0x18, 0x20, 0x72, 0x00, 0x82, 0x42, 0x10, 0x41, 0x16, 0xd8, 0xf2,
];
const BASE: u64 = 0x40_0000;
const TEXT: u64 = 0x40_1000;

/// Writes integers in one byte order.
#[derive(Clone, Copy)]
struct Out {
    big_endian: bool,
}

impl Out {
    fn uint(self, buf: &mut Vec<u8>, value: u64, size: usize) {
        let bytes = value.to_be_bytes();
        let mut word = bytes[8 - size..].to_vec();
        if !self.big_endian {
            word.reverse();
        }
        buf.extend_from_slice(&word);
    }

    fn put(self, buf: &mut [u8], at: usize, value: u64, size: usize) {
        let mut word = Vec::new();
        self.uint(&mut word, value, size);
        buf[at..at + size].copy_from_slice(&word);
    }
}

/// A pclntab listing `functions` (with records) and, from 1.16 on, also
/// the names of `inlined` functions (in the name table only).
pub fn pclntab(
    format: PclntabFormat,
    ptr_size: usize,
    big_endian: bool,
    functions: &[&str],
    inlined: &[&str],
) -> Vec<u8> {
    let out = Out { big_endian };
    let relative = format >= PclntabFormat::Go118;
    let field = if relative { 4 } else { ptr_size };
    let entry_size = field;
    let record_size = 40;
    let n = functions.len();
    let mut table = Vec::new();
    out.uint(&mut table, format.magic() as u64, 4);
    table.extend_from_slice(&[0, 0, 1, ptr_size as u8]);
    let entry = |i: usize| -> u64 {
        let offset = 0x100 * i as u64;
        if relative {
            offset
        } else {
            TEXT + offset
        }
    };
    if format == PclntabFormat::Go12 {
        out.uint(&mut table, n as u64, ptr_size);
        let functab = table.len();
        let records = functab + (2 * n + 1) * field + 4;
        let strings = records + n * record_size;
        let mut names = Vec::new();
        let mut name_offsets = Vec::new();
        for name in functions.iter().chain(inlined) {
            name_offsets.push(strings + names.len());
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        for i in 0..n {
            out.uint(&mut table, entry(i), field);
            out.uint(&mut table, (records + i * record_size) as u64, field);
        }
        out.uint(&mut table, entry(n), field);
        out.uint(&mut table, 0, 4); // filetab offset
        for (i, offset) in name_offsets.iter().enumerate().take(n) {
            let start = table.len();
            out.uint(&mut table, entry(i), entry_size);
            out.uint(&mut table, *offset as u64, 4);
            table.resize(start + record_size, 0);
        }
        table.extend_from_slice(&names);
        return table;
    }
    let first = if format == PclntabFormat::Go116 { 2 } else { 3 };
    let header_end = 8 + (first + 5) * ptr_size;
    let mut names = Vec::new();
    let mut name_offsets = Vec::new();
    for name in functions.iter().chain(inlined) {
        name_offsets.push(names.len());
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let funcnametab = header_end;
    // cutab, filetab and pctab left empty: nothing here reads them.
    let after_names = funcnametab + names.len();
    let pcln = after_names.next_multiple_of(8);
    let mut words = vec![n as u64, 0];
    if first == 3 {
        words.push(0); // text start: unused since 1.20, unrelocated before
    }
    words.extend([funcnametab, after_names, after_names, after_names, pcln].map(|w| w as u64));
    for word in words {
        out.uint(&mut table, word, ptr_size);
    }
    table.extend_from_slice(&names);
    table.resize(pcln, 0);
    let records = (2 * n + 1) * field;
    for i in 0..n {
        out.uint(&mut table, entry(i), field);
        out.uint(&mut table, (records + i * record_size) as u64, field);
    }
    out.uint(&mut table, entry(n), field);
    for (i, offset) in name_offsets.iter().enumerate().take(n) {
        let start = table.len();
        out.uint(&mut table, entry(i), entry_size);
        out.uint(&mut table, *offset as u64, 4);
        table.resize(start + record_size, 0);
    }
    table
}

/// Where the test puts the pclntab, and how it can be found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Locate {
    /// A `.gopclntab` section.
    Section,
    /// Inside a `.data.rel.ro` section, marked by the `runtime.pclntab` and
    /// `runtime.epclntab` symbols (external linking).
    Symbol,
    /// No section headers at all.
    Stripped,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub class64: bool,
    pub big_endian: bool,
    pub format: PclntabFormat,
    pub functions: Vec<&'static str>,
    pub inlined: Vec<&'static str>,
    pub go_version: &'static str,
    /// The build information's text between the sentinels.
    pub modinfo: &'static str,
    /// The Go 1.18+ layout (strings inline) or the older pointer layout.
    pub inline_build_info: bool,
    pub go_note: bool,
    pub locate: Locate,
    /// Leave the pclntab out (its bytes are zeros).
    pub no_table: bool,
}

impl Spec {
    pub fn new(functions: &[&'static str]) -> Spec {
        Spec {
            class64: true,
            big_endian: false,
            format: PclntabFormat::Go120,
            functions: functions.to_vec(),
            inlined: Vec::new(),
            go_version: "go1.22.1",
            modinfo: "path\texample.com/app/cmd/app\nmod\texample.com/app\t(devel)\t\n",
            inline_build_info: true,
            go_note: true,
            locate: Locate::Section,
            no_table: false,
        }
    }
}

struct Section {
    name: &'static str,
    kind: u32,
    flags: u64,
    offset: usize,
    size: usize,
    link: u32,
    entsize: u64,
}

/// The ELF file `spec` describes: one read-only segment with the text,
/// the strings and the pclntab, one writable segment with the build
/// information, Go's section headers right after the program headers.
pub fn elf(spec: &Spec) -> Vec<u8> {
    let out = Out {
        big_endian: spec.big_endian,
    };
    let ptr = if spec.class64 { 8 } else { 4 };
    let (ehsize, phentsize, shentsize) = if spec.class64 {
        (64, 56, 64)
    } else {
        (52, 32, 40)
    };
    let go_note = spec.go_note;
    let phnum = 2 + usize::from(go_note);
    let mut file = vec![0u8; 0x1000];
    let note_at = 0xf00;
    if go_note {
        let mut note = Vec::new();
        out.uint(&mut note, 4, 4);
        out.uint(&mut note, 4, 4);
        out.uint(&mut note, 4, 4);
        note.extend_from_slice(b"Go\0\0abcd");
        file[note_at..note_at + note.len()].copy_from_slice(&note);
    }
    // The text, then the pointer layout's strings, then the table.
    file.resize(0x1100, 0xcc);
    let mut string_headers = Vec::new();
    if !spec.inline_build_info {
        let mut modinfo = MODINFO_START.to_vec();
        modinfo.extend_from_slice(spec.modinfo.as_bytes());
        modinfo.extend_from_slice(&MODINFO_END);
        for text in [spec.go_version.as_bytes(), &modinfo] {
            let data = BASE + file.len() as u64;
            file.extend_from_slice(text);
            file.resize(file.len().next_multiple_of(8), 0);
            string_headers.push(BASE + file.len() as u64);
            out.uint(&mut file, data, ptr);
            out.uint(&mut file, text.len() as u64, ptr);
        }
    }
    let mut table = pclntab(
        spec.format,
        ptr,
        spec.big_endian,
        &spec.functions,
        &spec.inlined,
    );
    if spec.no_table {
        table.fill(0);
    }
    // Something before the table in its section, as in `.data.rel.ro`.
    let relro_lead = if spec.locate == Locate::Symbol { 64 } else { 0 };
    file.resize(file.len().next_multiple_of(32), 0);
    let table_section = file.len();
    file.resize(table_section + relro_lead, 0x11);
    let table_at = file.len();
    file.extend_from_slice(&table);
    let rodata_end = file.len();
    file.resize(file.len().next_multiple_of(0x1000), 0);
    let data_at = file.len();
    file.extend_from_slice(b"\xff Go buildinf:");
    file.push(ptr as u8);
    let endian_flag = u8::from(spec.big_endian);
    if spec.inline_build_info {
        file.push(2 | endian_flag);
        file.resize(data_at + 32, 0);
        let mut modinfo = MODINFO_START.to_vec();
        modinfo.extend_from_slice(spec.modinfo.as_bytes());
        modinfo.extend_from_slice(&MODINFO_END);
        for text in [spec.go_version.as_bytes(), &modinfo] {
            let mut len = text.len();
            while len >= 0x80 {
                file.push((len as u8) | 0x80);
                len >>= 7;
            }
            file.push(len as u8);
            file.extend_from_slice(text);
        }
    } else {
        file.push(endian_flag);
        file.resize(data_at + 16, 0);
        for header in &string_headers {
            out.uint(&mut file, *header, ptr);
        }
        file.resize(data_at + 32, 0);
    }
    file.resize(file.len().next_multiple_of(16), 0);
    let data_end = file.len();

    let mut sections = vec![Section {
        name: "",
        kind: 0,
        flags: 0,
        offset: 0,
        size: 0,
        link: 0,
        entsize: 0,
    }];
    let progbits = |name, offset, size, flags| Section {
        name,
        kind: 1,
        flags,
        offset,
        size,
        link: 0,
        entsize: 0,
    };
    sections.push(progbits(".text", 0x1000, 0x100, 6));
    let table_name = match spec.locate {
        Locate::Symbol => ".data.rel.ro",
        _ => ".gopclntab",
    };
    sections.push(progbits(
        table_name,
        table_section,
        rodata_end - table_section,
        2,
    ));
    sections.push(progbits(".go.buildinfo", data_at, data_end - data_at, 3));
    if spec.locate == Locate::Symbol {
        let names = b"\0runtime.pclntab\0runtime.epclntab\0";
        let strtab_at = file.len();
        file.extend_from_slice(names);
        file.resize(file.len().next_multiple_of(8), 0);
        let symtab_at = file.len();
        let symbols = [
            (0, 0),
            (1, BASE + table_at as u64),
            (17, BASE + rodata_end as u64),
        ];
        for (name, value) in symbols {
            if spec.class64 {
                out.uint(&mut file, name, 4);
                file.extend_from_slice(&[1, 0]); // LOCAL OBJECT, default visibility
                out.uint(&mut file, 2, 2); // the .data.rel.ro section
                out.uint(&mut file, value, 8);
                out.uint(&mut file, 0, 8);
            } else {
                out.uint(&mut file, name, 4);
                out.uint(&mut file, value, 4);
                out.uint(&mut file, 0, 4);
                file.extend_from_slice(&[1, 0]);
                out.uint(&mut file, 2, 2);
            }
        }
        let symtab_size = file.len() - symtab_at;
        let strtab_index = sections.len() as u32 + 1;
        sections.push(Section {
            name: ".symtab",
            kind: 2,
            flags: 0,
            offset: symtab_at,
            size: symtab_size,
            link: strtab_index,
            entsize: if spec.class64 { 24 } else { 16 },
        });
        sections.push(Section {
            name: ".strtab",
            kind: 3,
            flags: 0,
            offset: strtab_at,
            size: names.len(),
            link: 0,
            entsize: 0,
        });
    }
    let mut shstrtab = vec![0u8];
    let mut name_offsets = Vec::new();
    for section in &sections {
        name_offsets.push(shstrtab.len());
        shstrtab.extend_from_slice(section.name.as_bytes());
        shstrtab.push(0);
    }
    name_offsets.push(shstrtab.len());
    shstrtab.extend_from_slice(b".shstrtab\0");
    let shstrtab_at = file.len();
    file.extend_from_slice(&shstrtab);
    sections.push(Section {
        name: ".shstrtab",
        kind: 3,
        flags: 0,
        offset: shstrtab_at,
        size: shstrtab.len(),
        link: 0,
        entsize: 0,
    });

    // Headers at the front, where Go's linker writes them.
    let mut head = Vec::new();
    head.extend_from_slice(b"\x7fELF");
    head.extend_from_slice(&[
        if spec.class64 { 2 } else { 1 },
        if spec.big_endian { 2 } else { 1 },
        1,
    ]);
    head.resize(16, 0);
    let machine = match (spec.class64, spec.big_endian) {
        (true, false) => 62, // x86-64
        (true, true) => 22,  // s390x
        (false, false) => 3, // 386
        (false, true) => 8,  // mips
    };
    let with_sections = spec.locate != Locate::Stripped;
    let phoff = ehsize;
    let shoff = phoff + phnum * phentsize;
    out.uint(&mut head, 2, 2);
    out.uint(&mut head, machine, 2);
    out.uint(&mut head, 1, 4);
    out.uint(&mut head, TEXT, ptr);
    out.uint(&mut head, phoff as u64, ptr);
    out.uint(&mut head, if with_sections { shoff as u64 } else { 0 }, ptr);
    out.uint(&mut head, 0, 4);
    out.uint(&mut head, ehsize as u64, 2);
    out.uint(&mut head, phentsize as u64, 2);
    out.uint(&mut head, phnum as u64, 2);
    out.uint(&mut head, shentsize as u64, 2);
    let shnum = if with_sections { sections.len() } else { 0 };
    out.uint(&mut head, shnum as u64, 2);
    out.uint(&mut head, shnum.saturating_sub(1) as u64, 2);
    let mut segments = vec![(1u32, 5u32, 0usize, rodata_end), (1, 6, data_at, data_end)];
    if go_note {
        segments.insert(0, (4, 4, note_at, note_at + 16));
    }
    for (kind, flags, start, end) in segments {
        let (offset, address, size) = (start as u64, BASE + start as u64, (end - start) as u64);
        if spec.class64 {
            out.uint(&mut head, kind as u64, 4);
            out.uint(&mut head, flags as u64, 4);
            for value in [offset, address, address, size, size, 0x1000] {
                out.uint(&mut head, value, 8);
            }
        } else {
            out.uint(&mut head, kind as u64, 4);
            for value in [offset, address, address, size, size] {
                out.uint(&mut head, value, 4);
            }
            out.uint(&mut head, flags as u64, 4);
            out.uint(&mut head, 0x1000, 4);
        }
    }
    if with_sections {
        for (section, name) in sections.iter().zip(&name_offsets) {
            let alloc = section.flags & 2 != 0;
            let address = if alloc {
                BASE + section.offset as u64
            } else {
                0
            };
            out.uint(&mut head, *name as u64, 4);
            out.uint(&mut head, section.kind as u64, 4);
            out.uint(&mut head, section.flags, ptr);
            out.uint(&mut head, address, ptr);
            out.uint(&mut head, section.offset as u64, ptr);
            out.uint(&mut head, section.size as u64, ptr);
            out.uint(&mut head, section.link as u64, 4);
            out.uint(&mut head, 0, 4);
            out.uint(&mut head, 1, ptr);
            out.uint(&mut head, section.entsize, ptr);
        }
    }
    assert!(head.len() <= note_at, "headers overlap the note");
    file[..head.len()].copy_from_slice(&head);
    file
}

/// `bytes` with a 32-bit word replaced, for corrupting a table.
pub fn poke(bytes: &mut [u8], at: usize, value: u32, big_endian: bool) {
    Out { big_endian }.put(bytes, at, value as u64, 4);
}
