//! End-to-end tests of the rules that keep files profiling never sees. Each
//! fixture (tests/fixtures/README.md) is slimmed with no probe flags, so
//! profiling sends only `GET /` to its port; the slim image must then answer
//! exactly like the original on routes that reach code `GET /` never ran.
//! Each test names the failure class it pins and the rule that must fix it.

mod common;

use common::routes;
use common::*;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// How much of a differing line a failure message shows.
const SHOWN_CHARS: usize = 160;

/// The slim image is removed when the test ends, whether it passed or not.
struct SlimImage(String);

impl Drop for SlimImage {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

/// Builds `rslim-fixtures/FIXTURE` with no probe flags, then asks the
/// original and the slim image for every route and compares the answers.
fn slim_answers_like_the_original(fixture: &str) {
    let _daemon = exclusive();
    let fat = format!("rslim-fixtures/{fixture}:latest");
    let listed = routes::routes_of(&fat);
    let (port, routes) = (listed.port, listed.paths);
    let slim = SlimImage(format!("rslim-test/{fixture}:runtime-rules"));
    let (code, stderr, _) = run_build(&fat, &slim.0, &[]);
    assert_eq!(code, Some(0), "rslim build {fat} failed:\n{stderr}");

    let expected = answers(&fat, port, routes);
    for answer in &expected {
        assert!(
            answer.status != "000" && !answer.status.starts_with('5'),
            "the fixture itself is broken: {fat} answered {} to {}",
            answer.status,
            answer.path
        );
    }
    let actual = match panic::catch_unwind(AssertUnwindSafe(|| answers(&slim.0, port, routes))) {
        Ok(actual) => actual,
        Err(cause) => panic!(
            "the slim image of {fat} (profiled with GET / only) does not serve: {}\n\
             its output when started:\n{}",
            panic_text(&*cause),
            startup_output(&slim.0)
        ),
    };

    let differences: Vec<String> = expected
        .iter()
        .zip(&actual)
        .filter(|(fat, slim)| fat != slim)
        .map(|(fat, slim)| describe_difference(fat, slim))
        .collect();
    assert!(
        differences.is_empty(),
        "the slim image of {fat} answers {} of {} routes unlike the original:\n{}",
        differences.len(),
        routes.len(),
        differences.join("\n")
    );
}

/// One route's difference in a few lines: the statuses, then the first
/// line of the bodies that differs.
fn describe_difference(fat: &Answer, slim: &Answer) -> String {
    let mut text = format!("  {}: status {} -> {}", fat.path, fat.status, slim.status);
    if fat.body == slim.body {
        text.push_str(", same body");
        return text;
    }
    let fat_lines: Vec<&[u8]> = fat.body.split(|&b| b == b'\n').collect();
    let slim_lines: Vec<&[u8]> = slim.body.split(|&b| b == b'\n').collect();
    let first = (0..fat_lines.len().max(slim_lines.len()))
        .find(|&i| fat_lines.get(i) != slim_lines.get(i))
        .unwrap_or(0);
    let shown = |lines: &[&[u8]]| match lines.get(first) {
        Some(line) => shorten(&String::from_utf8_lossy(line)),
        None => "(no such line)".to_string(),
    };
    text.push_str(&format!(
        "; bodies of {} and {} bytes first differ at line {}:\n      fat:  {}\n      slim: {}",
        fat.body.len(),
        slim.body.len(),
        first + 1,
        shown(&fat_lines),
        shown(&slim_lines)
    ));
    text
}

fn shorten(line: &str) -> String {
    match line.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

fn panic_text(cause: &(dyn std::any::Any + Send)) -> String {
    cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}

/// What `image` prints in its first seconds, for an image that does not
/// serve: usually the error it exits with.
fn startup_output(image: &str) -> String {
    let id = docker_ok(&["run", "-d", image]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && docker_ok(&["inspect", "-f", "{{.State.Running}}", &id]) == "true"
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = docker(&["logs", &id]);
    docker_ok(&["rm", "-fv", &id]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Failure class: app files no package owns. nginx serves a site from
/// /srv/site; GET / opens only index.html, so the stylesheet, the logo, the
/// custom 404 page and the autoindexed /files/ tree (names, sizes and mtimes)
/// are never seen. Rule: keep unowned app directories whole.
#[test]
fn static_site_keeps_the_pages_profiling_never_fetched() {
    slim_answers_like_the_original("site");
}

/// Failure class: Python import closure. Handlers import hashlib/hmac,
/// sqlite3, zoneinfo (and the zone files), textwrap, codecs by name,
/// decimal and the app's own handlers.report (csv, statistics, json) when
/// called, and /template reads a file from the app directory. Rule: the
/// Python rule keeps the stdlib (with lib-dynload and the libraries its
/// extension modules link) and the app's package tree; the unowned-app-files
/// rule keeps /srv/pyapp.
#[test]
fn python_app_keeps_the_modules_its_handlers_import() {
    slim_answers_like_the_original("pyapp");
}

/// Failure class: Node module closure. Handlers require ./lib/report (which
/// requires ./format and the Debian-packaged semver from /usr/share/nodejs,
/// itself requiring lru-cache), import() an ES module, require a vendored
/// package through its package.json "exports", and read data/cities.json.
/// Rule: the Node rule keeps node_modules and /usr/share/nodejs packages
/// reachable from the app; the unowned-app-files rule keeps /srv/nodeapp.
#[test]
fn node_app_keeps_the_modules_its_handlers_require() {
    slim_answers_like_the_original("nodeapp");
}

/// Failure class: JVM home. GET / starts the JVM and the HTTP server only;
/// the other routes load the security configuration, the cacerts trust
/// store, libmanagement.so, time-zone rules, extra charsets and locale data
/// lazily. Rule: keep the whole Java home (and the /etc/java-17-openjdk
/// files and trust store its symlinks point to) once the JVM runs.
#[test]
fn jvm_app_keeps_the_parts_of_the_jdk_it_loads_lazily() {
    slim_answers_like_the_original("jvmapp");
}

/// Failure class: a static Go binary's data files. It has no ELF
/// dependencies; at run time it opens zone files (/time), lists the zoneinfo
/// tree (/zones), reads the CA bundle (/certs) and /etc/mime.types (/mime).
/// Rule: for a Go binary, keep /usr/share/zoneinfo, the system CA files and
/// the mime.types files the Go runtime knows.
#[test]
fn go_app_keeps_zoneinfo_certificates_and_mime_types() {
    slim_answers_like_the_original("goapp");
}

/// Failure class: paths reached through a symlink. The daemon creates its
/// pid file and control socket in /var/run/runsock, which the image made as
/// /run/runsock; profiling sees only the resolved /run/runsock names, and
/// the slim image loses the /var/run -> /run link, so the daemon cannot
/// start. Rule: keep the image's symlinks to kept directories (and the
/// directories the image created for the app, even when empty).
#[test]
fn daemon_reaches_its_run_directory_through_the_var_run_symlink() {
    slim_answers_like_the_original("runsock");
}

/// Failure class: existence checks. The entrypoint script only stat()s
/// /usr/share/dbinit/schema.sql (`test -f`) and /usr/share/dbinit/plugins
/// (`[ -d ]`) and refuses to start without them; /schema and /plugins read
/// them later. Rule: keep the paths a kept script tests for, and keep the
/// unowned /usr/share/dbinit whole.
#[test]
fn entrypoint_existence_checks_find_what_they_test() {
    slim_answers_like_the_original("dbinit");
}

/// Failure class: glibc data sets. iconv loads one gconv module per
/// character set by name; GET / uses UTF-16 only, /convert asks for
/// ISO-8859-15 and IBM037. Rule: once a gconv module is used, keep the gconv
/// directory (modules, gconv-modules and its cache).
#[test]
fn iconv_converts_to_charsets_profiling_never_used() {
    slim_answers_like_the_original("charsets");
}

/// Failure class: perl module closure. Handlers `require` Digest::SHA,
/// JSON::PP, Time::Piece and POSIX, MIME::Base64 and List::Util when
/// called; several are XS modules with shared objects under auto/. Rule:
/// once perl runs, keep its core module directories (@INC of the packages
/// it loaded from).
#[test]
fn perl_app_keeps_the_modules_its_handlers_require() {
    slim_answers_like_the_original("perlapp");
}

/// Failure class: Ruby require closure. Handlers `require` json (with its
/// C-extension parser and generator), digest/sha2 (C extensions), time (and
/// date_core.so), csv (a default gem in ruby 3.1), erb (with cgi/escape.so;
/// the template is a file in the app directory) and set when called; GET /
/// loads only socket. Rule: the Ruby rule follows the requires through
/// Debian's load path, file by file, with the C extensions in the arch
/// directory.
#[test]
fn ruby_app_keeps_the_libraries_its_handlers_require() {
    slim_answers_like_the_original("rubyapp");
}
