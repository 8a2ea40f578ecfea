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
//! Python's `encodings` package is the same kind of set; the Python rule keeps it.

use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::pathwalk::resolve;
use super::rules::{RuleContext, RuntimeRule, Want};

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

#[derive(Default)]
pub struct DataSetRule {
    kept: Vec<PathBuf>,
    localtime: Option<Option<PathBuf>>,
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
        let fixture = context_for(r);
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
