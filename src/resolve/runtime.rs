//! What language runtimes need beyond the files they open (fanotify reports
//! opens, not stats). Python's rules first:
//! - it opens `__pycache__/NAME.cpython-311.pyc` but only stat()s `NAME.py`,
//!   and refuses the cached byte code when the source is gone;
//! - at start it finds its prefix by stat()ing the landmark
//!   `lib/pythonX.Y/os.py` (3.11 loads `os` frozen, never opening it) and
//!   `lib/pythonX.Y/lib-dynload`; without them it prints "Could not find
//!   platform independent libraries".
//!
//! This module is where Node, the JVM and glibc rules go next.

use std::path::{Path, PathBuf};

/// Files to keep because `path` is kept.
pub fn companions(path: &Path) -> Vec<PathBuf> {
    let mut wanted: Vec<PathBuf> = python_source_of_bytecode(path).into_iter().collect();
    if let Some(stdlib) = python_stdlib_dir(path) {
        wanted.push(stdlib.join("os.py"));
        wanted.push(stdlib.join("lib-dynload"));
    }
    wanted
}

/// `/usr/lib/python3.11/json/decoder.py` → `/usr/lib/python3.11`.
fn python_stdlib_dir(path: &Path) -> Option<PathBuf> {
    let mut prefix = PathBuf::new();
    let mut previous_was_lib = false;
    for component in path.components() {
        prefix.push(component);
        let name = component.as_os_str().to_str().unwrap_or("");
        let versioned = name
            .strip_prefix("python3.")
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()));
        if previous_was_lib && versioned && prefix != path {
            return Some(prefix);
        }
        previous_was_lib = name == "lib";
    }
    None
}

/// `/a/__pycache__/mod.cpython-311.pyc` (or `.opt-1.pyc`) → `/a/mod.py`.
fn python_source_of_bytecode(path: &Path) -> Option<PathBuf> {
    let cache_dir = path.parent()?;
    if cache_dir.file_name()? != "__pycache__" {
        return None;
    }
    let name = path.file_name()?.to_str()?.strip_suffix(".pyc")?;
    // NAME.TAG[.opt-N]: the module name is everything before the tag.
    let module = name.split('.').next().filter(|m| !m.is_empty())?;
    Some(cache_dir.parent()?.join(format!("{module}.py")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_source_of_python_bytecode() {
        let source = |p: &str| python_source_of_bytecode(Path::new(p));
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
    fn keeps_the_landmarks_python_looks_for_at_start() {
        let wanted = companions(Path::new("/usr/lib/python3.11/encodings/__init__.py"));
        assert_eq!(
            wanted,
            [
                PathBuf::from("/usr/lib/python3.11/os.py"),
                PathBuf::from("/usr/lib/python3.11/lib-dynload")
            ]
        );
        let local = companions(Path::new("/usr/local/lib/python3.12/site-packages/x.py"));
        assert!(local.contains(&PathBuf::from("/usr/local/lib/python3.12/os.py")));
        assert!(companions(Path::new("/usr/lib/python3.11")).is_empty());
        assert!(companions(Path::new("/usr/lib/python3/dist-packages/x.py")).is_empty());
        assert!(companions(Path::new("/srv/lib/notpython3.1/x")).is_empty());
    }
}
