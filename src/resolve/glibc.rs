//! glibc loads parts of itself at run time, by name, from configuration:
//!
//! - **NSS**: `getpwnam`, `getaddrinfo` and friends read `/etc/nsswitch.conf`
//!   and `dlopen` `libnss_<service>.so.2` for each service it names. A kept
//!   ELF file that imports one of those functions gets the configuration,
//!   the modules and the files the `files` and `dns` services read.
//! - **gconv**: `iconv_open` loads a module per character set from the
//!   gconv directory, chosen by the charset names the program is given. A
//!   kept *program* (not a library: libxml2 imports `iconv_open` but only
//!   needs it for rare document encodings, and the set costs about 8 MB)
//!   that imports `iconv_open` gets the whole gconv directory. A gconv
//!   module opened while profiling also keeps the set, see [`super::datasets`].
//! - **locales**: `setlocale(LC_ALL, "")` reads the locale the environment
//!   names. A kept program that imports `setlocale` in an image whose ENV sets
//!   `LANG`, `LC_ALL` or an `LC_*` to a compiled locale gets that locale
//!   (`/usr/lib/locale/locale-archive` or `/usr/lib/locale/<name>/`).
//!   `C`, `POSIX` and `C.UTF-8` are built into glibc 2.35+ (and Debian ships
//!   `C.utf8` as files, which are kept when named).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// Functions that go through NSS.
const NSS_FUNCTIONS: &[&str] = &[
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrent",
    "getgrouplist",
    "initgroups",
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getservbyname",
    "getservbyname_r",
    "getservbyport",
    "getprotobyname",
    "getprotobynumber",
];

/// Files the `files` and `dns` services and the resolver read.
const NSS_FILES: &[&str] = &[
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/hosts",
    "/etc/services",
    "/etc/protocols",
    "/etc/networks",
    "/etc/ethers",
    "/etc/rpc",
];

/// Where glibc looks for gconv modules (the first that exists per distribution layout).
const GCONV_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/gconv",
    "/usr/lib/aarch64-linux-gnu/gconv",
    "/usr/lib/i386-linux-gnu/gconv",
    "/usr/lib64/gconv",
    "/usr/lib/gconv",
];

const LOCALE_VARIABLES: &[&str] = &[
    "LC_ALL",
    "LANG",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_COLLATE",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_MONETARY",
];

#[derive(Default)]
pub struct GlibcRule {
    nss_done: bool,
    gconv_done: bool,
    locale_done: bool,
}

/// NSS service names in nsswitch.conf: `passwd: files systemd [NOTFOUND=return] db`.
pub fn nss_services(conf: &str) -> BTreeSet<String> {
    conf.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .filter_map(|line| line.split_once(':').map(|(_, services)| services))
        .flat_map(|services| services.split_whitespace())
        .filter(|word| !word.starts_with('['))
        .map(str::to_string)
        .collect()
}

/// `en_US.UTF-8` → the names glibc tries under /usr/lib/locale: `en_US.UTF-8`, `en_US.utf8`, `en_US`.
pub fn locale_dir_names(value: &str) -> Vec<String> {
    let base = value.split('@').next().unwrap_or(value);
    let mut names = vec![value.to_string()];
    if let Some((language, codeset)) = base.split_once('.') {
        let normalized: String = codeset
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        names.push(format!("{language}.{normalized}"));
        names.push(language.to_string());
    }
    names
}

fn is_builtin_locale(value: &str) -> bool {
    matches!(value, "" | "C" | "POSIX")
}

fn existing(tree: &dyn FsTree, paths: &[&str]) -> Vec<Want> {
    paths
        .iter()
        .map(PathBuf::from)
        .filter(|p| tree.kind(p).is_some())
        .map(Want::Path)
        .collect()
}

impl GlibcRule {
    fn nss(&mut self, cx: &RuleContext, class64: bool, machine: u16) -> Vec<Want> {
        self.nss_done = true;
        let mut wants = existing(cx.tree, NSS_FILES);
        let conf_path = Path::new("/etc/nsswitch.conf");
        let conf = match cx.tree.kind(conf_path) {
            Some(NodeKind::File { size }) => cx.tree.read(conf_path, size.min(1 << 20)).ok(),
            _ => None,
        };
        // Without nsswitch.conf glibc uses `files` and `dns`.
        let services = conf
            .map(|bytes| nss_services(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_else(|| ["files", "dns"].iter().map(|s| s.to_string()).collect());
        for service in services {
            let soname = format!("libnss_{service}.so.2");
            if let Some(found) = cx.libraries.find_library(&soname, class64, machine) {
                wants.push(Want::Path(found.path));
            }
        }
        wants
    }

    fn gconv(&mut self, cx: &RuleContext) -> Vec<Want> {
        self.gconv_done = true;
        let from_env = cx.run.env_var("GCONV_PATH").unwrap_or_default();
        from_env
            .split(':')
            .filter(|d| !d.is_empty())
            .chain(GCONV_DIRS.iter().copied())
            .map(PathBuf::from)
            .filter(|dir| cx.tree.kind(dir).is_some())
            .map(Want::Tree)
            .collect()
    }

    fn locale(&mut self, cx: &RuleContext) -> Vec<Want> {
        self.locale_done = true;
        let mut wants = Vec::new();
        for variable in LOCALE_VARIABLES {
            let Some(value) = cx.run.env_var(variable).filter(|v| !is_builtin_locale(v)) else {
                continue;
            };
            wants.push(Want::Path("/usr/lib/locale/locale-archive".into()));
            wants.push(Want::Path("/usr/share/locale/locale.alias".into()));
            for name in locale_dir_names(value) {
                wants.push(Want::Tree(Path::new("/usr/lib/locale").join(name)));
            }
        }
        wants.retain(|want| match want {
            Want::Path(p) | Want::Tree(p) => cx.tree.kind(p).is_some(),
        });
        wants
    }
}

impl RuntimeRule for GlibcRule {
    fn name(&self) -> &'static str {
        "glibc"
    }

    fn reason(&self) -> Reason {
        Reason::Glibc
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut wants = Vec::new();
        for path in newly {
            if self.nss_done && self.gconv_done && self.locale_done {
                break;
            }
            let Some(info) = cx.elf(path) else {
                continue;
            };
            if !self.nss_done && NSS_FUNCTIONS.iter().any(|f| info.imports(f)) {
                wants.extend(self.nss(cx, info.class64, info.machine));
            }
            // A program has a PT_INTERP; a library does not.
            let program = info.interpreter.is_some();
            if !self.gconv_done && program && info.imports("iconv_open") {
                wants.extend(self.gconv(cx));
            }
            if !self.locale_done && program && info.imports("setlocale") {
                wants.extend(self.locale(cx));
            }
        }
        wants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsswitch_services_skip_actions_and_comments() {
        let conf = "# comment: files\npasswd:         files systemd\ngroup: files\n\
                    hosts:          files mdns4_minimal [NOTFOUND=return] dns\nnetgroup: nis\n";
        let services: Vec<String> = nss_services(conf).into_iter().collect();
        assert_eq!(
            services,
            ["dns", "files", "mdns4_minimal", "nis", "systemd"]
        );
    }

    #[test]
    fn locale_names_are_tried_as_glibc_normalises_them() {
        assert_eq!(
            locale_dir_names("de_DE.UTF-8"),
            ["de_DE.UTF-8", "de_DE.utf8", "de_DE"]
        );
        assert_eq!(locale_dir_names("fr_FR@euro"), ["fr_FR@euro"]);
        assert!(is_builtin_locale("POSIX") && !is_builtin_locale("C.UTF-8"));
    }

    /// Real ELF files from the host: `getent` imports NSS functions and is a
    /// program; `iconv` imports `iconv_open`; libc imports neither.
    #[test]
    fn programs_importing_nss_iconv_and_setlocale_get_their_files() {
        use crate::resolve::rules::test_support::{context_with_env, write};
        let host_bin = |name: &str| {
            ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.exists())
        };
        let (Some(getent), Some(iconv)) = (host_bin("getent"), host_bin("iconv")) else {
            eprintln!("skipped: the host has no getent or iconv");
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        crate::resolve::tree::test_support::merged_usr_with_host_libc(r);
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::copy(getent, r.join("usr/bin/getent")).unwrap();
        std::fs::copy(iconv, r.join("usr/bin/iconv")).unwrap();
        write(r, "/etc/nsswitch.conf", "passwd: files\nhosts: files dns\n");
        write(r, "/etc/services", "http 80/tcp\n");
        write(r, "/usr/lib/x86_64-linux-gnu/libnss_files.so.2", "stub");
        write(r, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules", "module");
        write(r, "/usr/lib/locale/de_DE.utf8/LC_CTYPE", "ctype");
        let fixture = context_with_env(r, &["LANG=de_DE.UTF-8"]);
        let mut rule = GlibcRule::default();
        let libc = PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6");
        assert!(rule.expand(&fixture.context(), &[libc]).is_empty());
        let wants = rule.expand(
            &fixture.context(),
            &["/usr/bin/getent".into(), "/usr/bin/iconv".into()],
        );
        for expected in [
            Want::Path("/etc/nsswitch.conf".into()),
            Want::Path("/etc/services".into()),
            Want::Tree("/usr/lib/x86_64-linux-gnu/gconv".into()),
            Want::Tree("/usr/lib/locale/de_DE.utf8".into()),
        ] {
            assert!(wants.contains(&expected), "{expected:?} missing: {wants:?}");
        }
        // libnss_files is found the way ld.so finds a dlopen'ed name; the
        // stub is no ELF file, so only a real one would count.
        assert!(!wants.iter().any(|w| *w == Want::Path("/etc/hosts".into())));
    }
}
