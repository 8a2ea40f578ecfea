//! Temp files with names that say whose they are. A SIGKILL leaves a named
//! temp dir behind whatever `Drop` would have done, so the write stage's
//! private dir is `$TMPDIR/rslim-<token>-XXXXXX` and an output's temp file
//! beside its target is `.<name>.rslim-<token>-XXXXXX.tmp`, where `<token>`
//! names the owning process ([`Owner::token`]). A later run removes those
//! whose owner is dead: every build sweeps `$TMPDIR` as it starts, and the
//! directory of each `--output` before writing there.

use std::io;
use std::path::{Path, PathBuf};

use super::owner::{Claim, Owner, Status};

/// Start of every temp dir name of rslim's in `$TMPDIR`.
const DIR_PREFIX: &str = "rslim-";
/// Between an output's name and the token in its temp file's name.
const OUTPUT_MARK: &str = ".rslim-";
const OUTPUT_SUFFIX: &str = ".tmp";

/// A private temp dir in `$TMPDIR`, removed on drop, and named after this
/// process so that a later run can remove it if this one is killed.
pub fn private_dir() -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", Owner::current().token()))
        .tempdir()
}

/// The prefix of the temp file that stands in for `target` while it is
/// written (`.<name>.rslim-<token>-`, then tempfile's random letters).
pub fn output_prefix(target: &Path) -> String {
    format!(
        ".{}{OUTPUT_MARK}{}-",
        file_name(target),
        Owner::current().token()
    )
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The owner named by a temp dir's name in `$TMPDIR`, if it is one of ours.
fn dir_claim(name: &str) -> Option<Claim> {
    let (token, _random) = name.strip_prefix(DIR_PREFIX)?.rsplit_once('-')?;
    Claim::from_token(token)
}

/// The owner named by the temp file (or dir) of an output to `target_name`.
fn output_claim(name: &str, target_name: &str) -> Option<Claim> {
    let rest = name
        .strip_prefix('.')?
        .strip_prefix(target_name)?
        .strip_prefix(OUTPUT_MARK)?
        .strip_suffix(OUTPUT_SUFFIX)?;
    let (token, _random) = rest.rsplit_once('-')?;
    Claim::from_token(token)
}

/// A temp entry of rslim's and its owner.
pub struct Found {
    pub path: PathBuf,
    pub claim: Claim,
}

/// rslim's temp dirs in `dir` (normally `$TMPDIR`).
pub fn temp_dirs(dir: &Path) -> Vec<Found> {
    entries(dir, dir_claim)
}

/// The temp files and dirs left beside `target` by writes of it.
pub fn beside(target: &Path) -> Vec<Found> {
    let name = file_name(target);
    if name.is_empty() {
        return Vec::new();
    }
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    entries(&dir, |entry| output_claim(entry, &name))
}

fn entries(dir: &Path, claim: impl Fn(&str) -> Option<Claim>) -> Vec<Found> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    listing
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let claim = claim(name.to_str()?)?;
            Some(Found {
                path: entry.path(),
                claim,
            })
        })
        .collect()
}

/// Removes a file, or a directory with everything in it; a symlink is
/// removed, never followed.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path)?.is_dir() {
        true => std::fs::remove_dir_all(path),
        false => std::fs::remove_file(path),
    }
}

/// Removes the temp files beside `target` whose owners are dead.
pub fn sweep_beside(target: &Path) {
    let owner = Owner::current();
    for found in beside(target) {
        if owner.status(&found.claim) == Status::Dead {
            let _ = remove(&found.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_token() -> String {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        Owner {
            pid,
            start: 1,
            ..Owner::current().clone()
        }
        .token()
    }

    #[test]
    fn names_carry_the_owner() {
        let token = Owner::current().token();
        let dir = private_dir().unwrap();
        let name = dir.path().file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("rslim-{token}-")), "{name}");
        let claim = dir_claim(name).unwrap();
        assert_eq!(Owner::current().status(&claim), Status::Alive);
        assert!(dir_claim("rslim-a1b2c3").is_none(), "an older rslim's dir");
        assert!(dir_claim("rslimfoo").is_none());
        let prefix = output_prefix(Path::new("/out/app.tar"));
        assert!(
            prefix.starts_with(&format!(".app.tar.rslim-{token}-")),
            "{prefix}"
        );
        let name = format!("{prefix}Ab12Cd.tmp");
        assert!(output_claim(&name, "app.tar").is_some());
        assert!(output_claim(&name, "other.tar").is_none());
        assert!(output_claim(".app.tar.rslim-Ab12Cd.tmp", "app.tar").is_none());
    }

    #[test]
    fn only_the_dead_owners_temp_files_beside_a_target_go() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("image.tar");
        let dead = dir
            .path()
            .join(format!(".image.tar.rslim-{}-x1.tmp", dead_token()));
        let live = dir.path().join(format!("{}x2.tmp", output_prefix(&target)));
        let dead_layout = dir
            .path()
            .join(format!(".image.tar.rslim-{}-x3.tmp", dead_token()));
        let unrelated = dir.path().join(".image.tar.tmp");
        std::fs::write(&dead, b"partial").unwrap();
        std::fs::write(&live, b"in progress").unwrap();
        std::fs::create_dir(&dead_layout).unwrap();
        std::fs::write(dead_layout.join("blob"), b"x").unwrap();
        std::fs::write(&unrelated, b"not ours").unwrap();
        sweep_beside(&target);
        assert!(!dead.exists() && !dead_layout.exists());
        assert!(live.exists() && unrelated.exists());
    }
}
