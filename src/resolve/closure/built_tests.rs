//! Search-order cases on programs built with gcc into a directory laid out
//! like an image, cross-checked with the host's ld.so where it can run them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::resolve::ldcache::EM_X86_64;
use crate::resolve::tree::test_support::merged_usr_with_host_libc;
use crate::resolve::tree::HostTree;

fn run(command: &mut Command) {
    let output = command.output().expect("start build tool");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An image root with the host's libc and loader in merged-/usr layout, and:
/// - /app/lib/libfoo.so.1.2.3 (soname libfoo.so.1, needs libbar.so) with the
///   chain libfoo.so → libfoo.so.1 → libfoo.so.1.2.3, and /app/lib/libbar.so;
/// - /app/bin/runpath: DT_RUNPATH $ORIGIN/../lib, needs libfoo.so.1;
/// - /app/bin/rpath: DT_RPATH /opt/i386:/opt/arm64:$ORIGIN/../lib, where both
///   /opt dirs hold a libfoo.so.1 of the wrong class or machine;
/// - /app/bin/gone: needs libgone.so, which is not in the image;
/// - /opt/extra/libbar.so, for LD_LIBRARY_PATH.
fn built_image() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let build = tempfile::tempdir().unwrap();
    let at = |path: &str| root.path().join(path);
    let src = |name: &str, code: &str| {
        let path = build.path().join(name);
        std::fs::write(&path, code).unwrap();
        path
    };
    merged_usr_with_host_libc(root.path());
    for dir in ["app/bin", "app/lib", "opt/i386", "opt/arm64", "opt/extra"] {
        std::fs::create_dir_all(at(dir)).unwrap();
    }

    let lib_dir = at("app/lib");
    let bar = src("bar.c", "int bar(void) { return 2; }\n");
    run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libbar.so", "-o"])
        .arg(lib_dir.join("libbar.so"))
        .arg(&bar));
    std::fs::copy(lib_dir.join("libbar.so"), at("opt/extra/libbar.so")).unwrap();
    let foo = src(
        "foo.c",
        "int bar(void);\nint foo(void) { return bar() + 1; }\n",
    );
    run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", "-o"])
        .arg(lib_dir.join("libfoo.so.1.2.3"))
        .arg(&foo)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lbar"));
    symlink("libfoo.so.1.2.3", lib_dir.join("libfoo.so.1")).unwrap();
    symlink("libfoo.so.1", lib_dir.join("libfoo.so")).unwrap();

    // Decoys: same soname, 32-bit x86 and (a patched copy) aarch64.
    let foo32 = src("foo32.c", "int foo(void) { return 32; }\n");
    run(Command::new("gcc")
        .args([
            "-m32",
            "-shared",
            "-fPIC",
            "-nostdlib",
            "-Wl,-soname,libfoo.so.1",
            "-o",
        ])
        .arg(at("opt/i386/libfoo.so.1"))
        .arg(&foo32));
    let mut arm64 = std::fs::read(lib_dir.join("libfoo.so.1.2.3")).unwrap();
    arm64[18..20].copy_from_slice(&crate::resolve::ldcache::EM_AARCH64.to_le_bytes());
    std::fs::write(at("opt/arm64/libfoo.so.1"), arm64).unwrap();

    let main = src(
        "main.c",
        "int foo(void);\nint main(void) { return foo() == 4 ? 0 : 1; }\n",
    );
    let link_program = |output: &str, extra: &[&str]| {
        run(Command::new("gcc")
            .arg("-o")
            .arg(at(output))
            .arg(&main)
            .arg("-L")
            .arg(&lib_dir)
            .arg("-lfoo")
            .arg(format!("-Wl,-rpath-link,{}", lib_dir.display()))
            .args(extra));
    };
    link_program(
        "app/bin/runpath",
        &["-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"],
    );
    link_program(
        "app/bin/rpath",
        &["-Wl,--disable-new-dtags,-rpath,/opt/i386:/opt/arm64:$ORIGIN/../lib"],
    );

    let gone = src("gone.c", "int gone(void) { return 0; }\n");
    run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(build.path().join("libgone.so"))
        .arg(&gone));
    let gone_main = src(
        "gone_main.c",
        "int gone(void);\nint main(void) { return gone(); }\n",
    );
    run(Command::new("gcc")
        .arg("-o")
        .arg(at("app/bin/gone"))
        .arg(&gone_main)
        .arg("-L")
        .arg(build.path())
        .arg("-lgone"));
    root
}

fn program(name: &str) -> Vec<PathBuf> {
    vec![Path::new("/app/bin").join(name)]
}

fn file<'c>(closure: &'c Closure, path: &str) -> &'c Dependency {
    closure
        .files
        .iter()
        .find(|dep| dep.path == Path::new(path))
        .unwrap_or_else(|| panic!("{path} not in {closure:#?}"))
}

/// What the host's ld.so says is not found when running `program` of the image root.
fn host_ldd_not_found(root: &Path, program: &str) -> Vec<String> {
    let output = Command::new("ldd")
        .arg(root.join(program))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_suffix(" => not found")
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn runpath_is_not_inherited_by_the_libraries_it_finds() {
    let root = built_image();
    let tree = HostTree::new(root.path());
    let closure = LibraryResolver::new(&tree, None).closure(&program("runpath"));

    let foo = file(&closure, "/app/lib/libfoo.so.1.2.3");
    assert_eq!(foo.symlinks, vec![PathBuf::from("/app/lib/libfoo.so.1")]);
    assert_eq!(foo.needed_by, PathBuf::from("/app/bin/runpath"));
    let libc = file(&closure, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    assert_eq!(
        libc.symlinks,
        vec![PathBuf::from("/lib")],
        "found in the default /lib/x86_64-linux-gnu"
    );
    let loader = file(&closure, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    let loader_chain: Vec<PathBuf> = ["/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/lib"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(loader.symlinks, loader_chain);
    assert_eq!(closure.files.len(), 3, "{closure:#?}");

    let missing = Missing {
        soname: "libbar.so".into(),
        needed_by: "/app/lib/libfoo.so.1.2.3".into(),
    };
    assert_eq!(closure.missing, vec![missing]);
    assert_eq!(
        host_ldd_not_found(root.path(), "app/bin/runpath"),
        ["libbar.so"],
        "glibc agrees"
    );
}

#[test]
fn rpath_is_inherited_and_wrong_class_or_machine_candidates_are_skipped() {
    let root = built_image();
    let tree = HostTree::new(root.path());
    let closure = LibraryResolver::new(&tree, None).closure(&program("rpath"));
    assert!(closure.missing.is_empty(), "{:?}", closure.missing);
    assert_eq!(
        file(&closure, "/app/lib/libfoo.so.1.2.3").needed_by,
        PathBuf::from("/app/bin/rpath")
    );
    // libfoo has no search path of its own: the program's DT_RPATH applies.
    assert_eq!(
        file(&closure, "/app/lib/libbar.so").needed_by,
        PathBuf::from("/app/lib/libfoo.so.1.2.3")
    );
    assert!(
        !closure.files.iter().any(|dep| dep.path.starts_with("/opt")),
        "{closure:#?}"
    );
    assert!(
        host_ldd_not_found(root.path(), "app/bin/rpath").is_empty(),
        "glibc agrees"
    );
}

#[test]
fn ld_library_path_comes_after_rpath_and_before_runpath() {
    let root = built_image();
    let tree = HostTree::new(root.path());
    let resolver = LibraryResolver::new(&tree, Some("/opt/extra:/opt/none"));
    let runpath = resolver.closure(&program("runpath"));
    assert!(runpath.missing.is_empty(), "{:?}", runpath.missing);
    assert_eq!(
        file(&runpath, "/opt/extra/libbar.so").needed_by,
        PathBuf::from("/app/lib/libfoo.so.1.2.3")
    );
    let rpath = resolver.closure(&program("rpath"));
    file(&rpath, "/app/lib/libbar.so");
    assert!(!rpath.files.iter().any(|dep| dep.path.starts_with("/opt")));
}

#[test]
fn missing_libraries_are_reported_per_process() {
    let root = built_image();
    let tree = HostTree::new(root.path());
    let resolver = LibraryResolver::new(&tree, None);
    let gone = resolver.closure(&program("gone"));
    assert_eq!(
        gone.missing,
        vec![Missing {
            soname: "libgone.so".into(),
            needed_by: "/app/bin/gone".into()
        }]
    );

    // libbar found for one program does not satisfy the other's search.
    let both = resolver.closure(&[program("rpath"), program("runpath")].concat());
    file(&both, "/app/lib/libbar.so");
    assert_eq!(both.missing.len(), 1, "{:?}", both.missing);
    assert_eq!(both.missing[0].soname, "libbar.so");
}

/// Counts parses: reads from the start of more than an ELF identity's 20
/// bytes (a large ELF's parts after its head are not counted).
struct CountingTree {
    inner: HostTree,
    full_reads: RefCell<HashMap<PathBuf, usize>>,
}

impl FsTree for CountingTree {
    fn kind(&self, path: &Path) -> Option<NodeKind> {
        self.inner.kind(path)
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        if limit > 20 {
            *self
                .full_reads
                .borrow_mut()
                .entry(path.to_path_buf())
                .or_default() += 1;
        }
        self.inner.read(path, limit)
    }

    fn read_at(&self, path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        if offset == 0 {
            return self.read(path, len);
        }
        self.inner.read_at(path, offset, len)
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        self.inner.list(dir)
    }
}

#[test]
fn each_file_is_parsed_once_per_resolver() {
    let root = built_image();
    let tree = CountingTree {
        inner: HostTree::new(root.path()),
        full_reads: RefCell::default(),
    };
    let resolver = LibraryResolver::new(&tree, None);
    let roots = [program("rpath"), program("runpath"), program("gone")].concat();
    let first = resolver.closure(&roots);
    let again = resolver.closure(&roots);
    assert_eq!(first, again);
    let reads = tree.full_reads.borrow();
    assert_eq!(
        reads.get(Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6")),
        Some(&1)
    );
    assert!(reads.values().all(|&count| count == 1), "{reads:?}");
}

#[test]
fn image_ld_so_conf_and_the_cache_ldconfig_builds_from_it_are_searched() {
    let root = built_image();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/ld.so.conf"), "/opt/extra\n").unwrap();
    let tree = HostTree::new(root.path());

    // No ld.so.cache yet: the directories of ld.so.conf stand in for it.
    let conf_only = LibraryResolver::new(&tree, None);
    assert!(conf_only.cache.entries.is_empty());
    let closure = conf_only.closure(&program("runpath"));
    assert!(closure.missing.is_empty(), "{:?}", closure.missing);
    file(&closure, "/opt/extra/libbar.so");

    run(Command::new("ldconfig").arg("-r").arg(root.path()));
    let cached = LibraryResolver::new(&tree, None);
    let bar: Vec<&Path> = cached.cache.lookup(b"libbar.so", true, EM_X86_64).collect();
    assert_eq!(bar, [Path::new("/opt/extra/libbar.so")]);
    assert_eq!(cached.closure(&program("runpath")), closure);
}
