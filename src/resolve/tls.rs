//! TLS: a TLS client verifies peers against the system's CA certificates on
//! its first connection, which profiling (plain HTTP on localhost) never
//! makes: "certificate signed by unknown authority" in the slim image. When
//! a kept ELF file imports a function that loads the *default* trust store
//! (`SSL_CTX_set_default_verify_paths`, `X509_STORE_set_default_paths`,
//! `X509_STORE_load_file` as libcurl uses it with its built-in bundle path,
//! `gnutls_certificate_set_x509_system_trust`, …), or NSS's libnss3 is
//! kept, keep the CA bundle, the CA directory (hashed links and their
//! targets) and `openssl.cnf`.
//!
//! Linking libssl is not enough: nginx links it to serve HTTPS and verifies
//! only against files its configuration names, which profiling sees opened.
//! Java's `cacerts` comes with the JVM rule and Go's CA files with the Go rule.

use std::path::PathBuf;

use super::fileset::Reason;
use super::rules::{RuleContext, RuntimeRule, Want};

/// Functions that load the system's default trust store (OpenSSL, GnuTLS).
const DEFAULT_TRUST_FUNCTIONS: &[&str] = &[
    "SSL_CTX_set_default_verify_paths",
    "SSL_CTX_set_default_verify_file",
    "SSL_CTX_set_default_verify_dir",
    "SSL_CTX_set_default_verify_store",
    "X509_STORE_set_default_paths",
    "X509_STORE_load_file",
    "X509_STORE_load_path",
    "X509_STORE_load_locations",
    "gnutls_certificate_set_x509_system_trust",
    "gnutls_certificate_set_x509_trust_file",
];

/// Libraries that use the system store by themselves (NSS reads its own database).
const TRUSTING_LIBRARIES: &[&str] = &["libnss3.so"];

/// The TLS implementations: their imports of the functions above are how
/// they implement their own API, not a use of the store.
const IMPLEMENTATIONS: &[&str] = &["libssl.so", "libcrypto.so", "libgnutls.so"];

/// CA bundles and directories of Debian, Ubuntu, Alpine, RHEL and SUSE layouts.
pub const CA_PATHS: &[&str] = &[
    "/etc/ssl/certs",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/certs",
    "/etc/pki/tls/cert.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
];

const CONFIG_PATHS: &[&str] = &[
    "/usr/lib/ssl/openssl.cnf",
    "/etc/ssl/openssl.cnf",
    "/etc/pki/tls/openssl.cnf",
    "/usr/lib/ssl/cert.pem",
    "/usr/lib/ssl/certs",
    "/etc/gnutls/config",
    "/etc/crypto-policies/back-ends",
];

#[derive(Default)]
pub struct TlsRule {
    done: bool,
}

impl RuntimeRule for TlsRule {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn reason(&self) -> Reason {
        Reason::Tls
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        if self.done {
            return Vec::new();
        }
        let named = |path: &PathBuf, prefixes: &[&str]| {
            path.file_name().is_some_and(|name| {
                let name = name.to_string_lossy();
                prefixes.iter().any(|prefix| name.starts_with(prefix))
            })
        };
        let uses_tls = newly.iter().any(|path| {
            named(path, TRUSTING_LIBRARIES)
                || (!named(path, IMPLEMENTATIONS)
                    && cx.elf(path).is_some_and(|info| {
                        DEFAULT_TRUST_FUNCTIONS.iter().any(|f| info.imports(f))
                    }))
        });
        if !uses_tls {
            return Vec::new();
        }
        self.done = true;
        let from_env = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .filter_map(|v| cx.run.env_var(v))
            .map(str::to_string);
        CA_PATHS
            .iter()
            .chain(CONFIG_PATHS)
            .map(|p| p.to_string())
            .chain(from_env)
            .map(PathBuf::from)
            .filter(|path| cx.tree.kind(path).is_some())
            .map(Want::Tree)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::rules::test_support::{context_with_env, touch};

    #[test]
    fn a_client_of_the_default_trust_store_keeps_it_once() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        touch(r, "/etc/ssl/certs/ca-certificates.crt");
        touch(r, "/usr/share/ca-certificates/mozilla/X.crt");
        touch(r, "/usr/lib/ssl/openssl.cnf");
        touch(r, "/opt/certs/extra.pem");
        let fixture = context_with_env(r, &["SSL_CERT_FILE=/opt/certs/extra.pem"]);
        let mut rule = TlsRule::default();
        let cx = fixture.context();
        // Not ELF, or ELF without such imports: nothing.
        assert!(rule
            .expand(&cx, &["/usr/share/ca-certificates/mozilla/X.crt".into()])
            .is_empty());
        assert!(rule.expand(&cx, &["/usr/lib/libnss3.so.1".into()]).len() == 4);
        assert!(
            rule.expand(&cx, &["/usr/lib/libnss3.so.1".into()])
                .is_empty(),
            "once"
        );
    }

    /// Real ELF files: the host's Python `_ssl` module loads the default
    /// store; `dash` has nothing to do with TLS.
    #[test]
    fn imports_of_default_trust_functions_trigger_the_rule() {
        let ssl = std::fs::read_dir("/usr/lib/python3.11/lib-dynload")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains("/_ssl."));
        let Some(ssl) = ssl else {
            eprintln!("skipped: the host has no Debian python3.11 _ssl module");
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("usr/lib/py")).unwrap();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::copy(&ssl, r.join("usr/lib/py/_ssl.so")).unwrap();
        std::fs::copy(
            std::fs::canonicalize("/usr/bin/dash").unwrap(),
            r.join("usr/bin/dash"),
        )
        .unwrap();
        touch(r, "/etc/ssl/certs/ca-certificates.crt");
        let fixture = context_with_env(r, &[]);
        let cx = fixture.context();
        let mut rule = TlsRule::default();
        assert!(rule.expand(&cx, &["/usr/bin/dash".into()]).is_empty());
        // libssl imports the store loaders to implement its own API: a
        // server that only links it (nginx) does not use the store.
        let libssl = std::path::Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
        if libssl.exists() {
            std::fs::copy(libssl, r.join("usr/lib/py/libssl.so.3")).unwrap();
            assert!(rule
                .expand(&cx, &["/usr/lib/py/libssl.so.3".into()])
                .is_empty());
        }
        assert_eq!(
            rule.expand(&cx, &["/usr/lib/py/_ssl.so".into()]),
            [Want::Tree("/etc/ssl/certs".into())]
        );
    }
}
