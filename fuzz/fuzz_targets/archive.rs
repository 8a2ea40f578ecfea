//! A whole image archive as a user gives it (`docker-archive:`,
//! `oci-archive:`, `--archive`): the outer tar, manifest.json or index.json
//! and the manifests and configs they name, every layer, the merged
//! filesystem and xray's analysis of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rslim_fuzz::read_archive(data);
});
