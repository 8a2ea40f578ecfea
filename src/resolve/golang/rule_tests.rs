//! The rule: which needs a program shows, and the wants they give.

use std::process::Command;

use super::synthetic::{elf, Spec};
use super::tests::Image;
use super::*;
use std::collections::BTreeSet;

static NOTHING_OBSERVED: BTreeSet<PathBuf> = BTreeSet::new();
use crate::image::config::RunConfig;
use crate::resolve::closure::LibraryResolver;
use crate::resolve::packages::PackageDb;
use crate::resolve::tree::FsTree;

fn context<'a>(
    tree: &'a dyn FsTree,
    run: &'a RunConfig,
    packages: &'a PackageDb,
    libraries: &'a LibraryResolver<'a>,
) -> RuleContext<'a> {
    RuleContext {
        tree,
        run,
        packages,
        libraries,
        observed: &NOTHING_OBSERVED,
    }
}

/// Runs a fresh rule over `newly` in `image` with the image ENV `env`.
fn expand(image: &Image, env: &[&str], newly: &[&str]) -> (Vec<Want>, GoRule) {
    let run = RunConfig {
        env: Some(env.iter().map(|e| e.to_string()).collect()),
        working_dir: Some("/srv".into()),
        ..RunConfig::default()
    };
    let packages = PackageDb::default();
    let libraries = LibraryResolver::new(image, None);
    let cx = context(image, &run, &packages, &libraries);
    let mut rule = GoRule::default();
    let newly: Vec<PathBuf> = newly.iter().map(PathBuf::from).collect();
    let wants = rule.expand(&cx, &newly);
    assert_eq!(
        rule.expand(&cx, &newly),
        vec![],
        "a second look adds nothing"
    );
    (wants, rule)
}

fn tree(path: &str) -> Want {
    Want::Tree(path.into())
}

fn path(path: &str) -> Want {
    Want::Path(path.into())
}

/// An image with some of each need's files.
fn image_with_data() -> Image {
    let image = Image::new();
    image
        .write("/usr/share/zoneinfo/Europe/Paris", b"TZif")
        .link("/etc/localtime", "/usr/share/zoneinfo/Europe/Paris")
        .write("/etc/ssl/certs/ca-certificates.crt", b"pem")
        .write("/etc/pki/tls/certs/ca-bundle.crt", b"pem")
        .write("/opt/certs/extra.pem", b"pem")
        .write("/srv/zones.zip", b"PK")
        .write("/etc/hosts", b"")
        .write("/etc/resolv.conf", b"")
        .write("/etc/nsswitch.conf", b"")
        .write("/etc/mime.types", b"")
        .write("/etc/passwd", b"")
        .dir("/usr/share/lib");
    image
}

#[test]
fn markers_keep_the_files_go_would_read_when_they_exist() {
    let image = image_with_data();
    let app = Spec::new(&[
        "main.main",
        "time.LoadLocation",
        "crypto/x509.initSystemRoots",
        "net.(*Resolver).lookupIPAddr",
    ]);
    image.write("/app/server", &elf(&app));
    let env = [
        "ZONEINFO=zones.zip",
        "SSL_CERT_DIR=/opt/certs:/missing:",
        "SSL_CERT_FILE=/missing.pem",
    ];
    let (wants, rule) = expand(&image, &env, &["/app", "/app/server", "/etc/hosts"]);
    assert_eq!(
        wants,
        vec![
            path("/etc/hosts"),
            path("/etc/localtime"),
            path("/etc/nsswitch.conf"),
            path("/etc/pki/tls/certs/ca-bundle.crt"),
            path("/etc/resolv.conf"),
            path("/etc/ssl/certs/ca-certificates.crt"),
            path("/srv/zones.zip"),
            tree("/etc/pki/tls/certs"),
            tree("/etc/ssl/certs"),
            tree("/opt/certs"),
            tree("/usr/share/zoneinfo"),
        ]
    );
    let binaries: Vec<_> = rule.binaries().collect();
    assert_eq!(binaries.len(), 1);
    let (found, binary) = binaries[0];
    assert_eq!(found, Path::new("/app/server"));
    assert_eq!(binary.functions, 4);
    assert_eq!(
        binary.needs,
        [
            ("time-zones", "time.LoadLocation"),
            ("local-time-zone", "time.LoadLocation"),
            ("ca-certificates", "crypto/x509.initSystemRoots"),
            ("resolver", "net.(*Resolver).lookupIPAddr"),
        ]
        .map(|(need, marker)| FoundNeed {
            need,
            marker: Some(marker)
        })
    );
}

#[test]
fn no_marker_keeps_nothing_and_an_embedded_copy_spares_the_zone_tree() {
    let image = image_with_data();
    image.write("/plain", &elf(&Spec::new(&["main.main", "fmt.Println"])));
    // `LoadLocationFromTZData` parses bytes it is given: not a marker.
    image.write(
        "/fromdata",
        &elf(&Spec::new(&["time.LoadLocationFromTZData"])),
    );
    let embedded = Spec::new(&["time.LoadLocation", "time/tzdata.loadFromEmbeddedTZData"]);
    image.write("/embedded", &elf(&embedded));
    image.write(
        "/users",
        &elf(&Spec::new(&["os/user.lookupUser", "mime.initMime"])),
    );
    assert_eq!(expand(&image, &[], &["/plain", "/fromdata"]).0, vec![]);
    assert_eq!(
        expand(&image, &[], &["/embedded"]).0,
        vec![path("/etc/localtime")]
    );
    assert_eq!(
        expand(&image, &[], &["/users"]).0,
        vec![path("/etc/mime.types"), path("/etc/passwd")]
    );
}

#[test]
fn an_unreadable_table_keeps_every_need() {
    let image = image_with_data();
    let spec = Spec {
        no_table: true,
        ..Spec::new(&["main.main"])
    };
    image.write("/app", &elf(&spec));
    let (wants, rule) = expand(&image, &[], &["/app"]);
    assert!(wants.contains(&tree("/usr/share/zoneinfo")), "{wants:?}");
    assert!(wants.contains(&path("/etc/passwd")), "{wants:?}");
    assert!(wants.contains(&path("/etc/mime.types")), "{wants:?}");
    let (_, binary) = rule.binaries().next().unwrap();
    assert_eq!(binary.needs.len(), NEEDS.len());
    assert!(binary.needs.iter().all(|found| found.marker.is_none()));
}

#[test]
fn each_want_is_returned_once_across_binaries_and_batches() {
    let image = image_with_data();
    let spec = Spec::new(&["time.LoadLocation"]);
    image.write("/a", &elf(&spec)).write("/b", &elf(&spec));
    let run = RunConfig::default();
    let packages = PackageDb::default();
    let libraries = LibraryResolver::new(&image, None);
    let cx = context(&image, &run, &packages, &libraries);
    let mut rule = GoRule::default();
    let first = rule.expand(&cx, &[PathBuf::from("/a")]);
    assert_eq!(
        first,
        vec![path("/etc/localtime"), tree("/usr/share/zoneinfo")]
    );
    assert_eq!(rule.expand(&cx, &[PathBuf::from("/b")]), vec![]);
    assert_eq!(rule.binaries().count(), 2);
    assert_eq!((rule.name(), rule.reason()), ("go", Reason::Go));
}

/// Builds `source` with the Go toolchain on PATH, if there is one.
fn go_build(dir: &Path, name: &str, source: &str, flags: &[&str]) -> Option<PathBuf> {
    let src = dir.join(format!("{name}-src"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("go.mod"),
        "module example.com/slimtest\n\ngo 1.16\n",
    )
    .unwrap();
    std::fs::write(src.join("main.go"), source).unwrap();
    let out = dir.join(name);
    let mut go = Command::new("go");
    go.arg("build").args(flags).arg("-o").arg(&out).arg(".");
    go.current_dir(&src)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local");
    if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
        go.env("GOCACHE", std::env::temp_dir().join("rslim-test-gocache"));
    }
    let output = go.output().ok()?;
    assert!(
        output.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(out)
}

const USES: &str = r#"package main

import (
	"crypto/x509"
	"fmt"
	"time"
)

func main() {
	loc, err := time.LoadLocation("Europe/Paris")
	fmt.Println(loc, err)
	pool, err := x509.SystemCertPool()
	fmt.Println(pool != nil, err)
}
"#;

const PLAIN: &str = r#"package main

import "fmt"

func main() { fmt.Println("hello") }
"#;

#[test]
fn real_go_programs_when_go_is_installed() {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!("SKIPPED real_go_programs_when_go_is_installed: no `go` on PATH");
        return;
    }
    let image = Image::new();
    let dir = image.root.path();
    let uses = go_build(dir, "uses", USES, &[]).unwrap();
    go_build(dir, "uses-stripped", USES, &["-ldflags=-s -w"]).unwrap();
    go_build(dir, "plain", PLAIN, &["-ldflags=-s -w"]).unwrap();
    // The same program with its section headers gone (as `sstrip` leaves it).
    let mut bytes = std::fs::read(&uses).unwrap();
    assert_eq!(bytes[4], 2, "a 64-bit little-endian build host");
    bytes[0x28..0x30].fill(0); // e_shoff
    bytes[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    std::fs::write(dir.join("uses-no-sections"), bytes).unwrap();
    for (name, how) in [
        ("uses", FoundBy::Section),
        ("uses-stripped", FoundBy::Section),
        ("uses-no-sections", FoundBy::Search),
    ] {
        let exe = read_go_executable(&image, &Path::new("/").join(name)).expect(name);
        assert_eq!(exe.found_by, Some(how), "{name}");
        let build = exe.build.clone().expect(name);
        assert!(build.go_version.starts_with("go1."), "{name}: {build:?}");
        assert_eq!(build.main_module.as_deref(), Some("example.com/slimtest"));
        let binary = GoBinary::new(exe);
        let needs: Vec<&str> = binary.needs.iter().map(|found| found.need).collect();
        assert_eq!(
            needs,
            ["time-zones", "local-time-zone", "ca-certificates"],
            "{name}: {binary:?}"
        );
    }
    let plain = read_go_executable(&image, Path::new("/plain")).unwrap();
    assert!(plain.functions.contains("main.main"));
    assert_eq!(GoBinary::new(plain).needs, vec![]);
    // The DWARF and symbol table at the end of an unstripped build are not read.
    let size = std::fs::metadata(&uses).unwrap().len();
    assert!(image.most_read("/uses") < size * 9 / 10, "{size}");
}
