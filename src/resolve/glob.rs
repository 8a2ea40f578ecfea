//! Path patterns for `--include-path` and `--exclude-pattern`, with the
//! syntax docker-slim documents for its flags (Go's `filepath.Match` plus
//! `**`): `*` is any run of characters but `/`, `?` one character but `/`,
//! `[a-z]` / `[^a-z]` (or `[!a-z]`) a class, `\` escapes the next character,
//! and a component that is exactly `**` matches zero or more components.
//! Patterns are absolute: a relative one is taken from `/`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::pathwalk::{normalize, resolve};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// A parsed pattern: one entry per path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A component without wildcards (escapes removed).
    Literal(Vec<u8>),
    /// A component with `*`, `?` or a class.
    Pattern(Vec<u8>),
    /// `**`: zero or more components.
    AnyDepth,
}

/// Whether `text` uses any wildcard (an unescaped `*`, `?` or `[`).
pub fn is_glob(text: &str) -> bool {
    let mut escaped = false;
    for b in text.bytes() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
    }
    false
}

impl Glob {
    /// Parses `text`; `Err` says what is wrong (an unclosed class).
    pub fn new(text: &str) -> Result<Glob, String> {
        let mut parts = Vec::new();
        for component in text.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let bytes = component.as_bytes();
            let part = if component == "**" {
                Part::AnyDepth
            } else if is_glob(component) {
                // Checked once here, so matching never meets a malformed class.
                match_component(bytes, b"").map_err(|e| format!("pattern {text:?}: {e}"))?;
                Part::Pattern(bytes.to_vec())
            } else {
                Part::Literal(unescape(bytes))
            };
            // `a/**/**/b` is `a/**/b`.
            if part == Part::AnyDepth && parts.last() == Some(&Part::AnyDepth) {
                continue;
            }
            parts.push(part);
        }
        Ok(Glob {
            text: text.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the absolute path `path` matches the whole pattern.
    pub fn matches(&self, path: &Path) -> bool {
        let names: Vec<&[u8]> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.as_bytes()),
                _ => None,
            })
            .collect();
        matches_from(&self.parts, &names)
    }

    /// The same pattern with the symlinks in its leading literal directories
    /// resolved in `tree`: `/lib/x86_64-linux-gnu/*.so` becomes
    /// `/usr/lib/x86_64-linux-gnu/*.so` where `/lib` → `usr/lib`, so it
    /// matches the real paths the kept set holds. `None` when nothing changes.
    pub fn through_links(&self, tree: &dyn FsTree) -> Option<Glob> {
        let literal = self
            .parts
            .iter()
            .take_while(|p| matches!(p, Part::Literal(_)))
            .count();
        // The last component is the match itself, not a directory on the way.
        let dirs = literal.min(self.parts.len().saturating_sub(1));
        if dirs == 0 {
            return None;
        }
        let mut prefix = PathBuf::from("/");
        for part in &self.parts[..dirs] {
            if let Part::Literal(name) = part {
                prefix.push(OsStr::from_bytes(name));
            }
        }
        let real = resolve(tree, &prefix)?.path;
        if real == prefix {
            return None;
        }
        let mut parts: Vec<Part> = real
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(Part::Literal(name.as_bytes().to_vec())),
                _ => None,
            })
            .collect();
        parts.extend(self.parts[dirs..].iter().cloned());
        Some(Glob {
            text: self.text.clone(),
            parts,
        })
    }

    /// Every path of `tree` the pattern matches, sorted. Directories on the
    /// way are entered through symlinks only where the pattern names them
    /// literally; wildcards and `**` walk real directories only, so a link
    /// loop cannot make the walk endless.
    pub fn expand(&self, tree: &dyn FsTree) -> Vec<PathBuf> {
        let mut found = Vec::new();
        expand_from(tree, &self.parts, Path::new("/"), &mut found);
        found.sort();
        found.dedup();
        found
    }
}

fn expand_from(tree: &dyn FsTree, parts: &[Part], dir: &Path, found: &mut Vec<PathBuf>) {
    let Some((first, rest)) = parts.split_first() else {
        if dir != Path::new("/") {
            found.push(dir.to_path_buf());
        }
        return;
    };
    match first {
        Part::Literal(name) => {
            let candidate = dir.join(OsStr::from_bytes(name));
            if rest.is_empty() {
                if tree.kind(&candidate).is_some() {
                    found.push(candidate);
                }
                return;
            }
            if let Some(real) = resolve(tree, &candidate) {
                if tree.kind(&real.path) == Some(NodeKind::Dir) {
                    expand_from(tree, rest, &real.path, found);
                }
            }
        }
        Part::Pattern(pattern) => {
            for entry in tree.list(dir) {
                let name = entry.file_name().map_or(&[][..], |n| n.as_bytes());
                if !match_component(pattern, name).unwrap_or(false) {
                    continue;
                }
                if rest.is_empty() {
                    found.push(entry);
                } else if tree.kind(&entry) == Some(NodeKind::Dir) {
                    expand_from(tree, rest, &entry, found);
                }
            }
        }
        Part::AnyDepth => {
            // Zero components here, then one more for each real directory below.
            expand_from(tree, rest, dir, found);
            for entry in tree.list(dir) {
                if tree.kind(&entry) == Some(NodeKind::Dir) {
                    expand_from(tree, parts, &entry, found);
                } else if rest.is_empty() {
                    found.push(entry);
                }
            }
        }
    }
}

fn matches_from(parts: &[Part], names: &[&[u8]]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return names.is_empty();
    };
    match first {
        Part::AnyDepth => (0..=names.len()).any(|skip| matches_from(rest, &names[skip..])),
        Part::Literal(literal) => {
            names.first().is_some_and(|name| name == literal) && matches_from(rest, &names[1..])
        }
        Part::Pattern(pattern) => {
            names
                .first()
                .is_some_and(|name| match_component(pattern, name).unwrap_or(false))
                && matches_from(rest, &names[1..])
        }
    }
}

fn unescape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut escaped = false;
    for &b in bytes {
        if !escaped && b == b'\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(b);
    }
    out
}

/// Go's `filepath.Match` for one component: `Err` for a malformed class.
fn match_component(pattern: &[u8], name: &[u8]) -> Result<bool, String> {
    // Backtracking over the last `*`: linear in practice for path names.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    let mut result = None;
    while result.is_none() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' if n < name.len() => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    let (matched, end) = match_class(pattern, p, name.get(n).copied())?;
                    if matched && n < name.len() {
                        p = end;
                        n += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && name.get(n) == Some(&pattern[p + 1]) => {
                    p += 2;
                    n += 1;
                    continue;
                }
                // A backslash that escapes a character that did not match is a mismatch, not a literal.
                b'\\' if p + 1 < pattern.len() => {}
                literal if literal != b'?' && name.get(n) == Some(&literal) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        } else if n == name.len() {
            result = Some(true);
            continue;
        }
        // Mismatch: let the last `*` take one more character, if it can.
        match star {
            Some((star_p, star_n)) if star_n < name.len() => {
                star = Some((star_p, star_n + 1));
                p = star_p + 1;
                n = star_n + 1;
            }
            _ => result = Some(false),
        }
    }
    // A malformed class later in the pattern is an error even after a mismatch.
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => i += 2,
            b'[' => i = match_class(pattern, i, None)?.1,
            _ => i += 1,
        }
    }
    Ok(result.unwrap_or(false))
}

/// Matches `c` against the class starting at `pattern[start]` (`[`);
/// returns whether it matched and the index after the closing `]`.
fn match_class(pattern: &[u8], start: usize, c: Option<u8>) -> Result<(bool, usize), String> {
    let mut i = start + 1;
    let negated = matches!(pattern.get(i), Some(b'^' | b'!'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&b) = pattern.get(i) else {
            return Err("a [ class is not closed".into());
        };
        if b == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (low, next) = class_char(pattern, i)?;
        let (high, after) =
            if pattern.get(next) == Some(&b'-') && pattern.get(next + 1) != Some(&b']') {
                class_char(pattern, next + 1)?
            } else {
                (low, next)
            };
        if c.is_some_and(|c| low <= c && c <= high) {
            matched = true;
        }
        i = after;
    }
    Ok((matched != negated, i))
}

fn class_char(pattern: &[u8], i: usize) -> Result<(u8, usize), String> {
    match pattern.get(i) {
        Some(b'\\') => pattern
            .get(i + 1)
            .map(|&b| (b, i + 2))
            .ok_or_else(|| "a pattern ends in \\".to_string()),
        Some(&b) => Ok((b, i + 1)),
        None => Err("a [ class is not closed".into()),
    }
}

/// `text` as an absolute, normalised path (for literal `--include-path` values).
pub fn literal_path(text: &str) -> PathBuf {
    normalize(Path::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;
    use std::os::unix::fs::symlink;

    fn glob(text: &str) -> Glob {
        Glob::new(text).unwrap()
    }

    #[test]
    fn components_match_like_go_filepath_match() {
        let cases = [
            ("/usr/lib/*.so", "/usr/lib/libz.so", true),
            ("/usr/lib/*.so", "/usr/lib/sub/libz.so", false),
            ("/usr/lib/lib?.so", "/usr/lib/libz.so", true),
            ("/usr/lib/lib[a-y].so", "/usr/lib/libz.so", false),
            ("/usr/lib/lib[^a-y].so", "/usr/lib/libz.so", true),
            ("/usr/lib/lib[!z].so", "/usr/lib/libz.so", false),
            ("/a/\\*", "/a/*", true),
            ("/a/\\*", "/a/b", false),
            ("/a/*b*c", "/a/xbyybzc", true),
            ("/a/*b*c", "/a/xbyybz", false),
            ("/etc", "/etc", true),
            ("etc/*", "/etc/passwd", true),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                glob(pattern).matches(Path::new(path)),
                expected,
                "{pattern} vs {path}"
            );
        }
        assert!(Glob::new("/a/[bc").is_err());
        assert!(is_glob("/a/*.so") && is_glob("/a/[x]") && !is_glob("/a/\\*"));
    }

    #[test]
    fn double_star_matches_zero_or_more_components() {
        let g = glob("/usr/share/doc/**");
        assert!(g.matches(Path::new("/usr/share/doc")));
        assert!(g.matches(Path::new("/usr/share/doc/a/b/c")));
        assert!(!g.matches(Path::new("/usr/share/docs")));
        let g = glob("/usr/**/*.py");
        assert!(g.matches(Path::new("/usr/x.py")));
        assert!(g.matches(Path::new("/usr/lib/python3/a/b.py")));
        assert!(!g.matches(Path::new("/usr/lib/b.pyc")));
    }

    #[test]
    fn expansion_walks_the_tree_and_follows_literal_links_only() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for file in [
            "usr/lib/x/libz.so.1",
            "usr/lib/x/liba.so.1",
            "usr/lib/x/readme",
            "usr/share/zoneinfo/Europe/Paris",
            "usr/share/zoneinfo/Asia/Tokyo",
        ] {
            std::fs::create_dir_all(r.join(file).parent().unwrap()).unwrap();
            std::fs::write(r.join(file), "x").unwrap();
        }
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("..", r.join("usr/lib/x/loop")).unwrap();
        let tree = HostTree::new(r);
        let paths = |list: &[&str]| list.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            glob("/lib/x/lib*.so.*").expand(&tree),
            paths(&["/usr/lib/x/liba.so.1", "/usr/lib/x/libz.so.1"])
        );
        assert_eq!(
            glob("/usr/share/zoneinfo/**/P*").expand(&tree),
            paths(&["/usr/share/zoneinfo/Europe/Paris"])
        );
        // `**` does not enter the symlinked loop.
        assert_eq!(
            glob("/usr/**/readme").expand(&tree),
            paths(&["/usr/lib/x/readme"])
        );
        let through = glob("/lib/x/*.so.1").through_links(&tree).unwrap();
        assert!(through.matches(Path::new("/usr/lib/x/libz.so.1")));
        assert_eq!(glob("/usr/lib/*").through_links(&tree), None);
    }
}
