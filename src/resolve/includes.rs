//! What the user asks to keep or drop, with docker-slim's flag names:
//! `--include-path` (a path or a glob), `--include-bin`, `--include-exe`,
//! `--include-shell`, `--include-certs`, `--include-zoneinfo`,
//! `--include-locale`, and `--exclude-pattern`. Each include becomes a
//! [`Want`] that [`super::fileset::keep_set`] keeps like a rule's, so the ELF
//! and `#!` needs of what it adds are kept too. docs/packages.md ("Include
//! and exclude flags") lists each flag and the differences from docker-slim.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::glibc::locale_dir_names;
use super::glob::{is_glob, Glob};
use super::pathwalk::{normalize, resolve};
use super::rules::Want;
use super::script::which;
use super::tls::CA_PATHS;
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// What `--include-shell` keeps when the image has it: a shell and the
/// tools of a busybox-style rescue kit for looking around (docker-slim keeps
/// `sh`, `bash` and `ls pwd cd ps head tail cat more find grep awk env`;
/// this is that list and more). Each is looked up on the image's PATH.
pub const SHELL_TOOLS: &[&str] = &[
    // shells
    "sh", "bash", "ash", // files
    "ls", "cat", "more", "less", "head", "tail", "find", "grep", "egrep", "fgrep", "sed", "awk",
    "xargs", "wc", "sort", "uniq", "cut", "tr", "tee", "diff", "stat", "du", "df", "file",
    "readlink", "realpath", "dirname", "basename", "mktemp", "touch", "mkdir", "rmdir", "rm", "cp",
    "mv", "ln", "chmod", "chown", "tar", "gzip", "gunzip", "zcat", "vi",
    // the shell's helpers
    "env", "echo", "printf", "test", "[", "true", "false", "sleep", "pwd", "which",
    // processes and the system
    "id", "whoami", "ps", "top", "free", "kill", "uname", "hostname", "date",
];

/// Where CA certificates live (Debian, RHEL, Alpine, SUSE), shared with the TLS rule.
const CERT_PATHS: &[&str] = CA_PATHS;

/// The zoneinfo trees glibc, Go and musl read, and the local zone.
const ZONEINFO_PATHS: &[&str] = &[
    "/usr/share/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/usr/lib/zoneinfo",
    "/etc/zoneinfo",
    "/etc/localtime",
    "/etc/timezone",
];

/// The include flags, as given.
#[derive(Debug, Clone, Default)]
pub struct Includes {
    /// `--include-path` and the lines of `--include-path-file`: paths or globs.
    pub paths: Vec<PathBuf>,
    /// `--include-bin`: files, with their ELF closure.
    pub bins: Vec<PathBuf>,
    /// `--include-exe`: program names, looked up on the image's PATH.
    pub exes: Vec<String>,
    pub shell: bool,
    pub certs: bool,
    pub zoneinfo: bool,
    /// `--include-locale`: `de_DE.UTF-8`, `C.UTF-8`, or `all`.
    pub locales: Vec<String>,
}

/// What the includes ask for, and what the user should know.
#[derive(Debug, Default)]
pub struct Wanted {
    pub wants: Vec<(Want, Reason)>,
    pub notes: Vec<String>,
}

impl Wanted {
    fn want(&mut self, tree: &dyn FsTree, path: PathBuf, reason: Reason) {
        let whole =
            resolve(tree, &path).is_some_and(|found| tree.kind(&found.path) == Some(NodeKind::Dir));
        self.wants.push(match whole {
            true => (Want::Tree(path), reason),
            false => (Want::Path(path), reason),
        });
    }
}

/// The wants of every include flag over `tree`, with `path_var` the image's PATH.
pub fn wanted(tree: &dyn FsTree, includes: &Includes, path_var: &str) -> Wanted {
    let mut out = Wanted::default();
    for path in &includes.paths {
        let text = path.to_string_lossy();
        let literal = normalize(path);
        if resolve(tree, &literal).is_some() {
            out.want(tree, literal, Reason::Include);
            continue;
        }
        if !is_glob(&text) {
            out.notes
                .push(format!("--include-path {text} is not in the image"));
            continue;
        }
        match Glob::new(&text) {
            Ok(glob) => {
                let matches = glob.expand(tree);
                if matches.is_empty() {
                    out.notes.push(format!(
                        "--include-path {text} matches nothing in the image"
                    ));
                }
                for found in matches {
                    out.want(tree, found, Reason::Include);
                }
            }
            Err(e) => out.notes.push(format!("--include-path {e}")),
        }
    }
    for bin in &includes.bins {
        let path = normalize(bin);
        match resolve(tree, &path) {
            Some(found) if matches!(tree.kind(&found.path), Some(NodeKind::File { .. })) => {
                out.wants.push((Want::Path(path), Reason::Include))
            }
            Some(_) => out.notes.push(format!(
                "--include-bin {} is not a file; keep a directory with --include-path",
                bin.display()
            )),
            None => out.notes.push(format!(
                "--include-bin {} is not in the image",
                bin.display()
            )),
        }
    }
    for exe in &includes.exes {
        match which(tree, OsStr::new(exe), path_var) {
            // The links that lead to it (`/bin` → `usr/bin`, `awk` →
            // `/etc/alternatives/awk`) are kept with every symlink to a kept path.
            Some(found) => out.wants.push((Want::Path(found.path), Reason::Include)),
            None => out.notes.push(format!(
                "--include-exe {exe}: no such program on the image's PATH ({path_var})"
            )),
        }
    }
    if includes.shell {
        shell(tree, path_var, &mut out);
    }
    if includes.certs {
        let before = out.wants.len();
        for path in CERT_PATHS {
            existing(tree, path, &mut out);
        }
        if out.wants.len() == before {
            out.notes
                .push("--include-certs: the image has no CA certificates".into());
        }
    }
    if includes.zoneinfo {
        let before = out.wants.len();
        for path in ZONEINFO_PATHS {
            existing(tree, path, &mut out);
        }
        if out.wants.len() == before {
            out.notes.push(
                "--include-zoneinfo: the image has no zoneinfo (install tzdata in it)".into(),
            );
        }
    }
    for locale in &includes.locales {
        self::locale(tree, locale, &mut out);
    }
    out
}

fn existing(tree: &dyn FsTree, path: &str, out: &mut Wanted) {
    if resolve(tree, Path::new(path)).is_some() {
        out.want(tree, PathBuf::from(path), Reason::Include);
    }
}

fn shell(tree: &dyn FsTree, path_var: &str, out: &mut Wanted) {
    if which(tree, OsStr::new("sh"), path_var).is_none() {
        out.notes.push(
            "the image has no shell (no sh in its PATH): --include-shell kept nothing".into(),
        );
        return;
    }
    for tool in SHELL_TOOLS {
        if let Some(found) = which(tree, OsStr::new(tool), path_var) {
            out.wants.push((Want::Path(found.path), Reason::Shell));
        }
    }
}

/// A glibc locale: its compiled directory (or the archive holding all of
/// them), the alias file, and the message catalogs of its language.
fn locale(tree: &dyn FsTree, locale: &str, out: &mut Wanted) {
    let before = out.wants.len();
    if locale == "all" {
        for path in ["/usr/lib/locale", "/usr/share/locale", "/usr/share/i18n"] {
            existing(tree, path, out);
        }
    } else {
        let mut compiled = false;
        for name in locale_dir_names(locale) {
            let dir = Path::new("/usr/lib/locale").join(name);
            if resolve(tree, &dir).is_some() {
                compiled = true;
                out.want(tree, dir, Reason::Include);
            }
        }
        for file in [
            "/usr/lib/locale/locale-archive",
            "/usr/share/locale/locale.alias",
        ] {
            if resolve(tree, Path::new(file)).is_some() {
                compiled |= file.ends_with("archive");
                out.want(tree, PathBuf::from(file), Reason::Include);
            }
        }
        // Catalogs: `de_DE.UTF-8` → /usr/share/locale/de_DE and /usr/share/locale/de.
        let base = locale.split(['.', '@']).next().unwrap_or(locale);
        let language = base.split('_').next().unwrap_or(base);
        for name in [base, language] {
            let dir = Path::new("/usr/share/locale").join(name);
            if !name.is_empty() && tree.kind(&dir) == Some(NodeKind::Dir) {
                out.want(tree, dir, Reason::Include);
            }
        }
        if !compiled {
            out.notes.push(format!(
                "--include-locale {locale}: the image has no compiled locale of that name \
                 (/usr/lib/locale); generate it in the image (locale-gen)"
            ));
        }
    }
    if out.wants.len() == before && locale == "all" {
        out.notes
            .push("--include-locale all: the image has no locale data".into());
    }
}

/// `--exclude-pattern`: a kept path goes when it or a directory above it
/// matches a pattern, as written or with the symlinks in its leading
/// directories resolved (`/lib/…` matches the real `/usr/lib/…`).
pub struct Exclusion {
    globs: Vec<Glob>,
}

impl Exclusion {
    /// `Err` names a malformed pattern.
    pub fn new(tree: &dyn FsTree, patterns: &[String]) -> Result<Exclusion, String> {
        let mut globs = Vec::new();
        for pattern in patterns {
            let glob = Glob::new(pattern)?;
            globs.extend(glob.through_links(tree));
            globs.push(glob);
        }
        Ok(Exclusion { globs })
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    pub fn excludes(&self, path: &Path) -> bool {
        path.ancestors()
            .take_while(|a| *a != Path::new("/"))
            .any(|a| self.globs.iter().any(|glob| glob.matches(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;
    use std::os::unix::fs::symlink;

    fn tree_with(files: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for file in files {
            let at = root.path().join(file.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(at, "x").unwrap();
        }
        root
    }

    fn wanted_paths(wanted: &Wanted) -> Vec<String> {
        wanted
            .wants
            .iter()
            .map(|(want, _)| match want {
                Want::Path(p) => p.display().to_string(),
                Want::Tree(p) => format!("{}/", p.display()),
            })
            .collect()
    }

    #[test]
    fn include_paths_take_literals_then_globs_and_note_what_is_missing() {
        let root = tree_with(&[
            "/opt/a/x.conf",
            "/opt/a/y.conf",
            "/opt/a/z.txt",
            "/srv/[odd]",
        ]);
        let tree = HostTree::new(root.path());
        let includes = Includes {
            paths: [
                "/opt/a/*.conf",
                "/srv/[odd]",
                "/opt/none",
                "/opt/*.none",
                "/opt",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            ..Includes::default()
        };
        let wanted = wanted(&tree, &includes, "/usr/bin");
        assert_eq!(
            wanted_paths(&wanted),
            ["/opt/a/x.conf", "/opt/a/y.conf", "/srv/[odd]", "/opt/"]
        );
        assert_eq!(wanted.notes.len(), 2, "{:?}", wanted.notes);
        assert!(wanted.notes[0].contains("/opt/none is not in the image"));
        assert!(wanted.notes[1].contains("matches nothing"));
    }

    #[test]
    fn bins_exes_certs_zoneinfo_and_locales() {
        let root = tree_with(&[
            "/usr/bin/curl",
            "/usr/bin/sh",
            "/usr/bin/ls",
            "/etc/ssl/certs/ca-certificates.crt",
            "/usr/share/zoneinfo/Europe/Paris",
            "/usr/lib/locale/de_DE.utf8/LC_CTYPE",
            "/usr/share/locale/de/LC_MESSAGES/x.mo",
            "/usr/share/locale/fr/LC_MESSAGES/x.mo",
        ]);
        symlink("usr/bin", root.path().join("bin")).unwrap();
        let tree = HostTree::new(root.path());
        let includes = Includes {
            bins: vec!["/bin/curl".into(), "/usr/bin".into()],
            exes: vec!["curl".into(), "nope".into()],
            shell: true,
            certs: true,
            zoneinfo: true,
            locales: vec!["de_DE.UTF-8".into(), "ja_JP.UTF-8".into()],
            ..Includes::default()
        };
        let wanted = wanted(&tree, &includes, "/bin:/usr/bin");
        assert_eq!(
            wanted_paths(&wanted),
            [
                "/bin/curl",
                "/usr/bin/curl",
                "/usr/bin/sh",
                "/usr/bin/ls",
                "/etc/ssl/certs/",
                "/usr/share/zoneinfo/",
                "/usr/lib/locale/de_DE.utf8/",
                "/usr/share/locale/de/",
            ]
        );
        let notes = wanted.notes.join("\n");
        assert!(
            notes.contains("--include-bin /usr/bin is not a file"),
            "{notes}"
        );
        assert!(notes.contains("--include-exe nope"), "{notes}");
        assert!(notes.contains("--include-locale ja_JP.UTF-8"), "{notes}");
        assert_eq!(
            wanted
                .wants
                .iter()
                .filter(|(_, r)| *r == Reason::Shell)
                .count(),
            2
        );
    }

    #[test]
    fn exclusion_matches_a_path_or_a_directory_above_it_through_links() {
        let root = tree_with(&["/usr/lib/x/libz.so"]);
        symlink("usr/lib", root.path().join("lib")).unwrap();
        let tree = HostTree::new(root.path());
        let exclusion = Exclusion::new(
            &tree,
            &["/usr/share/doc".to_string(), "/lib/x/*.so".to_string()],
        )
        .unwrap();
        assert!(exclusion.excludes(Path::new("/usr/share/doc/a/copyright")));
        assert!(exclusion.excludes(Path::new("/usr/lib/x/libz.so")));
        assert!(!exclusion.excludes(Path::new("/usr/share/docs")));
        assert!(!exclusion.excludes(Path::new("/usr/lib/x")));
        assert!(Exclusion::new(&tree, &["/a/[b".to_string()]).is_err());
    }
}
