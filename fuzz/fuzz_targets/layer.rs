//! One layer tar (plain or gzip), alone and on top of itself, read as the
//! engine's `docker save` would hand it over: entries, whiteouts, hard and
//! symbolic links through the layer's own symlinks, PAX records, the merged
//! filesystem and xray's books.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rslim_fuzz::read_archive(&rslim_fuzz::docker_save(&[data]));
    rslim_fuzz::read_archive(&rslim_fuzz::docker_save(&[data, data]));
});
