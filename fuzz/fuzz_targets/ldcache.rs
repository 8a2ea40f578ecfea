//! `/etc/ld.so.cache` (old and new formats, either byte order) with every
//! lookup, and the same bytes as `/etc/ld.so.conf` with its `include`s.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rslim::resolve::ldcache::{ld_so_conf_dirs, LdCache, EM_AARCH64, EM_X86_64};
use rslim_fuzz::MemTree;

fuzz_target!(|data: &[u8]| {
    if let Some(cache) = LdCache::parse(data) {
        for entry in &cache.entries {
            for (class64, machine) in [(true, EM_X86_64), (false, EM_X86_64), (true, EM_AARCH64)] {
                let _ = cache.lookup(&entry.soname, class64, machine).count();
            }
        }
    }
    let tree = MemTree::with(&[
        ("/etc/ld.so.conf", data),
        ("/etc/ld.so.conf.d/a.conf", data),
    ]);
    let _ = ld_so_conf_dirs(&tree);
    let _ = LdCache::load(&MemTree::with(&[("/etc/ld.so.cache", data)]));
});
