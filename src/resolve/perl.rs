//! Perl's `use`/`require` closure: a handler that does `require Digest::SHA`
//! only when its route is hit needs `Digest/SHA.pm` and its XS library,
//! which profiling never loaded. For every kept Perl file (`.pl`, `.pm`,
//! `.cgi`, or a `#!` naming perl) the module names it loads are read without
//! running anything, and found in `@INC` as perl would: `Foo::Bar` is
//! `Foo/Bar.pm`, its XS part the files in `auto/Foo/Bar/`. A module's own
//! directory (`Foo/Bar/`) comes with it: Perl libraries load their
//! submodules by computed names (`DateTime::TimeZone` loads a module per
//! zone, `Encode` one per encoding family), which no reader can follow.
//!
//! Statements are found with a line scanner, not a Perl parser (only perl
//! parses Perl): `use`, `no` and `require` at the start of a statement
//! (line start, or after `;`, `{` or `eval`), plus `use parent`/`use base`
//! lists. POD, `__END__`/`__DATA__` and here-documents are skipped; a name
//! inside a string that happens to start a line can over-keep a module,
//! which costs bytes, never correctness.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::fileset::Reason;
use super::pathwalk::resolve;
use super::rules::{RuleContext, RuntimeRule, Want};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// Perl files larger than this are data, not code worth scanning.
const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// `@INC` directory patterns of Debian, RHEL, Alpine and the official perl
/// image (`*` is one path component).
const INC_PATTERNS: &[&str] = &[
    "/etc/perl",
    "/usr/local/lib/*/perl/*",
    "/usr/local/share/perl/*",
    "/usr/lib/*/perl5/*",
    "/usr/share/perl5",
    "/usr/lib/*/perl-base",
    "/usr/lib/*/perl/*",
    "/usr/share/perl/*",
    "/usr/local/lib/site_perl",
    "/usr/lib64/perl5",
    "/usr/lib64/perl5/vendor_perl",
    "/usr/share/perl5/vendor_perl",
    "/usr/local/lib64/perl5",
    "/usr/local/share/perl5",
    "/usr/lib/perl5/core_perl",
    "/usr/lib/perl5/vendor_perl",
    "/usr/share/perl5/core_perl",
    "/usr/local/lib/perl5/*",
    "/usr/local/lib/perl5/*/*",
    "/usr/local/lib/perl5/site_perl/*",
    "/usr/local/lib/perl5/site_perl/*/*",
];

#[derive(Default)]
pub struct PerlRule {
    inc: Option<Vec<PathBuf>>,
    parsed: BTreeSet<PathBuf>,
    modules: BTreeSet<String>,
}

/// Directories matching one `INC_PATTERNS` entry.
fn expand_pattern(tree: &dyn FsTree, pattern: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/")];
    for part in pattern.trim_start_matches('/').split('/') {
        dirs = dirs
            .into_iter()
            .flat_map(|dir| {
                if part == "*" {
                    tree.list(&dir)
                } else {
                    vec![dir.join(part)]
                }
            })
            .filter(|dir| {
                resolve(tree, dir)
                    .is_some_and(|found| tree.kind(&found.path) == Some(NodeKind::Dir))
            })
            .collect();
    }
    dirs
}

fn is_perl_file(tree: &dyn FsTree, path: &Path) -> bool {
    let by_name = path
        .extension()
        .is_some_and(|e| e == "pl" || e == "pm" || e == "cgi" || e == "t");
    by_name
        || tree.read(path, 128).is_ok_and(|head| {
            head.starts_with(b"#!")
                && head
                    .split(|&b| b == b'\n')
                    .next()
                    .is_some_and(|line| line.windows(4).any(|w| w == b"perl"))
        })
}

/// A module name: `Foo::Bar` (also the old `Foo'Bar`).
fn module_name(word: &str) -> Option<String> {
    let name = word.replace('\'', "::");
    let valid = !name.is_empty()
        && name.split("::").all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    valid.then_some(name)
}

/// `Foo::Bar` → `Foo/Bar.pm`.
pub fn module_file(name: &str) -> String {
    format!("{}.pm", name.replace("::", "/"))
}

/// What a Perl file loads: module names, and `require "file"` paths.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loads {
    pub modules: BTreeSet<String>,
    pub files: BTreeSet<String>,
    /// Directories from `use lib '...'`.
    pub lib_dirs: BTreeSet<String>,
}

/// Words of a `qw(...)` or quoted list: `qw(A B)`, `'A', "B"`.
fn listed_words(text: &str) -> Vec<String> {
    let text = text.trim();
    let inner = text
        .strip_prefix("qw")
        .map(|rest| rest.trim_start())
        .and_then(|rest| {
            let open = rest.chars().next()?;
            let close = match open {
                '(' => ')',
                '[' => ']',
                '{' => '}',
                '<' => '>',
                other => other,
            };
            let body = &rest[open.len_utf8()..];
            Some(body[..body.find(close).unwrap_or(body.len())].to_string())
        })
        .unwrap_or_else(|| text.replace(['\'', '"', ','], " "));
    inner.split_whitespace().map(str::to_string).collect()
}

/// Scans Perl source for what it loads.
pub fn scan(source: &str) -> Loads {
    let mut loads = Loads::default();
    let mut in_pod = false;
    let mut heredoc_end: Option<String> = None;
    for line in source.lines() {
        if let Some(end) = &heredoc_end {
            if line.trim() == end {
                heredoc_end = None;
            }
            continue;
        }
        if line.starts_with('=') {
            in_pod = !line.starts_with("=cut");
            continue;
        }
        if in_pod {
            continue;
        }
        if line.starts_with("__END__") || line.starts_with("__DATA__") {
            break;
        }
        let code = strip_comment(line);
        heredoc_end = heredoc_terminator(code);
        for statement in statement_starts(code) {
            scan_statement(statement, &mut loads);
        }
    }
    loads
}

/// The line without a trailing `# comment` (a `#` inside quotes is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..at],
            _ => {}
        }
    }
    line
}

/// `<<"EOT";`, `<<'EOT'`, `<<EOT`, `<<~EOT` → `EOT`.
fn heredoc_terminator(code: &str) -> Option<String> {
    let at = code.find("<<")?;
    let rest = code[at + 2..].trim_start_matches('~');
    let rest = rest.trim_start_matches(['"', '\'']);
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()
        && word
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
    .then_some(word)
}

/// The pieces of a line that start a statement: the line itself and what
/// follows each `;`, `{` or `eval`.
fn statement_starts(code: &str) -> Vec<&str> {
    let mut starts = vec![code];
    for (at, c) in code.char_indices() {
        if c == ';' || c == '{' {
            starts.push(&code[at + 1..]);
        }
    }
    let mut search = 0;
    while let Some(found) = code[search..].find("eval") {
        let after = search + found + 4;
        starts.push(&code[after..]);
        search = after;
    }
    starts
}

fn scan_statement(statement: &str, loads: &mut Loads) {
    let statement = statement.trim_start();
    let mut words = statement.splitn(2, |c: char| c.is_whitespace() || c == ';' || c == '(');
    let keyword = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim_start();
    match keyword {
        "use" | "no" => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '\'')
                .collect();
            let after = &rest[word.len()..];
            match word.as_str() {
                "parent" | "base" => {
                    for listed in listed_words(after.trim_end_matches(';')) {
                        if let Some(name) = module_name(&listed) {
                            loads.modules.insert(name);
                        }
                    }
                    loads.modules.insert(word);
                }
                "lib" => {
                    loads
                        .lib_dirs
                        .extend(listed_words(after.trim_end_matches(';')));
                    loads.modules.insert(word);
                }
                _ => {
                    // `use 5.010;` and `use v5.36;` name no module.
                    let version = word.strip_prefix('v').is_some_and(|rest| {
                        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
                    });
                    if let Some(name) = module_name(&word).filter(|_| !version) {
                        loads.modules.insert(name);
                    }
                }
            }
        }
        "require" => {
            if let Some(quoted) = rest.strip_prefix(['"', '\'']) {
                if let Some(end) = quoted.find(['"', '\'']) {
                    loads.files.insert(quoted[..end].to_string());
                }
                return;
            }
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '\'')
                .collect();
            if let Some(name) = module_name(&word) {
                loads.modules.insert(name);
            }
        }
        _ => {}
    }
}

impl PerlRule {
    fn inc(&mut self, cx: &RuleContext) -> Vec<PathBuf> {
        self.inc
            .get_or_insert_with(|| {
                let from_env = ["PERL5LIB", "PERLLIB"]
                    .iter()
                    .filter_map(|v| cx.run.env_var(v))
                    .flat_map(|value| value.split(':').map(PathBuf::from).collect::<Vec<_>>());
                let mut dirs: Vec<PathBuf> = from_env
                    .chain(INC_PATTERNS.iter().flat_map(|p| expand_pattern(cx.tree, p)))
                    .collect();
                let mut seen = BTreeSet::new();
                dirs.retain(|d| seen.insert(d.clone()));
                dirs
            })
            .clone()
    }

    fn find_module(&self, cx: &RuleContext, inc: &[PathBuf], name: &str) -> Vec<Want> {
        let file = module_file(name);
        let stem = file.trim_end_matches(".pm");
        let mut wants = Vec::new();
        for dir in inc {
            let candidate = dir.join(&file);
            if resolve(cx.tree, &candidate)
                .is_some_and(|f| matches!(cx.tree.kind(&f.path), Some(NodeKind::File { .. })))
            {
                wants.push(Want::Path(candidate));
                let own_dir = dir.join(stem);
                if resolve(cx.tree, &own_dir).is_some() {
                    wants.push(Want::Tree(own_dir));
                }
                break;
            }
        }
        // The XS part (`auto/Foo/Bar/Bar.so`, `.bs`, autosplit `.al` files),
        // possibly in another @INC directory than the .pm: the files of this
        // module only. Its submodules' parts are theirs: `Encode`'s
        // `auto/Encode/JP/` (2.7 MB) is needed only when `Encode::JP` is
        // loaded, which the data-set rule sees (docs/runtime-rules.md).
        if let Some(auto) = inc
            .iter()
            .map(|dir| dir.join("auto").join(stem))
            .find_map(|auto| resolve(cx.tree, &auto))
        {
            for entry in cx.tree.list(&auto.path) {
                if matches!(
                    cx.tree.kind(&entry),
                    Some(NodeKind::File { .. } | NodeKind::Symlink { .. })
                ) {
                    wants.push(Want::Path(entry));
                }
            }
        }
        wants
    }
}

impl RuntimeRule for PerlRule {
    fn name(&self) -> &'static str {
        "perl"
    }

    fn reason(&self) -> Reason {
        Reason::Perl
    }

    fn expand(&mut self, cx: &RuleContext, newly: &[PathBuf]) -> Vec<Want> {
        let mut wants = Vec::new();
        for path in newly {
            let Some(NodeKind::File { size }) = cx.tree.kind(path) else {
                continue;
            };
            if size > MAX_SOURCE_BYTES || self.parsed.contains(path) || !is_perl_file(cx.tree, path)
            {
                continue;
            }
            self.parsed.insert(path.clone());
            let Ok(bytes) = cx.tree.read(path, size) else {
                continue;
            };
            let loads = scan(&String::from_utf8_lossy(&bytes));
            let script_dir = path.parent().unwrap_or(Path::new("/"));
            let mut inc: Vec<PathBuf> = loads
                .lib_dirs
                .iter()
                .map(|dir| {
                    script_dir.join(dir.replace("$FindBin::Bin", "").trim_start_matches('/'))
                })
                .collect();
            inc.push(script_dir.to_path_buf());
            inc.extend(self.inc(cx));
            for name in &loads.modules {
                if self.modules.insert(name.clone()) {
                    wants.extend(self.find_module(cx, &inc, name));
                }
            }
            for file in &loads.files {
                let found = if file.starts_with('/') {
                    Some(PathBuf::from(file))
                } else {
                    inc.iter()
                        .map(|dir| dir.join(file))
                        .find(|p| resolve(cx.tree, p).is_some())
                };
                wants.extend(found.map(Want::Path));
            }
        }
        wants
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::rules::test_support::{context_for, touch, write};

    fn names(loads: &Loads) -> Vec<&str> {
        loads.modules.iter().map(String::as_str).collect()
    }

    #[test]
    fn use_require_parent_and_lib_are_found_and_pod_heredocs_are_not() {
        let source = r#"#!/usr/bin/perl
use strict;
use warnings;
use 5.010;
use v5.36;
use POSIX qw(strftime);
use parent -norequire, 'Local::Base';
use base qw(Exporter Local::Other);
use lib 'lib';
no Foo::Off;
sub handler {
    my $x = 1; require Digest::SHA;
    eval { require JSON::PP; 1 } or die;
    require "helpers.pl";
}
print <<"EOT";
use Not::Code;
EOT
# use Commented::Out;
my $s = "text"; # require In::Comment
=pod

use In::Pod;

=cut
use After::Pod;
__END__
use After::End;
"#;
        let loads = scan(source);
        assert_eq!(
            names(&loads),
            [
                "After::Pod",
                "Digest::SHA",
                "Exporter",
                "Foo::Off",
                "JSON::PP",
                "Local::Base",
                "Local::Other",
                "POSIX",
                "base",
                "lib",
                "parent",
                "strict",
                "warnings"
            ]
        );
        assert_eq!(loads.files.iter().collect::<Vec<_>>(), ["helpers.pl"]);
        assert_eq!(loads.lib_dirs.iter().collect::<Vec<_>>(), ["lib"]);
        assert_eq!(module_file("Digest::SHA"), "Digest/SHA.pm");
    }

    #[test]
    fn modules_are_found_in_inc_with_their_xs_part_and_own_directory() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let arch = "/usr/lib/x86_64-linux-gnu/perl/5.36";
        let share = "/usr/share/perl/5.36";
        touch(r, &format!("{arch}/Digest/SHA.pm"));
        touch(r, &format!("{arch}/auto/Digest/SHA/SHA.so"));
        touch(r, &format!("{share}/JSON/PP.pm"));
        touch(r, &format!("{share}/JSON/PP/Boolean.pm"));
        touch(r, &format!("{share}/Unused.pm"));
        write(
            r,
            "/srv/app/app.pl",
            "#!/usr/bin/perl\nuse strict;\nsub sha { require Digest::SHA; }\nsub json { require JSON::PP }\nrequire 'util.pl';\n",
        );
        touch(r, "/srv/app/util.pl");
        let fixture = context_for(r);
        let mut rule = PerlRule::default();
        let wants = rule.expand(&fixture.context(), &["/srv/app/app.pl".into()]);
        for expected in [
            Want::Path(format!("{arch}/Digest/SHA.pm").into()),
            Want::Path(format!("{arch}/auto/Digest/SHA/SHA.so").into()),
            Want::Path(format!("{share}/JSON/PP.pm").into()),
            Want::Tree(format!("{share}/JSON/PP").into()),
            Want::Path("/srv/app/util.pl".into()),
        ] {
            assert!(
                wants.contains(&expected),
                "{expected:?} missing from {wants:?}"
            );
        }
        assert!(!wants.iter().any(|w| format!("{w:?}").contains("Unused")));
        // Not Perl: nothing.
        touch(r, "/srv/app/notes.txt");
        assert!(rule
            .expand(&fixture.context(), &["/srv/app/notes.txt".into()])
            .is_empty());
    }
}
