//! A probe file (`--probe`): JSON with serde's checks, then rslim's own
//! (ports, paths, waits, JSON pointers, body files under an empty dir), and
//! the `--http-probe-cmd` one-liner.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rslim::probe::script;

fuzz_target!(|data: &[u8]| {
    static EMPTY: OnceLock<tempfile::TempDir> = OnceLock::new();
    let base = EMPTY.get_or_init(|| tempfile::tempdir().expect("a temp dir"));
    let text = String::from_utf8_lossy(data);
    for exposed in [&[][..], &[80, 8080][..]] {
        if let Ok(file) = script::check(&text, "fuzz.json", base.path(), exposed) {
            for step in &file.steps {
                let _ = step.describe();
                let _ = step.wait_time();
            }
        }
        let _ = script::http_one_liner(&text, exposed);
    }
});
