//! A Dockerfile: directives, continuations, heredocs, instructions, the
//! shell words of RUN, and every lint rule over the parsed model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rslim::lint::{lint, LintOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for has_dockerignore in [false, true] {
        if let Ok(findings) = lint(&text, LintOptions { has_dockerignore }) {
            let _ = rslim::lint::render::text("Dockerfile", &findings);
        }
    }
});
