//! End-to-end: inputs and surroundings that are out to break rslim. File
//! names that are not UTF-8 or that carry control characters, named pipes
//! and device nodes (the `oddnames` fixture), a `--report` path that cannot
//! be written, a temp directory that is too small. Each must give an exact
//! report, escaped human output, a clear error, and nothing left behind.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

const ODDNAMES: &str = "rslim-fixtures/oddnames:latest";

/// The `kept` entry whose path (a string, or the array of its bytes) is `path`.
fn kept<'a>(report: &'a Value, path: &[u8]) -> Option<&'a Value> {
    report["kept"].as_array().unwrap().iter().find(|k| {
        let bytes: Vec<u8> = match &k["path"] {
            Value::String(text) => text.as_bytes().to_vec(),
            Value::Array(bytes) => bytes.iter().map(|b| b.as_u64().unwrap() as u8).collect(),
            other => panic!("a path is neither a string nor bytes: {other}"),
        };
        bytes == path
    })
}

#[test]
fn hostile_file_names_are_exact_in_the_report_and_escaped_on_stderr() {
    let _daemon = exclusive();
    let tag = "rslim-test/oddnames:slim";
    let (code, text, report) = run_build(ODDNAMES, tag, &[]);
    assert_eq!(code, Some(0), "{text}");
    let report = report.expect("no report written");

    // Exact: a Latin-1 name as its bytes, control characters as they are.
    let latin1 = kept(&report, b"/srv/odd/caf\xe9.txt").expect("the Latin-1 name");
    assert!(latin1["path"].is_array(), "{latin1}");
    assert_eq!(latin1["reason"], "accessed");
    for name in ["/srv/odd/\x1b[2Jclear", "/srv/odd/forged\nrslim: wrote x"] {
        let entry = kept(&report, name.as_bytes()).unwrap_or_else(|| panic!("{name:?}"));
        assert_eq!(entry["path"], name);
    }
    // Pipes are kept, the one opened without a stat too; device nodes are named.
    for fifo in ["/srv/odd/pipe", "/run/oddnames/control"] {
        let entry = kept(&report, fifo.as_bytes()).unwrap_or_else(|| panic!("{fifo}"));
        assert_eq!(entry["kind"], "fifo");
    }
    let device = "/srv/jail/nu\x1b]0;titlell";
    assert!(kept(&report, device.as_bytes()).is_none());
    let notes = report["notes"].to_string();
    assert!(notes.contains("device nodes outside /dev"), "{notes}");
    assert!(notes.contains("nu\\u001b]0;titlell (char 1:3)"), "{notes}");

    // Escaped: no control character but line breaks reaches the terminal.
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached stderr:\n{text:?}"
    );
    assert!(
        text.contains("/srv/jail/nu\\x1b]0;titlell (char 1:3)"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("rslim: wrote x")),
        "{text}"
    );

    // The slim image does what the original did.
    let run = |image: &str| docker_ok(&["run", "--rm", image]);
    assert_eq!(run(tag), run(ODDNAMES));
    remove_image(tag);
}

#[test]
fn a_report_path_that_cannot_be_written_fails_before_the_image_is_looked_at() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().display().to_string();
    let missing = dir.path().join("missing/report.json").display().to_string();
    let file = dir.path().join("file");
    std::fs::write(&file, b"mine").unwrap();
    let under_a_file = file.join("report.json").display().to_string();
    // The image does not exist either: exit 2, not 4, shows the order.
    for (path, why) in [
        (&missing, "directory"),
        (&directory, "is a directory"),
        (&under_a_file, "is not a directory"),
    ] {
        let out =
            rslim_leaving_nothing(&["build", "rslim-test/does-not-exist:nope", "--report", path]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(&format!("--report {path}")), "{text}");
        assert!(text.contains(why), "{text}");
        assert!(
            !text.contains("[inspect]"),
            "checked after inspecting:\n{text}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
}

/// A tmpfs of `size` mounted on a temp dir, unmounted when dropped; `None`
/// where this process cannot mount (not root).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "rslim-test"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_temp_directory_too_small_for_the_image_is_named_with_the_room_needed() {
    let _daemon = exclusive();
    let image = "rslim-fixtures/batch:latest";
    require_image(image);
    let Some(disk) = SmallDisk::mount("16m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // The export spools the whole image to TMPDIR; the walker needs no
    // room for it (below).
    let child = Command::new(env!("CARGO_BIN_EXE_rslim"))
        .args(["build", image, "--tag", "rslim-test/small-disk:slim"])
        .args(["--fs-source", "export"])
        .env("TMPDIR", disk.0.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let dir = disk.0.path().display().to_string();
    assert!(
        text.contains(&format!("the temp directory {dir} has too little room")),
        "{text}"
    );
    assert!(
        text.contains("MB needed") && text.contains("TMPDIR"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
    let left = leftovers_of(pid);
    assert!(left.is_empty(), "left {left:?} behind");
    assert_eq!(
        std::fs::read_dir(disk.0.path()).unwrap().count(),
        0,
        "temp files were left in {dir}"
    );
    // Walked, the image needs room only for what is kept: the same build fits.
    let out = Engine::Docker
        .command(env!("CARGO_BIN_EXE_rslim"))
        .args(["build", image, "--tag", "rslim-test/small-disk:slim"])
        .env("TMPDIR", disk.0.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(disk.0.path()).unwrap().count(),
        0,
        "temp files were left in {dir}"
    );
    remove_image("rslim-test/small-disk:slim");
}
