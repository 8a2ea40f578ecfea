//! What language runtimes need beyond the files they open. The first rule
//! is Python's: the interpreter opens `__pycache__/NAME.cpython-311.pyc` but
//! only stat()s `NAME.py` (fanotify reports opens, not stats), and refuses
//! the cached byte code when the source is gone. This module is where
//! Node, the JVM and glibc rules go next.

use std::path::{Path, PathBuf};

/// Files to keep because `path` is kept.
pub fn companions(path: &Path) -> Vec<PathBuf> {
    python_source_of_bytecode(path).into_iter().collect()
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
}
