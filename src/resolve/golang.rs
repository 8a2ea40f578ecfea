//! What a kept Go program reads at run time only when a code path calls for
//! it. `time.LoadLocation("Europe/Paris")` opens
//! `/usr/share/zoneinfo/Europe/Paris` when it is called (a slim image answers
//! "unknown time zone"), `crypto/x509` loads the CA bundle on the first TLS
//! verification ("certificate signed by unknown authority"). Profiling rarely
//! reaches those paths, so the rule decides from the binary itself: the
//! linker keeps only reachable functions, and the pclntab (the runtime's own
//! function table, kept by `-ldflags=-s -w`) lists them.
//!
//! Checked by hand on real amd64 binaries, the function names against
//! Go's own `debug/gosym` and the build information against `go version
//! -m`: Go 1.15 (1.2 pclntab layout, build information by pointers), 1.16
//! and 1.17 (1.16 layout), 1.19 (1.18 layout, inline build information;
//! also arm64, 386, arm, mips and s390x builds), 1.20 and 1.23 (1.20
//! layout); stripped (`-s -w`, GNU strip) or not, internal and external
//! linking, PIE, and with the section headers removed. The tests build
//! with the `go` on PATH when there is one, and cover every layout, byte
//! order and word size with synthetic files.

mod buildinfo;
mod exe;
mod pclntab;

#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod synthetic;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::buildinfo::BuildInfo;
pub use self::exe::{read_go_executable, FoundBy, GoExecutable};
pub use self::pclntab::{Pclntab, PclntabFormat};
use super::fileset::Reason;
use super::pathwalk::{normalize, resolve};
use super::rules::{RuleContext, RuntimeRule, Want};
use crate::image::node::NodeKind;

/// Files a Go program may read, and the functions that show it can.
pub struct Need {
    /// Shown in the report.
    pub name: &'static str,
    /// Any of these in the program means the files can be read. Markers are
    /// functions the reading code cannot do without, preferably ones passed
    /// as values (`sync.Once.Do(initSystemRoots)`), which are never inlined
    /// away, with the exported entry points beside them.
    pub markers: &'static [&'static str],
    /// Any of these makes the files optional: the program carries a copy.
    pub unless: &'static [&'static str],
    /// Kept when they exist.
    pub files: &'static [&'static str],
    /// Kept whole when they exist.
    pub trees: &'static [&'static str],
    /// Environment variables naming a file or directory; `true` for a
    /// `:`-separated list.
    pub env: &'static [(&'static str, bool)],
}

/// Every run-time read the rule knows, from the Go standard library's Unix
/// sources (`time/zoneinfo_unix.go`, `crypto/x509/root_linux.go`, …).
pub const NEEDS: &[Need] = &[
    // `LoadLocation` reads `$ZONEINFO`, then the directories below. Only the
    // exported function is a marker: the linker drops it unless the program
    // calls it, while the internal `loadLocation` is in every program that
    // imports `time` (`initLocal` reads `/etc/localtime`, or `$TZ` in the
    // image's ENV, which profiling sees opened). Keeping the tree for every
    // Go program would cost about 3 MB each for a `docker run -e TZ=…` that
    // a C program would not get either; docs/runtime-rules.md.
    // `LoadLocationFromTZData` is not a marker: it parses bytes the caller
    // already has. A program that imports `time/tzdata` falls back to its
    // embedded copy when the files are missing. `/etc/zoneinfo` is not in
    // Go's own list; it is kept when present.
    Need {
        name: "time-zones",
        markers: &["time.LoadLocation"],
        unless: &["time/tzdata.loadFromEmbeddedTZData"],
        files: &[],
        trees: &[
            "/usr/share/zoneinfo",
            "/usr/share/lib/zoneinfo",
            "/usr/lib/locale/TZ",
            "/etc/zoneinfo",
        ],
        env: &[],
    },
    // The embedded copy has no `localtime`, and `$ZONEINFO` is read first.
    Need {
        name: "local-time-zone",
        markers: &["time.LoadLocation", "time.loadLocation", "time.initLocal"],
        unless: &[],
        files: &["/etc/localtime"],
        trees: &[],
        env: &[("ZONEINFO", false)],
    },
    // `initSystemRoots` runs once, on the first verification against the
    // system pool. Go reads the first file that exists and every directory.
    Need {
        name: "ca-certificates",
        markers: &[
            "crypto/x509.initSystemRoots",
            "crypto/x509.loadSystemRoots",
            "crypto/x509.systemRootsPool",
            "crypto/x509.SystemCertPool",
        ],
        unless: &[],
        files: &[
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/ca-bundle.pem",
            "/etc/pki/tls/cacert.pem",
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            "/etc/ssl/cert.pem",
        ],
        trees: &["/etc/ssl/certs", "/etc/pki/tls/certs"],
        env: &[("SSL_CERT_FILE", false), ("SSL_CERT_DIR", true)],
    },
    // Any host name lookup (`net.Dial("tcp", "db:5432")`, `LookupHost`)
    // goes through `lookupIPAddr`; the pure-Go resolver reads its
    // configuration with `dnsReadConfig`. Go stats `/etc/mdns.allow`; glibc
    // reads `/etc/host.conf` when Go hands the lookup to cgo.
    Need {
        name: "resolver",
        markers: &[
            "net.(*Resolver).lookupIPAddr",
            "net.(*Resolver).lookupHost",
            "net.dnsReadConfig",
            "net.readHosts",
            "net.parseNSSConfFile",
        ],
        unless: &[],
        files: &[
            "/etc/nsswitch.conf",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/services",
            "/etc/protocols",
            "/etc/host.conf",
            "/etc/mdns.allow",
        ],
        trees: &[],
        env: &[],
    },
    // `initMime` runs once, on the first lookup; it reads the shared-mime-info
    // globs and, when there are none, the first `mime.types` it finds.
    Need {
        name: "mime-types",
        markers: &[
            "mime.initMime",
            "mime.TypeByExtension",
            "mime.ExtensionsByType",
        ],
        unless: &[],
        files: &[
            "/usr/local/share/mime/globs2",
            "/usr/share/mime/globs2",
            "/etc/mime.types",
            "/etc/apache2/mime.types",
            "/etc/apache/mime.types",
            "/etc/httpd/conf/mime.types",
        ],
        trees: &[],
        env: &[],
    },
    // The pure-Go `os/user` parses these files; with cgo, getpwnam does
    // through NSS (the glibc rule keeps its modules).
    Need {
        name: "users",
        markers: &[
            "os/user.current",
            "os/user.lookupUser",
            "os/user.lookupUserId",
            "os/user.lookupGroup",
            "os/user.lookupGroupId",
            "os/user.listGroups",
        ],
        unless: &[],
        files: &["/etc/passwd", "/etc/group"],
        trees: &[],
        env: &[],
    },
];

/// What the rule found in one kept Go program, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoBinary {
    pub build: Option<BuildInfo>,
    /// `None` when no function table was readable.
    pub pclntab: Option<PclntabFormat>,
    pub found_by: Option<FoundBy>,
    pub functions: usize,
    pub needs: Vec<FoundNeed>,
}

/// A need that applies to a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundNeed {
    /// [`Need::name`].
    pub need: &'static str,
    /// The marker found; `None` when no function table was readable, and
    /// every need is assumed.
    pub marker: Option<&'static str>,
}

impl GoBinary {
    fn new(exe: GoExecutable) -> GoBinary {
        let has = |names: &'static [&'static str]| {
            names
                .iter()
                .copied()
                .find(|name| exe.functions.contains(*name))
        };
        let needs = NEEDS
            .iter()
            .filter_map(|need| {
                let marker = match exe.pclntab {
                    None => None,
                    Some(_) => Some(has(need.markers)?),
                };
                let spared = marker.is_some() && has(need.unless).is_some();
                (!spared).then_some(FoundNeed {
                    need: need.name,
                    marker,
                })
            })
            .collect();
        GoBinary {
            build: exe.build,
            pclntab: exe.pclntab,
            found_by: exe.found_by,
            functions: exe.functions.len(),
            needs,
        }
    }
}

/// The Go rule: see the module documentation.
#[derive(Default)]
pub struct GoRule {
    /// Every regular file looked at, by real path; `None` for non-Go files.
    seen: BTreeMap<PathBuf, Option<GoBinary>>,
    /// What was already asked for, so each want is returned once.
    wanted: BTreeSet<Want>,
}

impl GoRule {
    /// The kept Go programs, by real path.
    pub fn binaries(&self) -> impl Iterator<Item = (&Path, &GoBinary)> {
        self.seen
            .iter()
            .filter_map(|(path, binary)| Some((path.as_path(), binary.as_ref()?)))
    }
}

impl RuntimeRule for GoRule {
    fn name(&self) -> &'static str {
        "go"
    }

    fn reason(&self) -> Reason {
        Reason::Go
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut wants = BTreeSet::new();
        for path in newly {
            if self.seen.contains_key(path) {
                continue;
            }
            let binary = read_go_executable(cx.tree, path).map(GoBinary::new);
            for found in binary.iter().flat_map(|binary| &binary.needs) {
                if let Some(need) = NEEDS.iter().find(|need| need.name == found.need) {
                    wants.extend(need_wants(cx, need));
                }
            }
            self.seen.insert(path.clone(), binary);
        }
        wants
            .into_iter()
            .filter(|want| self.wanted.insert(want.clone()))
            .collect()
    }
}

/// The paths of `need` that exist in the image, as Go names them.
fn need_wants(cx: &RuleContext, need: &Need) -> Vec<Want> {
    let workdir = cx.run.working_dir.as_deref().unwrap_or("/");
    let from_env = need.env.iter().flat_map(|&(var, list)| {
        let value = cx.run.env_var(var).unwrap_or_default();
        let parts: Vec<&str> = if list {
            value.split(':').collect()
        } else {
            vec![value]
        };
        parts
            .into_iter()
            .filter(|part| !part.is_empty())
            .map(|part| normalize(&Path::new(workdir).join(part)))
    });
    need.files
        .iter()
        .chain(need.trees)
        .map(PathBuf::from)
        .chain(from_env)
        .filter_map(|path| {
            let kind = cx.tree.kind(&resolve(cx.tree, &path)?.path)?;
            Some(match kind {
                NodeKind::Dir => Want::Tree(path),
                _ => Want::Path(path),
            })
        })
        .collect()
}
