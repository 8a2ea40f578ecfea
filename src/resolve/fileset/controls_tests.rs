//! `keep_set` with the controls (`--keep packages`, includes, exclusions)
//! and the package metadata it writes, over a small merged-/usr image with
//! a dpkg database and the host's real dash and libc.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;
use crate::resolve::tree::test_support::merged_usr_with_host_libc;
use crate::resolve::tree::HostTree;

/// - `tool` owns /usr/bin/tool (the host's dash: links libc) and
///   /usr/share/tool/{used,plugin}.txt; depends on `libc6`, required here;
/// - `libc6` owns libc and the loader; `base-files` owns /etc/os-release;
/// - `unused` owns /usr/share/unused/README; nobody depends on it;
/// - the entrypoint is /app/run (an ELF: dash again, unowned).
fn image() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let write = |path: &str, text: &str| {
        let at = r.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    };
    merged_usr_with_host_libc(r);
    symlink("usr/bin", r.join("bin")).unwrap();
    let dash = std::fs::canonicalize("/usr/bin/dash").unwrap();
    for at in ["usr/bin/tool", "app/run"] {
        std::fs::create_dir_all(r.join(at).parent().unwrap()).unwrap();
        std::fs::copy(&dash, r.join(at)).unwrap();
    }
    write("/usr/share/tool/used.txt", "used");
    write("/usr/share/tool/plugin.txt", "loaded by name later");
    write("/usr/share/unused/README", "never");
    write("/usr/lib/os-release", "ID=debian\n");
    write("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
    let stanza = |name: &str, priority: &str, depends: &str| {
        format!(
            "Package: {name}\nStatus: install ok installed\nPriority: {priority}\n\
             Version: 1.0-1\nArchitecture: amd64\nDepends: {depends}\nDescription: {name}\n\n"
        )
    };
    write(
        "/var/lib/dpkg/status",
        &[
            stanza("tool", "optional", "libc6 (>= 2.36)"),
            stanza("libc6", "required", "libgcc-s1"),
            stanza("base-files", "required", "mawk"),
            stanza("unused", "optional", "libc6"),
        ]
        .concat(),
    );
    write(
        "/var/lib/dpkg/info/tool.list",
        "/usr/bin/tool\n/usr/share/tool\n/usr/share/tool/used.txt\n/usr/share/tool/plugin.txt\n",
    );
    write(
        "/var/lib/dpkg/info/tool.md5sums",
        "11111111111111111111111111111111  usr/bin/tool\n\
         22222222222222222222222222222222  usr/share/tool/used.txt\n\
         33333333333333333333333333333333  usr/share/tool/plugin.txt\n",
    );
    write(
        "/var/lib/dpkg/info/libc6:amd64.list",
        "/lib/x86_64-linux-gnu/libc.so.6\n/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n",
    );
    write(
        "/var/lib/dpkg/info/base-files.list",
        "/etc/os-release\n/usr/lib/os-release\n",
    );
    write(
        "/var/lib/dpkg/info/unused.list",
        "/usr/share/unused/README\n",
    );
    root
}

fn run_config() -> RunConfig {
    RunConfig {
        entrypoint: Some(vec!["/app/run".into()]),
        env: Some(vec!["PATH=/usr/bin:/bin".into()]),
        ..RunConfig::default()
    }
}

fn reason(keep: &KeepSet, path: &str) -> Option<Reason> {
    keep.paths.get(Path::new(path)).copied()
}

fn used() -> Observed {
    Observed {
        files: vec!["/usr/share/tool/used.txt".into()],
        ..Observed::default()
    }
}

fn status_d_names(keep: &KeepSet) -> Vec<String> {
    keep.synthetic
        .keys()
        .map(|p| {
            p.strip_prefix("/var/lib/dpkg/status.d")
                .unwrap()
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn keep_packages_keeps_touched_packages_whole_with_their_needs() {
    let root = image();
    let tree = HostTree::new(root.path());
    let default = keep_set(&tree, &used(), &run_config(), &KeepOptions::default());
    assert_eq!(reason(&default, "/usr/share/tool/plugin.txt"), None);
    assert_eq!(reason(&default, "/usr/bin/tool"), None);
    let tool = default.packages.iter().find(|p| p.name == "tool").unwrap();
    assert_eq!(
        (tool.files_kept, tool.files_total, tool.whole),
        (1, 3, false)
    );

    let options = KeepOptions {
        keep: KeepMode::Packages,
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &used(), &run_config(), &options);
    assert_eq!(
        reason(&keep, "/usr/share/tool/plugin.txt"),
        Some(Reason::Package)
    );
    assert_eq!(reason(&keep, "/usr/bin/tool"), Some(Reason::Package));
    // libc6 is required: its files are kept because programs need them, not whole.
    assert_eq!(
        reason(&keep, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        Some(Reason::ElfDependency)
    );
    assert_eq!(reason(&keep, "/usr/share/unused/README"), None);
    let tool = keep.packages.iter().find(|p| p.name == "tool").unwrap();
    assert!(tool.whole);
    assert_eq!(tool.kept_whole_for, Some(Whole::Touched));
}

#[test]
fn status_d_lists_exactly_the_packages_with_kept_files() {
    let root = image();
    let tree = HostTree::new(root.path());
    let keep = keep_set(&tree, &used(), &run_config(), &KeepOptions::default());
    // base-files for /etc/os-release, which scanners need; libc6 for the
    // loader; tool for used.txt; not `unused`.
    assert_eq!(
        status_d_names(&keep),
        ["base-files", "libc6", "tool", "tool.md5sums"]
    );
    assert_eq!(
        reason(&keep, "/etc/os-release"),
        Some(Reason::PackageMetadata)
    );
    assert_eq!(
        reason(&keep, "/usr/lib/os-release"),
        Some(Reason::PackageMetadata)
    );
    let sums = &keep.synthetic[Path::new("/var/lib/dpkg/status.d/tool.md5sums")];
    assert_eq!(
        String::from_utf8_lossy(sums),
        "22222222222222222222222222222222  usr/share/tool/used.txt\n"
    );
    assert!(keep.paths.contains_key(Path::new("/var/lib/dpkg/status.d")));
    assert_eq!(reason(&keep, "/var/lib/dpkg/status"), None);
    let names: Vec<&str> = keep.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base-files", "libc6", "tool"]);
}

#[test]
fn include_bin_and_exe_keep_programs_with_their_libraries() {
    let root = image();
    std::fs::remove_file(root.path().join("app/run")).unwrap();
    std::fs::write(root.path().join("app/run"), "not an ELF").unwrap();
    let tree = HostTree::new(root.path());
    let none = keep_set(
        &tree,
        &Observed::default(),
        &run_config(),
        &KeepOptions::default(),
    );
    assert_eq!(reason(&none, "/usr/lib/x86_64-linux-gnu/libc.so.6"), None);
    for options in [
        KeepOptions {
            include_bins: vec!["/bin/tool".into()],
            ..KeepOptions::default()
        },
        KeepOptions {
            include_exes: vec!["tool".into()],
            ..KeepOptions::default()
        },
    ] {
        let keep = keep_set(&tree, &Observed::default(), &run_config(), &options);
        assert_eq!(reason(&keep, "/usr/bin/tool"), Some(Reason::Include));
        assert_eq!(
            reason(&keep, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
            Some(Reason::ElfDependency),
            "{options:?}"
        );
    }
}

#[test]
fn include_path_globs_keep_every_match() {
    let root = image();
    let tree = HostTree::new(root.path());
    let options = KeepOptions {
        include_paths: vec!["/usr/share/*/p*.txt".into()],
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &Observed::default(), &run_config(), &options);
    assert_eq!(
        reason(&keep, "/usr/share/tool/plugin.txt"),
        Some(Reason::Include)
    );
    assert_eq!(reason(&keep, "/usr/share/tool/used.txt"), None);
}

#[test]
fn exclusion_goes_last_and_names_what_was_needed() {
    let root = image();
    let tree = HostTree::new(root.path());
    let options = KeepOptions {
        keep: KeepMode::Packages,
        exclude_patterns: vec!["/usr/share/tool/**".into(), "/lib/*/libc.so.*".into()],
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &used(), &run_config(), &options);
    assert_eq!(reason(&keep, "/usr/share/tool/plugin.txt"), None);
    assert_eq!(reason(&keep, "/usr/share/tool"), None);
    assert_eq!(reason(&keep, "/usr/lib/x86_64-linux-gnu/libc.so.6"), None);
    assert_eq!(reason(&keep, "/usr/bin/tool"), Some(Reason::Package));
    let excluded: Vec<&Path> = keep.excluded.iter().map(|(p, _)| p.as_path()).collect();
    assert!(excluded.contains(&Path::new("/usr/share/tool/used.txt")));
    let notes = keep.notes.join("\n");
    assert!(
        notes.contains("/usr/lib/x86_64-linux-gnu/libc.so.6 (elf-dependency)"),
        "{notes}"
    );
    assert!(
        notes.contains("/usr/share/tool/used.txt (accessed)"),
        "{notes}"
    );
    // The package list and status.d follow what is left.
    let tool = keep.packages.iter().find(|p| p.name == "tool").unwrap();
    assert_eq!((tool.files_kept, tool.files_total), (1, 3));
}
