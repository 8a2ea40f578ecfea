//! Data sets read as a whole: when an app uses one file of such a set, the
//! next request may well use another one, chosen from its input. So one file
//! opened keeps the whole set:
//!
//! - **zoneinfo**: an app that opened `Europe/Paris` will be asked for
//!   `America/New_York`, and apps list the tree to validate zone names. The
//!   file behind `/etc/localtime` alone does not count: every program that
//!   formats a local time opens it, and that is all most of them ever need.
//! - **gconv** modules: an app that converted to one charset converts to
//!   others. Only a module (`*.so`) counts: glibc opens `gconv-modules.cache`
//!   to look up any conversion, builtin ones included (Python does at start
//!   for its locale encoding), and the set costs about 8 MB.
//! - **ICU** data directories (`/usr/share/icu/<version>/`).
//! - the **CA directory** (`/etc/ssl/certs` and the certificates its hashed
//!   links point to): a TLS library looks certificates up by subject hash.
//!
//! - **plugin directories**: a shared object the app opened from a
//!   directory the loader does not search by name was `dlopen`ed by path: a
//!   plugin (ImageMagick's coders, gdk-pixbuf's loaders, SASL mechanisms, PAM
//!   modules, nginx's dynamic modules, OpenSSL providers). Its siblings are
//!   plugins picked the same way, by format, mechanism or configuration; they
//!   are kept, with the small files beside them (module caches, configs),
//!   up to [`MAX_PLUGIN_DIR_BYTES`]. Directories that language rules own
//!   (Python's `lib-dynload`, Perl's `auto/`, `node_modules`, a Java home)
//!   are left to those rules.
//!
//! - Perl's `Encode` families (`auto/Encode/<family>/`), the same kind of
//!   set as gconv: about 9 MB, kept once one family was loaded.
//!
//! Python's `encodings` package is the same kind of set; the Python rule keeps it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::pathwalk::resolve;
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// Each set: the directories it lives in (any one opened file below keeps that directory).
const SETS: &[(&str, &[&str])] = &[
    (
        "zoneinfo",
        &[
            "/usr/share/zoneinfo",
            "/usr/share/lib/zoneinfo",
            "/usr/lib/zoneinfo",
            "/etc/zoneinfo",
        ],
    ),
    (
        "gconv",
        &[
            "/usr/lib/x86_64-linux-gnu/gconv",
            "/usr/lib/aarch64-linux-gnu/gconv",
            "/usr/lib/i386-linux-gnu/gconv",
            "/usr/lib64/gconv",
            "/usr/lib/gconv",
        ],
    ),
    ("icu", &["/usr/share/icu", "/usr/lib/icu"]),
    (
        "ca-certificates",
        &[
            "/etc/ssl/certs",
            "/usr/share/ca-certificates",
            "/etc/pki/tls/certs",
            "/etc/pki/ca-trust/extracted",
        ],
    ),
];

/// Code that reads a set by name from its input without having opened a
/// file of it while profiling: Python's `zoneinfo` and `dateutil.tz`, and
/// Ruby's `tzinfo` read the system's zoneinfo tree.
const SET_READERS: &[(&str, &str)] = &[
    ("/zoneinfo/__init__.py", "/usr/share/zoneinfo"),
    ("/dateutil/tz/tz.py", "/usr/share/zoneinfo"),
    (
        "/tzinfo/data_sources/zoneinfo_data_source.rb",
        "/usr/share/zoneinfo",
    ),
];

/// A plugin directory holding more than this is not kept whole (noted).
pub const MAX_PLUGIN_DIR_BYTES: u64 = 32 << 20;
/// Files beside plugins kept with them when this small (caches, configs).
const MAX_PLUGIN_COMPANION_BYTES: u64 = 1 << 20;

#[derive(Default)]
pub struct DataSetRule {
    kept: Vec<PathBuf>,
    localtime: Option<Option<PathBuf>>,
    plugin_dirs: BTreeSet<PathBuf>,
    notes: Vec<String>,
}

fn is_shared_object_name(path: &Path) -> bool {
    path.file_name().is_some_and(|name| {
        let name = name.to_string_lossy();
        name.ends_with(".so") || name.contains(".so.")
    })
}

/// Directories whose modules a language rule decides on.
fn owned_by_a_language_rule(tree: &dyn FsTree, dir: &Path) -> bool {
    let named = |names: &[&str]| {
        dir.components()
            .any(|c| names.iter().any(|n| c.as_os_str() == *n))
    };
    named(&[
        "lib-dynload",
        "auto",
        "node_modules",
        "site-packages",
        "dist-packages",
        "gems",
        "ruby",
    ]) || dir.ancestors().take(4).any(|a| {
        ["lib/modules", "lib/rt.jar"]
            .iter()
            .any(|m| tree.kind(&a.join(m)).is_some())
    })
}

/// Perl's `Encode` loads one XS module per family of encodings
/// (`auto/Encode/JP/JP.so`, …) by name; one loaded keeps them all.
fn perl_encode_set(path: &Path) -> Option<PathBuf> {
    let text = path.to_string_lossy();
    let at = text.find("/auto/Encode/")?;
    let family = &text[at + "/auto/Encode/".len()..];
    // A file in a family's subdirectory, not Encode's own `Encode.so`.
    family
        .contains('/')
        .then(|| PathBuf::from(&text[..at + "/auto/Encode".len()]))
}

impl DataSetRule {
    /// The plugins beside `plugin`, if it was loaded by path from a directory of plugins.
    fn plugin_siblings(&mut self, cx: &RuleContext, plugin: &Path) -> Vec<Want> {
        let Some(dir) = plugin.parent() else {
            return Vec::new();
        };
        if !is_shared_object_name(plugin)
            || self.plugin_dirs.contains(dir)
            || cx.libraries.is_search_dir(dir)
            || cx.elf(plugin).is_none_or(|info| info.interpreter.is_some())
            || owned_by_a_language_rule(cx.tree, dir)
        {
            return Vec::new();
        }
        self.plugin_dirs.insert(dir.to_path_buf());
        let mut siblings = Vec::new();
        let mut bytes = 0;
        for entry in cx.tree.list(dir) {
            let size = match cx.tree.kind(&entry) {
                Some(NodeKind::File { size }) => size,
                Some(NodeKind::Symlink { .. }) => 0,
                _ => continue,
            };
            if is_shared_object_name(&entry) || size <= MAX_PLUGIN_COMPANION_BYTES {
                bytes += size;
                siblings.push(Want::Path(entry));
            }
        }
        if bytes > MAX_PLUGIN_DIR_BYTES {
            self.notes.push(format!(
                "plugins: {} was loaded from {}, whose {} other modules ({:.1} MB) are over \
                 the {} MB cap and were not kept; keep them with --include-path",
                plugin.display(),
                dir.display(),
                siblings.len(),
                bytes as f64 / 1e6,
                MAX_PLUGIN_DIR_BYTES >> 20
            ));
            return Vec::new();
        }
        siblings
    }
}

impl DataSetRule {
    /// The real file `/etc/localtime` leads to, looked up once.
    fn localtime_target(&mut self, cx: &RuleContext) -> Option<&Path> {
        self.localtime
            .get_or_insert_with(|| resolve(cx.tree, Path::new("/etc/localtime")).map(|r| r.path))
            .as_deref()
    }
}

impl RuntimeRule for DataSetRule {
    fn name(&self) -> &'static str {
        "datasets"
    }

    fn reason(&self) -> Reason {
        Reason::DataSet
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut wants = Vec::new();
        for path in newly {
            for (reader, set) in SET_READERS {
                let set = PathBuf::from(set);
                if path.to_string_lossy().ends_with(reader) && !self.kept.contains(&set) {
                    if let Some(real) = resolve(cx.tree, &set) {
                        self.kept.push(real.path);
                        wants.push(Want::Tree(set));
                    }
                }
            }
            // The rest counts only what the app itself used: a file another
            // rule kept (Encode::Unicode, named by JSON::PP) says nothing
            // about which other members the app will ask for.
            if !cx.observed.contains(path) {
                continue;
            }
            wants.extend(self.plugin_siblings(cx, path));
            if let Some(set) = perl_encode_set(path).filter(|set| !self.kept.contains(set)) {
                self.kept.push(set.clone());
                wants.push(Want::Tree(set));
            }
            if self.localtime_target(cx) == Some(path.as_path()) {
                continue;
            }
            for (_, dirs) in SETS {
                // The set's directories may be symlinks (/usr/share/zoneinfo → …).
                let real_dirs = dirs
                    .iter()
                    .filter_map(|dir| resolve(cx.tree, Path::new(dir)).map(|r| (*dir, r.path)));
                for (named, real) in real_dirs {
                    let configuration_only =
                        named.ends_with("/gconv") && path.extension().is_none_or(|e| e != "so");
                    if path != &real
                        && path.starts_with(&real)
                        && !configuration_only
                        && !self.kept.contains(&real)
                    {
                        self.kept.push(real);
                        wants.push(Want::Tree(PathBuf::from(named)));
                    }
                }
            }
        }
        wants
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::rules::test_support::{context_for, touch};

    #[test]
    fn one_opened_file_keeps_its_set_but_localtime_alone_does_not() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for zone in ["Etc/UTC", "Europe/Paris", "America/New_York"] {
            touch(r, &format!("/usr/share/zoneinfo/{zone}"));
        }
        touch(r, "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so");
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::os::unix::fs::symlink("/usr/share/zoneinfo/Etc/UTC", r.join("etc/localtime")).unwrap();
        let mut fixture = context_for(r);
        // A zone file another rule kept is no sign the app picks zones.
        assert!(DataSetRule::default()
            .expand(
                &fixture.context(),
                &["/usr/share/zoneinfo/Europe/Paris".into()]
            )
            .is_empty());
        for used in [
            "/usr/share/zoneinfo/Etc/UTC",
            "/usr/share/zoneinfo/Europe/Paris",
            "/usr/share/zoneinfo/America/New_York",
            "/usr/share/zoneinfo",
            "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
            "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so",
        ] {
            fixture.observed.insert(used.into());
        }
        let cx = fixture.context();
        let mut rule = DataSetRule::default();
        assert!(rule
            .expand(&cx, &["/usr/share/zoneinfo/Etc/UTC".into()])
            .is_empty());
        assert_eq!(
            rule.expand(&cx, &["/usr/share/zoneinfo/Europe/Paris".into()]),
            [Want::Tree("/usr/share/zoneinfo".into())]
        );
        assert!(rule
            .expand(&cx, &["/usr/share/zoneinfo/America/New_York".into()])
            .is_empty());
        assert!(rule
            .expand(
                &cx,
                &["/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache".into()]
            )
            .is_empty());
        assert_eq!(
            rule.expand(&cx, &["/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so".into()]),
            [Want::Tree("/usr/lib/x86_64-linux-gnu/gconv".into())]
        );
        // Python's zoneinfo module reads the tree by name.
        assert_eq!(
            DataSetRule::default()
                .expand(&cx, &["/usr/lib/python3.11/zoneinfo/__init__.py".into()]),
            [Want::Tree("/usr/share/zoneinfo".into())]
        );
        // The directory itself (listed, say) is not a file of the set.
        assert!(DataSetRule::default()
            .expand(&cx, &["/usr/share/zoneinfo".into()])
            .is_empty());
    }
}

#[cfg(test)]
mod plugin_tests {
    use super::*;
    use crate::resolve::rules::test_support::{context_for, touch};

    /// Copies a real shared object of the host (an ELF library without
    /// PT_INTERP) into the tree at each of `paths`.
    fn plant_library(root: &Path, paths: &[&str]) -> bool {
        let Ok(host) = std::fs::canonicalize("/usr/lib/x86_64-linux-gnu/libz.so.1") else {
            return false;
        };
        for path in paths {
            let at = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::copy(&host, at).unwrap();
        }
        true
    }

    #[test]
    fn a_plugin_loaded_by_path_keeps_its_sibling_plugins() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let coders = "/usr/lib/x86_64-linux-gnu/ImageMagick-6/modules-Q16/coders";
        let planted = plant_library(
            r,
            &[
                &format!("{coders}/png.so"),
                &format!("{coders}/webp.so"),
                "/usr/lib/x86_64-linux-gnu/libz.so.1",
                "/usr/lib/python3.11/lib-dynload/_ssl.so",
            ],
        );
        if !planted {
            eprintln!("skipped: the host has no libz.so.1 to plant");
            return;
        }
        touch(r, &format!("{coders}/webp.la"));
        let mut fixture = context_for(r);
        for used in [
            format!("{coders}/png.so"),
            "/usr/lib/x86_64-linux-gnu/libz.so.1".into(),
            "/usr/lib/python3.11/lib-dynload/_ssl.so".into(),
        ] {
            fixture.observed.insert(used.into());
        }
        let cx = fixture.context();
        let mut rule = DataSetRule::default();
        let wants = rule.expand(&cx, &[format!("{coders}/png.so").into()]);
        for expected in ["webp.so", "webp.la", "png.so"] {
            assert!(
                wants.contains(&Want::Path(format!("{coders}/{expected}").into())),
                "{expected} missing from {wants:?}"
            );
        }
        // A library the loader finds by name says nothing about its neighbours,
        // and Python's extension modules are the Python rule's business.
        let mut fresh = DataSetRule::default();
        assert!(fresh
            .expand(&cx, &["/usr/lib/x86_64-linux-gnu/libz.so.1".into()])
            .is_empty());
        assert!(fresh
            .expand(&cx, &["/usr/lib/python3.11/lib-dynload/_ssl.so".into()])
            .is_empty());
    }
}

#[cfg(test)]
mod perl_encode_tests {
    use super::*;

    #[test]
    fn one_encode_family_loaded_keeps_them_all_but_encode_itself_does_not() {
        let arch = "/usr/lib/x86_64-linux-gnu/perl/5.36.0";
        assert_eq!(
            perl_encode_set(Path::new(&format!("{arch}/auto/Encode/JP/JP.so"))),
            Some(PathBuf::from(format!("{arch}/auto/Encode")))
        );
        assert_eq!(
            perl_encode_set(Path::new(&format!("{arch}/auto/Encode/Encode.so"))),
            None
        );
        assert_eq!(
            perl_encode_set(Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1")),
            None
        );
    }
}
