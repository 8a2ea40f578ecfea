//! Where things live in a Python installation, read from paths alone: the
//! versioned library dir, site dirs, byte code caches, interpreters.

use std::path::{Component, Path, PathBuf};

/// The version in a library dir's name: `python3.11` → `(3, "3.11")`.
pub fn versioned_dir(name: &str) -> Option<(u32, &str)> {
    let version = name.strip_prefix("python")?;
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some((major.parse().ok()?, version))
}

/// `/usr/lib/python3.11/json/decoder.py` → `/usr/lib/python3.11`: the
/// `lib/pythonX.Y` (or `lib64/…`) dir `path` is strictly inside, where
/// CPython keeps its standard library (a virtualenv keeps only
/// `site-packages` there).
pub fn library_dir(path: &Path) -> Option<PathBuf> {
    let mut prefix = PathBuf::new();
    let mut previous_was_lib = false;
    for component in path.components() {
        prefix.push(component);
        let name = component.as_os_str().to_str().unwrap_or("");
        if previous_was_lib && versioned_dir(name).is_some() && prefix != path {
            return Some(prefix);
        }
        previous_was_lib = matches!(name, "lib" | "lib64");
    }
    None
}

/// Whether a directory named `name` holds installed distributions.
pub fn is_site_dir_name(name: &str) -> bool {
    matches!(name, "site-packages" | "dist-packages")
}

/// The innermost site dir `path` is strictly inside, and the name of the
/// entry of that dir that holds `path`:
/// `/x/site-packages/requests/api.py` → (`/x/site-packages`, `requests`).
pub fn site_entry(path: &Path) -> Option<(PathBuf, String)> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            // A name that is not UTF-8 cannot be a module; such paths are left alone.
            Component::Normal(name) => names.push(name.to_str()?),
            Component::RootDir => {}
            _ => return None,
        }
    }
    let at = names[..names.len().saturating_sub(1)]
        .iter()
        .rposition(|name| is_site_dir_name(name))?;
    let site: PathBuf = std::iter::once("/")
        .chain(names[..=at].iter().copied())
        .collect();
    Some((site, names[at + 1].to_string()))
}

/// `/a/__pycache__/mod.cpython-311.pyc` (or `.opt-1.pyc`) → `/a/mod.py`.
pub fn source_of_bytecode(path: &Path) -> Option<PathBuf> {
    let cache_dir = path.parent()?;
    if cache_dir.file_name()? != "__pycache__" {
        return None;
    }
    let name = path.file_name()?.to_str()?.strip_suffix(".pyc")?;
    // NAME.TAG[.opt-N]: the module name is everything before the tag.
    let module = name.split('.').next().filter(|m| !m.is_empty())?;
    Some(cache_dir.parent()?.join(format!("{module}.py")))
}

/// For an interpreter binary `/usr/local/bin/python3.11`: its prefix
/// (`/usr/local`) and the start every library dir it uses has
/// (`python3.11`; `python3` for `python3`, which may be any 3.Y).
pub fn interpreter_prefix(path: &Path) -> Option<(PathBuf, String)> {
    let name = path.file_name()?.to_str()?;
    let version = name.strip_prefix("python")?;
    if !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let bin = path.parent()?;
    if bin.file_name()? != "bin" {
        return None;
    }
    Some((bin.parent()?.to_path_buf(), name.to_string()))
}

/// Whether the `#!` line `head` (the start of a file) runs Python:
/// `#!/usr/bin/python3`, `#!/usr/bin/env python3`, `#!/usr/bin/env -S python3 -u`.
pub fn shebang_runs_python(head: &[u8]) -> bool {
    let Some(line) = head.strip_prefix(b"#!") else {
        return false;
    };
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    line.split(|b| b.is_ascii_whitespace()).any(|word| {
        let word = word.strip_prefix(b"-S").unwrap_or(word);
        let base = word.rsplit(|&b| b == b'/').next().unwrap_or(word);
        base.starts_with(b"python")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_source_of_python_bytecode() {
        let source = |p: &str| source_of_bytecode(Path::new(p));
        assert_eq!(
            source("/usr/lib/python3.11/encodings/__pycache__/__init__.cpython-311.pyc"),
            Some(PathBuf::from("/usr/lib/python3.11/encodings/__init__.py"))
        );
        assert_eq!(
            source("/app/__pycache__/app.cpython-311.opt-1.pyc"),
            Some(PathBuf::from("/app/app.py"))
        );
        assert_eq!(source("/app/app.pyc"), None);
        assert_eq!(source("/app/__pycache__/notes.txt"), None);
    }

    #[test]
    fn finds_the_library_dir_a_path_is_in() {
        let library = |p: &str| library_dir(Path::new(p));
        assert_eq!(
            library("/usr/lib/python3.11/encodings/__init__.py"),
            Some(PathBuf::from("/usr/lib/python3.11"))
        );
        assert_eq!(
            library("/usr/local/lib/python3.12/site-packages/x.py"),
            Some(PathBuf::from("/usr/local/lib/python3.12"))
        );
        assert_eq!(
            library("/usr/lib64/python3.9/lib-dynload/_ssl.so"),
            Some(PathBuf::from("/usr/lib64/python3.9"))
        );
        assert_eq!(library("/usr/lib/python3.11"), None);
        assert_eq!(library("/usr/lib/python3/dist-packages/x.py"), None);
        assert_eq!(library("/srv/lib/notpython3.1/x"), None);
        assert_eq!(versioned_dir("python3.11"), Some((3, "3.11")));
        assert_eq!(versioned_dir("python3"), None);
        assert_eq!(versioned_dir("python3.x"), None);
    }

    #[test]
    fn finds_the_innermost_site_dir_and_its_entry() {
        let entry = |p: &str| site_entry(Path::new(p));
        assert_eq!(
            entry("/usr/local/lib/python3.11/site-packages/requests/api.py"),
            Some((
                PathBuf::from("/usr/local/lib/python3.11/site-packages"),
                "requests".to_string()
            ))
        );
        assert_eq!(
            entry("/usr/lib/python3/dist-packages/six.py"),
            Some((
                PathBuf::from("/usr/lib/python3/dist-packages"),
                "six.py".to_string()
            ))
        );
        assert_eq!(
            entry("/v/site-packages/tool/vendor/site-packages/inner/x.py"),
            Some((
                PathBuf::from("/v/site-packages/tool/vendor/site-packages"),
                "inner".to_string()
            ))
        );
        assert_eq!(entry("/usr/lib/python3/dist-packages"), None);
        assert_eq!(entry("/app/main.py"), None);
    }

    #[test]
    fn recognises_interpreters_and_python_shebangs() {
        assert_eq!(
            interpreter_prefix(Path::new("/usr/local/bin/python3.11")),
            Some((PathBuf::from("/usr/local"), "python3.11".to_string()))
        );
        assert_eq!(
            interpreter_prefix(Path::new("/usr/bin/python3")),
            Some((PathBuf::from("/usr"), "python3".to_string()))
        );
        assert_eq!(
            interpreter_prefix(Path::new("/usr/bin/python3-config")),
            None
        );
        assert_eq!(interpreter_prefix(Path::new("/usr/lib/python3.11")), None);

        assert!(shebang_runs_python(b"#!/usr/bin/env python3\nimport os\n"));
        assert!(shebang_runs_python(b"#! /usr/local/bin/python3.11 -u\n"));
        assert!(shebang_runs_python(b"#!/usr/bin/env -Spython3 -u\n"));
        assert!(!shebang_runs_python(b"#!/bin/sh\nexec python3 \"$0\"\n"));
        assert!(!shebang_runs_python(b"import os\n"));
    }
}
