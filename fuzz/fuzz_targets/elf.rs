//! An ELF file of the image: its identity, PT_INTERP, DT_NEEDED, RPATH,
//! RUNPATH, SONAME and imports (goblin underneath), and the library closure
//! the resolver computes from them.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use rslim::resolve::closure::LibraryResolver;
use rslim::resolve::elf::{elf_identity, read_elf_info};
use rslim_fuzz::MemTree;

fuzz_target!(|data: &[u8]| {
    let tree = MemTree::with(&[("/usr/bin/app", data), ("/usr/lib/libc.so.6", data)]);
    let app = Path::new("/usr/bin/app");
    let _ = elf_identity(&tree, app);
    if let Some(info) = read_elf_info(&tree, app) {
        let _ = info.imports("getpwnam");
    }
    let resolver = LibraryResolver::new(&tree, Some("$ORIGIN/../lib:/opt/$LIB"));
    let _ = resolver.closure(&[PathBuf::from(app)]);
});
