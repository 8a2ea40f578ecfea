//! Programs that run a file without being libraries of it: the `#!`
//! interpreter of a script (through `/usr/bin/env` too) and PATH lookup.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::pathwalk::{resolve, Resolved};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// PATH when the image config sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Linux reads at most this much of a `#!` line (BINPRM_BUF_SIZE).
const SHEBANG_MAX: u64 = 256;

/// A parsed `#!` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    pub interpreter: PathBuf,
    /// Everything after the interpreter, which Linux passes as one argument.
    pub argument: Option<OsString>,
}

/// The `#!` line of the file at `path`, if it has one.
pub fn read_shebang(tree: &dyn FsTree, path: &Path) -> Option<Shebang> {
    let real = resolve(tree, path)?.path;
    let head = tree.read(&real, SHEBANG_MAX).ok()?;
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = line.trim_ascii();
    let end = line
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(line.len());
    if end == 0 {
        return None;
    }
    let argument = line[end..].trim_ascii();
    Some(Shebang {
        interpreter: PathBuf::from(OsStr::from_bytes(&line[..end])),
        argument: (!argument.is_empty()).then(|| OsStr::from_bytes(argument).to_os_string()),
    })
}

/// What running a script needs besides itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptInterpreters {
    /// The `#!` interpreter, then (for `env`) the program env runs.
    pub found: Vec<Resolved>,
    /// Interpreters or programs named but not present in the tree.
    pub missing: Vec<PathBuf>,
}

/// The interpreters to keep for the script at `path`: the `#!` program and,
/// when that is `env`, the program it looks up in `path_var` (the image's
/// PATH, [`DEFAULT_PATH`] when unset). Empty for files without `#!`.
pub fn script_interpreters(
    tree: &dyn FsTree,
    path: &Path,
    path_var: Option<&str>,
) -> ScriptInterpreters {
    let mut result = ScriptInterpreters::default();
    let Some(shebang) = read_shebang(tree, path) else {
        return result;
    };
    match resolve(tree, &shebang.interpreter) {
        Some(found) => result.found.push(found),
        None => result.missing.push(shebang.interpreter.clone()),
    }
    if shebang.interpreter.file_name() == Some(OsStr::new("env")) {
        let argument = shebang.argument.as_deref().unwrap_or_default();
        if let Some(program) = env_program(argument.as_bytes()) {
            match which(
                tree,
                OsStr::from_bytes(program),
                path_var.unwrap_or(DEFAULT_PATH),
            ) {
                Some(found) => result.found.push(found),
                None => result
                    .missing
                    .push(PathBuf::from(OsStr::from_bytes(program))),
            }
        }
    }
    result
}

/// The program `env` runs given its (single, kernel-joined) argument:
/// skips options and `NAME=value` assignments; `-S` splits the rest at spaces.
fn env_program(argument: &[u8]) -> Option<&[u8]> {
    let mut words = argument
        .split(|b| b.is_ascii_whitespace())
        .filter(|word| !word.is_empty());
    while let Some(word) = words.next() {
        if let Some(split) = word.strip_prefix(b"-S") {
            // `-Spython3` carries the first word itself.
            if !split.is_empty() {
                return Some(split);
            }
            continue;
        }
        // Options taking a value as the next word.
        if matches!(word, b"-u" | b"--unset" | b"-C" | b"--chdir") {
            words.next();
            continue;
        }
        if word.starts_with(b"-") || word.contains(&b'=') {
            continue;
        }
        return Some(word);
    }
    None
}

/// Looks `name` up like execvp: a name with a slash is a path (relative to
/// `/`), otherwise the first regular file named so in the `path_var` dirs.
pub fn which(tree: &dyn FsTree, name: &OsStr, path_var: &str) -> Option<Resolved> {
    let is_file = |found: &Resolved| matches!(tree.kind(&found.path), Some(NodeKind::File { .. }));
    if name.as_bytes().contains(&b'/') {
        return resolve(tree, Path::new(name)).filter(is_file);
    }
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .find_map(|dir| resolve(tree, &Path::new(dir).join(name)).filter(is_file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::tree::HostTree;
    use std::os::unix::fs::symlink;

    fn image_with_scripts() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let at = |p: &str| root.path().join(p);
        for dir in ["usr/bin", "usr/local/bin", "app"] {
            std::fs::create_dir_all(at(dir)).unwrap();
        }
        symlink("usr/bin", at("bin")).unwrap();
        std::fs::write(at("usr/bin/env"), b"\x7fELF").unwrap();
        std::fs::write(at("usr/bin/python3.11"), b"\x7fELF").unwrap();
        symlink("python3.11", at("usr/bin/python3")).unwrap();
        std::fs::write(at("usr/bin/sh"), b"\x7fELF").unwrap();
        std::fs::write(at("app/plain.py"), "#!/usr/bin/env python3\nprint(1)\n").unwrap();
        std::fs::write(at("app/split.py"), "#!/usr/bin/env -S python3 -u\n").unwrap();
        std::fs::write(at("app/assign.py"), "#! /bin/env -i LANG=C python3\n").unwrap();
        std::fs::write(at("app/run.sh"), "#!/bin/sh -e\necho hi\n").unwrap();
        std::fs::write(at("app/gone.rb"), "#!/usr/bin/env ruby\n").unwrap();
        std::fs::write(at("app/data.txt"), "no shebang here\n").unwrap();
        root
    }

    fn paths(found: &[Resolved]) -> Vec<&Path> {
        found.iter().map(|found| found.path.as_path()).collect()
    }

    #[test]
    fn env_scripts_keep_env_and_the_program_it_runs() {
        let root = image_with_scripts();
        let tree = HostTree::new(root.path());
        for script in ["/app/plain.py", "/app/split.py", "/app/assign.py"] {
            let kept = script_interpreters(&tree, Path::new(script), None);
            assert_eq!(
                paths(&kept.found),
                [Path::new("/usr/bin/env"), Path::new("/usr/bin/python3.11")],
                "{script}"
            );
            assert!(kept.missing.is_empty(), "{script}");
        }
        let python = &script_interpreters(&tree, Path::new("/app/plain.py"), None).found[1];
        // Found in /usr/bin before /bin; the versioned name is reached through python3.
        assert_eq!(python.symlinks, vec![PathBuf::from("/usr/bin/python3")]);
    }

    #[test]
    fn direct_interpreters_missing_programs_and_plain_files() {
        let root = image_with_scripts();
        let tree = HostTree::new(root.path());
        let shell = script_interpreters(&tree, Path::new("/app/run.sh"), None);
        assert_eq!(paths(&shell.found), [Path::new("/usr/bin/sh")]);
        assert_eq!(shell.found[0].symlinks, vec![PathBuf::from("/bin")]);
        let shebang = read_shebang(&tree, Path::new("/app/run.sh")).unwrap();
        assert_eq!(shebang.argument, Some(OsString::from("-e")));

        let ruby = script_interpreters(&tree, Path::new("/app/gone.rb"), None);
        assert_eq!(ruby.missing, vec![PathBuf::from("ruby")]);
        assert_eq!(
            script_interpreters(&tree, Path::new("/app/data.txt"), None),
            ScriptInterpreters::default()
        );
    }

    #[test]
    fn which_searches_path_in_order_and_skips_directories() {
        let root = image_with_scripts();
        let tree = HostTree::new(root.path());
        let found = which(&tree, OsStr::new("python3"), "/nowhere:/usr/local/bin:/bin").unwrap();
        assert_eq!(found.path, PathBuf::from("/usr/bin/python3.11"));
        assert_eq!(
            found.symlinks,
            vec![PathBuf::from("/bin"), PathBuf::from("/usr/bin/python3")]
        );
        assert_eq!(
            which(&tree, OsStr::new("bin"), "/usr"),
            None,
            "a directory is not a program"
        );
        assert_eq!(
            which(&tree, OsStr::new("/app/run.sh"), "").unwrap().path,
            PathBuf::from("/app/run.sh")
        );
    }
}
