//! The JVM: when `libjvm.so` is kept, keep what a Java runtime loads from
//! its home later, by name or on first use, where profiling rarely reaches:
//!
//! - `lib/modules` (the class image; one file, opened at start anyway),
//!   `lib/jvm.cfg`, `release`;
//! - `conf/` whole: `java.security` is read on the first use of any
//!   security API ("Error loading java.security file" otherwise), and
//!   `net.properties`, `logging.properties` on first use of theirs. Debian
//!   links `conf/*` to `/etc/java-N-openjdk/*`: links and targets are kept;
//! - `lib/security/` (`cacerts`, linked to `/etc/ssl/certs/java/cacerts` on
//!   Debian, `default.policy`, `blocked.certs`, `public_suffix_list.dat`);
//! - `lib/tzdb.dat`, read on the first `ZoneId` other than UTC;
//! - every native library in `lib/` (`libzip`, `libnet`, `libnio`,
//!   `libmanagement`, `libsctp`, …): the class library `dlopen`s them by name
//!   on first use of their Java API, so no ELF file names them;
//! - `lib/jspawnhelper`, which `ProcessBuilder` runs to start a process.
//!
//! JDK 8 layouts (`jre/lib/rt.jar`, no `lib/modules`) keep their whole `lib/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

#[derive(Default)]
pub struct JvmRule {
    homes: BTreeSet<PathBuf>,
}

/// The Java home of a `libjvm.so`: the nearest directory above it that has
/// `lib/modules` (JDK 9+) or `lib/rt.jar` (JDK 8's `jre`).
fn java_home(tree: &dyn FsTree, libjvm: &Path) -> Option<PathBuf> {
    libjvm.ancestors().skip(1).find_map(|dir| {
        ["lib/modules", "lib/rt.jar"]
            .iter()
            .any(|marker| tree.kind(&dir.join(marker)).is_some())
            .then(|| dir.to_path_buf())
    })
}

fn home_wants(tree: &dyn FsTree, home: &Path) -> Vec<Want> {
    let lib = home.join("lib");
    if tree.kind(&lib.join("modules")).is_none() {
        return vec![Want::Tree(lib), Want::Path(home.join("release"))];
    }
    let mut wants: Vec<Want> = [
        "lib/modules",
        "lib/jvm.cfg",
        "lib/tzdb.dat",
        "lib/jspawnhelper",
        "release",
    ]
    .iter()
    .map(|p| Want::Path(home.join(p)))
    .collect();
    wants.push(Want::Tree(home.join("conf")));
    wants.push(Want::Tree(lib.join("security")));
    for entry in tree.list(&lib) {
        let is_library = entry
            .file_name()
            .is_some_and(|name| name.to_string_lossy().ends_with(".so"));
        if is_library
            && matches!(
                tree.kind(&entry),
                Some(NodeKind::File { .. } | NodeKind::Symlink { .. })
            )
        {
            wants.push(Want::Path(entry));
        }
    }
    wants
}

impl RuntimeRule for JvmRule {
    fn name(&self) -> &'static str {
        "jvm"
    }

    fn reason(&self) -> Reason {
        Reason::Jvm
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut wants = Vec::new();
        for path in newly {
            if path.file_name().is_none_or(|name| name != "libjvm.so") {
                continue;
            }
            let Some(home) = java_home(cx.tree, path) else {
                continue;
            };
            if self.homes.insert(home.clone()) {
                wants.extend(home_wants(cx.tree, &home));
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
    fn a_kept_libjvm_keeps_its_homes_config_security_and_native_libraries() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let home = "/usr/lib/jvm/java-17-openjdk-amd64";
        for file in [
            "lib/server/libjvm.so",
            "lib/modules",
            "lib/jvm.cfg",
            "lib/tzdb.dat",
            "lib/libzip.so",
            "lib/libmanagement.so",
            "lib/jspawnhelper",
            "lib/src.zip",
            "lib/security/default.policy",
            "bin/java",
            "release",
        ] {
            touch(r, &format!("{home}/{file}"));
        }
        touch(r, "/etc/java-17-openjdk/security/java.security");
        std::fs::create_dir_all(r.join(&home[1..]).join("conf/security")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/java-17-openjdk/security/java.security",
            r.join(&home[1..]).join("conf/security/java.security"),
        )
        .unwrap();
        let fixture = context_for(r);
        let mut rule = JvmRule::default();
        let libjvm = PathBuf::from(format!("{home}/lib/server/libjvm.so"));
        let wants = rule.expand(&fixture.context(), std::slice::from_ref(&libjvm));
        let at = |p: &str| PathBuf::from(format!("{home}/{p}"));
        for expected in [
            Want::Path(at("lib/modules")),
            Want::Path(at("lib/tzdb.dat")),
            Want::Path(at("lib/libzip.so")),
            Want::Path(at("lib/libmanagement.so")),
            Want::Path(at("lib/jspawnhelper")),
            Want::Tree(at("conf")),
            Want::Tree(at("lib/security")),
        ] {
            assert!(
                wants.contains(&expected),
                "{expected:?} missing from {wants:?}"
            );
        }
        assert!(!wants.contains(&Want::Path(at("lib/src.zip"))));
        // Once per home.
        assert!(rule.expand(&fixture.context(), &[libjvm]).is_empty());
        // Anything else is not a JVM.
        assert!(rule
            .expand(&fixture.context(), &[at("bin/java")])
            .is_empty());
    }
}
