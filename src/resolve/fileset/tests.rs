//! The kept set over a small image laid out on disk like Debian's
//! merged-/usr, with the host's real dash, libc and loader in it.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;
use crate::resolve::tree::test_support::merged_usr_with_host_libc;
use crate::resolve::tree::HostTree;

/// / holds:
/// - /bin → usr/bin, /lib → usr/lib, /lib64 → usr/lib64 (ld.so link chain)
/// - /usr/bin/dash (the host's), /usr/bin/sh → dash, libc and the loader
/// - /app/start.sh (`#!/bin/sh`), /app/__pycache__/m.cpython-311.pyc + /app/m.py
/// - /var/lib/app (empty), /var/log/app/out.log → /dev/stdout
/// - /usr/share/doc/unused/README, /etc/passwd, /etc/group; no /tmp
fn image() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let at = |path: &str| root.path().join(path);
    merged_usr_with_host_libc(root.path());
    for dir in [
        "usr/bin",
        "app/__pycache__",
        "var/lib/app",
        "var/log/app",
        "usr/share/doc/unused",
        "etc",
    ] {
        std::fs::create_dir_all(at(dir)).unwrap();
    }
    std::fs::copy(
        std::fs::canonicalize("/usr/bin/dash").unwrap(),
        at("usr/bin/dash"),
    )
    .unwrap();
    symlink("dash", at("usr/bin/sh")).unwrap();
    symlink("usr/bin", at("bin")).unwrap();
    std::fs::write(at("app/start.sh"), "#!/bin/sh\nexec echo hi\n").unwrap();
    std::fs::write(at("app/__pycache__/m.cpython-311.pyc"), b"\x00").unwrap();
    std::fs::write(at("app/m.py"), "x = 1\n").unwrap();
    symlink("/dev/stdout", at("var/log/app/out.log")).unwrap();
    std::fs::write(at("usr/share/doc/unused/README"), "unused\n").unwrap();
    std::fs::write(at("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(at("etc/group"), "root:x:0:\n").unwrap();
    root
}

fn run_config() -> RunConfig {
    RunConfig {
        entrypoint: Some(vec!["/app/start.sh".into()]),
        env: Some(vec!["PATH=/usr/bin:/bin".into()]),
        ..RunConfig::default()
    }
}

fn reason(keep: &KeepSet, path: &str) -> Option<Reason> {
    keep.paths.get(Path::new(path)).copied()
}

#[test]
fn keeps_what_the_app_needs_and_nothing_else() {
    let root = image();
    let tree = HostTree::new(root.path());
    let observed = Observed {
        files: vec!["/app/__pycache__/m.cpython-311.pyc".into()],
        ..Observed::default()
    };
    // App files would keep /app/m.py anyway; this test is about the rest.
    let options = KeepOptions {
        app_files: AppFilesMode::None,
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &observed, &run_config(), &options);

    assert_eq!(reason(&keep, "/app/start.sh"), Some(Reason::Entrypoint));
    // `#!/bin/sh` → /bin → usr/bin, /usr/bin/sh → dash, then dash's libraries.
    assert_eq!(reason(&keep, "/usr/bin/dash"), Some(Reason::Interpreter));
    assert_eq!(reason(&keep, "/bin"), Some(Reason::Symlink));
    assert_eq!(reason(&keep, "/usr/bin/sh"), Some(Reason::Symlink));
    assert_eq!(
        reason(&keep, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        Some(Reason::ElfDependency)
    );
    assert_eq!(
        reason(&keep, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        Some(Reason::ElfDependency)
    );
    assert_eq!(reason(&keep, "/lib64"), Some(Reason::Symlink));
    assert_eq!(
        reason(&keep, "/usr/lib64/ld-linux-x86-64.so.2"),
        Some(Reason::Symlink)
    );
    // Runtime rules: the .pyc's source, an empty dir, a log link to /dev.
    assert_eq!(
        reason(&keep, "/app/__pycache__/m.cpython-311.pyc"),
        Some(Reason::Accessed)
    );
    assert_eq!(reason(&keep, "/app/m.py"), Some(Reason::Python));
    assert_eq!(reason(&keep, "/var/lib/app"), Some(Reason::RuntimeDir));
    assert_eq!(reason(&keep, "/var/log/app/out.log"), Some(Reason::Symlink));
    // Always kept; /tmp did not exist and is added for the writer to create.
    assert_eq!(reason(&keep, "/etc/passwd"), Some(Reason::Always));
    assert_eq!(reason(&keep, "/tmp"), Some(Reason::Always));
    assert_eq!(reason(&keep, "/usr"), Some(Reason::Parent));
    // Never touched.
    assert_eq!(reason(&keep, "/usr/share/doc/unused/README"), None);
    assert_eq!(reason(&keep, "/usr/share/doc/unused"), None);
    assert!(
        keep.missing_libraries.is_empty(),
        "{:?}",
        keep.missing_libraries
    );
}

#[test]
fn every_kept_path_has_its_parents() {
    let root = image();
    let tree = HostTree::new(root.path());
    let keep = keep_set(
        &tree,
        &Observed::default(),
        &run_config(),
        &KeepOptions::default(),
    );
    for path in keep.paths.keys() {
        for parent in path.ancestors().skip(1).filter(|p| *p != Path::new("/")) {
            assert!(
                keep.paths.contains_key(parent),
                "{} kept without {}",
                path.display(),
                parent.display()
            );
        }
    }
}

#[test]
fn include_paths_keep_whole_trees_and_missing_ones_are_noted() {
    let root = image();
    let tree = HostTree::new(root.path());
    let options = KeepOptions {
        include_shell: false,
        include_paths: vec!["/usr/share/doc".into(), "/opt/nothing".into()],
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &Observed::default(), &run_config(), &options);
    assert_eq!(
        reason(&keep, "/usr/share/doc/unused/README"),
        Some(Reason::Include)
    );
    assert!(
        keep.notes.iter().any(|n| n.contains("/opt/nothing")),
        "{:?}",
        keep.notes
    );
}

#[test]
fn include_shell_says_so_when_there_is_no_shell() {
    let root = image();
    std::fs::remove_file(root.path().join("usr/bin/sh")).unwrap();
    std::fs::remove_file(root.path().join("usr/bin/dash")).unwrap();
    let tree = HostTree::new(root.path());
    let options = KeepOptions {
        include_shell: true,
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &Observed::default(), &run_config(), &options);
    assert!(
        keep.notes.iter().any(|n| n.contains("has no shell")),
        "{:?}",
        keep.notes
    );
}

#[test]
fn app_files_beside_touched_ones_are_kept() {
    let root = image();
    std::fs::write(root.path().join("app/unused-page.html"), "<p>later</p>").unwrap();
    let tree = HostTree::new(root.path());
    let keep = keep_set(
        &tree,
        &Observed::default(),
        &run_config(),
        &KeepOptions::default(),
    );
    assert_eq!(
        reason(&keep, "/app/unused-page.html"),
        Some(Reason::AppFile)
    );
    assert_eq!(reason(&keep, "/app/m.py"), Some(Reason::AppFile));
    // Leftovers are not the app.
    assert_eq!(reason(&keep, "/app/__pycache__/m.cpython-311.pyc"), None);
}

#[test]
fn a_link_to_a_directory_kept_only_for_writing_in_is_kept() {
    // /var/run → /run, and /run/app exists empty: the runtime-dir rule adds
    // /run/app late, and the link to it must still be kept.
    let root = image();
    std::fs::create_dir_all(root.path().join("run/app")).unwrap();
    symlink("/run", root.path().join("var/run")).unwrap();
    let tree = HostTree::new(root.path());
    let keep = keep_set(
        &tree,
        &Observed::default(),
        &run_config(),
        &KeepOptions::default(),
    );
    assert_eq!(reason(&keep, "/run/app"), Some(Reason::RuntimeDir));
    assert_eq!(reason(&keep, "/var/run"), Some(Reason::Symlink));
    assert!(keep.paths.contains_key(Path::new("/var")));
}

#[test]
fn runtime_rules_run_on_observed_files_and_can_be_turned_off() {
    let root = image();
    for zone in ["Europe/Paris", "Asia/Tokyo"] {
        let at = root.path().join("usr/share/zoneinfo").join(zone);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, "TZif").unwrap();
    }
    let tree = HostTree::new(root.path());
    let observed = Observed {
        files: vec!["/usr/share/zoneinfo/Europe/Paris".into()],
        ..Observed::default()
    };
    let keep = keep_set(&tree, &observed, &run_config(), &KeepOptions::default());
    assert_eq!(
        reason(&keep, "/usr/share/zoneinfo/Asia/Tokyo"),
        Some(Reason::DataSet)
    );
    let off = KeepOptions {
        disabled_rules: ["datasets".to_string()].into(),
        ..KeepOptions::default()
    };
    let keep = keep_set(&tree, &observed, &run_config(), &off);
    assert_eq!(reason(&keep, "/usr/share/zoneinfo/Asia/Tokyo"), None);
    assert_eq!(
        reason(&keep, "/usr/share/zoneinfo/Europe/Paris"),
        Some(Reason::Accessed)
    );
}

#[test]
fn the_entrypoint_is_found_as_the_runtime_finds_it_or_not_at_all() {
    let root = image();
    let tree = HostTree::new(root.path());
    let options = KeepOptions::default();
    let with = |entrypoint: &str, workdir: Option<&str>| {
        let run = RunConfig {
            entrypoint: Some(vec![entrypoint.into()]),
            working_dir: workdir.map(str::to_string),
            ..run_config()
        };
        keep_set(&tree, &Observed::default(), &run, &options).entrypoint
    };
    assert_eq!(with("sh", None), Some(PathBuf::from("/usr/bin/dash")));
    // A relative name with a slash starts at the WORKDIR, as runc runs it.
    assert_eq!(
        with("./start.sh", Some("/app")),
        Some(PathBuf::from("/app/start.sh"))
    );
    assert_eq!(with("./start.sh", None), None);
    assert_eq!(with("/app/missing", None), None);
    assert_eq!(with("nginx", None), None);
}

#[test]
fn fifos_are_kept_and_device_nodes_outside_dev_are_named() {
    let root = image();
    let at = |path: &str| root.path().join(path);
    std::fs::create_dir_all(at("run/app")).unwrap();
    std::fs::create_dir_all(at("dev")).unwrap();
    std::fs::create_dir_all(at("srv/jail/dev")).unwrap();
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
    nix::unistd::mkfifo(&at("run/app/control"), mode).unwrap();
    let null = nix::sys::stat::makedev(1, 3);
    let nodes = ["srv/jail/dev/null", "dev/null"]
        .map(|path| nix::sys::stat::mknod(&at(path), nix::sys::stat::SFlag::S_IFCHR, mode, null));
    let tree = HostTree::new(root.path());
    let keep = keep_set(
        &tree,
        &Observed::default(),
        &run_config(),
        &KeepOptions::default(),
    );
    assert_eq!(reason(&keep, "/run/app/control"), Some(Reason::Always));
    assert!(reason(&keep, "/run/app").is_some(), "its directory is kept");
    if nodes.iter().any(Result::is_err) {
        eprintln!("skipped the device part: cannot mknod here ({nodes:?})");
        return;
    }
    assert_eq!(reason(&keep, "/srv/jail/dev/null"), None);
    let note = keep
        .notes
        .iter()
        .find(|n| n.contains("device nodes"))
        .expect("a note on the device nodes");
    assert!(note.contains("/srv/jail/dev/null (char 1:3)"), "{note}");
    assert!(!note.contains(" /dev/null"), "{note}");
}
