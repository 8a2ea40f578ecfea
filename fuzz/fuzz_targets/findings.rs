//! The sensor's findings as rslim downloads them: the archive API's tar
//! around one sealed JSON file. The input is tried as that tar, and as the
//! JSON inside a correctly sealed one (the only way past the seal).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rslim::sensor::container::read_findings;
use rslim_sensor::seal::{seal, KEY_BYTES};

fuzz_target!(|data: &[u8]| {
    let key = [7u8; KEY_BYTES];
    let _ = read_findings(data, &key);
    let sealed = seal(&key, data);
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o600);
    header.set_size(sealed.len() as u64);
    tar.append_data(&mut header, "findings.json", &sealed[..])
        .expect("in memory");
    if let Ok(findings) = read_findings(&tar.into_inner().expect("in memory"), &key) {
        let _ = findings.files.iter().map(|p| p.to_path_buf()).count();
    }
});
