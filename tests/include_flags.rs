//! The include and exclude flags with docker-slim's names, end to end: each
//! keeps (or removes) what it names in a real slim image, and the report
//! says why. The `batch` fixture runs once and exits, so nothing but the
//! flags keeps sed, tar, the base-files templates or a locale; `goapp` with
//! its runtime rules off keeps neither zoneinfo nor certificates unless asked.
//! The resolution logic itself is unit-tested in src/resolve/includes.rs.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

fn reasons(report: &Value) -> BTreeMap<String, String> {
    report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["path"].as_str().unwrap().to_string(),
                k["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn include_flags_keep_programs_paths_and_locales_and_exclusion_goes_last() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/batch:latest", "rslim-test/batch:includes");
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("includes.txt");
    std::fs::write(&list, "# templates\n\n/usr/share/base-files/dot.*\n").unwrap();
    let (code, stderr, report) = run_build(
        fat,
        slim,
        &[
            "--include-exe",
            "sed",
            "--include-bin",
            "/bin/tar",
            "--include-path-file",
            list.to_str().unwrap(),
            "--include-path",
            "/etc/skel",
            "--include-locale",
            "C.UTF-8",
            "--include-shell",
            "--exclude-pattern",
            "/usr/share/base-files/*.md5sums",
            "--exclude-pattern",
            "/usr/bin/[ef]grep",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let kept = reasons(&report.unwrap());
    let reason = |path: &str| kept.get(path).map(String::as_str);
    assert_eq!(reason("/usr/bin/sed"), Some("include"));
    assert_eq!(reason("/usr/bin/tar"), Some("include"));
    // tar's libraries come with it.
    assert_eq!(
        reason("/usr/lib/x86_64-linux-gnu/libacl.so.1.1.2301"),
        Some("elf-dependency")
    );
    assert_eq!(reason("/usr/share/base-files/dot.bashrc"), Some("include"));
    assert_eq!(reason("/usr/share/base-files/dot.profile.md5sums"), None);
    assert_eq!(reason("/usr/lib/locale/C.utf8/LC_CTYPE"), Some("include"));
    assert_eq!(reason("/usr/bin/find"), Some("shell"));
    assert_eq!(reason("/usr/bin/sort"), Some("shell"));
    // A directory given literally comes whole.
    assert_eq!(reason("/etc/skel/.profile"), Some("include"));
    assert_eq!(reason("/etc/skel/.bash_logout"), Some("include"));
    // The shell kit keeps egrep and fgrep where the image has them; the
    // exclusion (a glob with a class) removes them after everything else.
    assert_eq!(reason("/usr/bin/egrep"), None);
    assert_eq!(reason("/usr/bin/fgrep"), None);
    let works = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        slim,
        "-c",
        "echo ab | sed s/a/x/ && tar --version | head -1 | cut -c1-8 && LANG=C.UTF-8 grep -c . /usr/share/base-files/dot.bashrc >/dev/null && test -f /etc/skel/.profile && ! test -e /usr/bin/egrep && echo ok",
    ]);
    remove_image(slim);
    assert_eq!(works, "xb\ntar (GNU\nok");
}

#[test]
fn excluding_the_images_own_command_is_refused() {
    let _daemon = exclusive();
    let out = rslim_leaving_nothing(&[
        "build",
        "rslim-fixtures/batch:latest",
        "--tag",
        "rslim-test/batch:excluded",
        "--exclude-pattern",
        "/usr/local/bin/*.sh",
    ]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("removes the image's command"), "{text}");
    assert!(!docker(&["image", "inspect", "rslim-test/batch:excluded"])
        .status
        .success());
}

#[test]
fn bad_include_input_fails_before_anything_runs() {
    let _daemon = exclusive();
    for (args, message) in [
        (
            vec!["--include-path-file", "/nonexistent/includes.txt"],
            "--include-path-file /nonexistent/includes.txt",
        ),
        (vec!["--exclude-pattern", "/a/[b"], "not closed"),
    ] {
        let mut all = vec!["build", "rslim-fixtures/batch:latest"];
        all.extend(args);
        let out = rslim_leaving_nothing(&all);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {text}");
        assert!(text.contains(message), "{all:?}: {text}");
    }
}

#[test]
fn include_certs_and_zoneinfo_keep_the_data_sets_no_rule_asked_for() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/goapp:latest", "rslim-test/goapp:includes");
    let rules_off = [
        "--no-runtime-rule",
        "go",
        "--no-runtime-rule",
        "datasets",
        "--no-runtime-rule",
        "tls",
    ];
    let (code, stderr, report) = run_build(fat, slim, &rules_off);
    assert_eq!(code, Some(0), "{stderr}");
    let without = reasons(&report.unwrap());
    assert_eq!(without.get("/usr/share/zoneinfo/Europe/Paris"), None);
    assert_eq!(without.get("/etc/ssl/certs/ca-certificates.crt"), None);

    let mut flags = rules_off.to_vec();
    flags.extend(["--include-zoneinfo", "--include-certs"]);
    let (code, stderr, report) = run_build(fat, slim, &flags);
    remove_image(slim);
    assert_eq!(code, Some(0), "{stderr}");
    let with = reasons(&report.unwrap());
    assert_eq!(
        with.get("/usr/share/zoneinfo/Europe/Paris")
            .map(String::as_str),
        Some("include")
    );
    assert_eq!(
        with.get("/etc/ssl/certs/ca-certificates.crt")
            .map(String::as_str),
        Some("include")
    );
}
