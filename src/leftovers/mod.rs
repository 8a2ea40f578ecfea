//! What a killed rslim left behind, and removing it. Every exit rslim sees
//! (success, failure, SIGINT, SIGTERM) removes what it created; SIGKILL, a
//! crash or a lost host do not give it the chance. So everything rslim
//! makes names its owner ([`owner`]): containers and their volumes by label,
//! temporary tags and temp files by a token in their names. A build sweeps
//! in the background as it starts, removing what belongs to rslim runs that
//! are gone; `rslim prune` does the same on demand, and with `--all`
//! removes every one of rslim's things whoever owns them. Nothing without
//! rslim's label or name pattern is ever touched.

pub mod owner;
pub mod temp;

use std::fmt;
use std::path::Path;

use owner::{Claim, Owner, Status};

use crate::docker::Docker;

/// Whose leftovers a sweep removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Those whose owner is dead (judged on this machine only).
    DeadOwners,
    /// Every one, whoever owns it: builds still running lose their containers.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Volume,
    TemporaryTag,
    TempDir,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Container => "container",
            Kind::Volume => "volume",
            Kind::TemporaryTag => "temporary tag",
            Kind::TempDir => "temp dir",
        })
    }
}

/// One leftover, and what is known of its owner.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    pub name: String,
    pub owner: String,
}

/// What a sweep found.
#[derive(Debug, Default)]
pub struct Swept {
    /// Removed (or, in a dry run, to be removed).
    pub removed: Vec<Item>,
    /// rslim's, but not this sweep's to remove.
    pub kept: Vec<Item>,
    /// Removals that failed, and listings the engine refused.
    pub problems: Vec<String>,
}

impl Swept {
    /// "removed 1 container and 1 temp dir left by rslim runs that are
    /// gone", or `None` when nothing was removed.
    pub fn summary(&self) -> Option<String> {
        if self.removed.is_empty() {
            return None;
        }
        let counts: Vec<String> = [
            Kind::Container,
            Kind::Volume,
            Kind::TemporaryTag,
            Kind::TempDir,
        ]
        .iter()
        .filter_map(|&kind| {
            let n = self.removed.iter().filter(|i| i.kind == kind).count();
            (n > 0).then(|| format!("{n} {kind}{}", if n == 1 { "" } else { "s" }))
        })
        .collect();
        let listed = match counts.as_slice() {
            [one] => one.clone(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            [] => unreachable!("something was removed"),
        };
        Some(format!("removed {listed} left by rslim runs that are gone"))
    }
}

/// Whether a leftover claimed by `claim` goes, and its owner for messages.
fn decide(scope: Scope, claim: Option<&Claim>) -> (bool, String) {
    let Some(claim) = claim else {
        return (scope == Scope::All, "owner unknown".into());
    };
    let (dead, state) = match Owner::current().status(claim) {
        Status::Dead => (true, "gone"),
        Status::Alive => (false, "running"),
        Status::Elsewhere => (false, "on another host, boot or pid namespace"),
    };
    (
        dead || scope == Scope::All,
        format!("{}, {state}", claim.describe()),
    )
}

/// Records a leftover that stays as kept, and one a dry run would remove as
/// removed; returns the item only when the caller must remove it now (and
/// record it as removed if that works).
fn triage(
    swept: &mut Swept,
    scope: Scope,
    dry_run: bool,
    kind: Kind,
    name: String,
    claim: Option<&Claim>,
) -> Option<Item> {
    let (remove, owner) = decide(scope, claim);
    let item = Item { kind, name, owner };
    if !remove {
        swept.kept.push(item);
        None
    } else if dry_run {
        swept.removed.push(item);
        None
    } else {
        Some(item)
    }
}

/// Sweeps the engine (containers with their volumes, labelled volumes,
/// temporary tags) and this host's temp dir.
pub async fn sweep(docker: &Docker, scope: Scope, dry_run: bool) -> Swept {
    let mut swept = Swept::default();
    sweep_temp_dirs(&std::env::temp_dir(), scope, dry_run, &mut swept);
    sweep_engine(docker, scope, dry_run, &mut swept).await;
    swept
}

/// rslim's temp dirs in `dir` (`$TMPDIR`).
pub fn sweep_temp_dirs(dir: &Path, scope: Scope, dry_run: bool, swept: &mut Swept) {
    for found in temp::temp_dirs(dir) {
        let name = found.path.display().to_string();
        let Some(item) = triage(
            swept,
            scope,
            dry_run,
            Kind::TempDir,
            name,
            Some(&found.claim),
        ) else {
            continue;
        };
        match temp::remove(&found.path) {
            Ok(()) => swept.removed.push(item),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => swept
                .problems
                .push(format!("cannot remove {}: {e}", found.path.display())),
        }
    }
}

/// Containers first (with their anonymous volumes), then labelled volumes
/// left without a container, then temporary tags (an image in use by a
/// container cannot go).
pub async fn sweep_engine(docker: &Docker, scope: Scope, dry_run: bool, swept: &mut Swept) {
    match docker.labelled_containers().await {
        Ok(containers) => {
            for container in containers {
                let claim = Claim::from_label(&container.owner);
                let kind = Kind::Container;
                let Some(item) =
                    triage(swept, scope, dry_run, kind, container.name, claim.as_ref())
                else {
                    continue;
                };
                match docker.remove_container_if_present(&item.name).await {
                    Ok(true) => swept.removed.push(item),
                    Ok(false) => {}
                    // Another run's sweep got there first.
                    Err(e) if e.to_string().contains("already in progress") => {}
                    Err(e) => swept.problems.push(e.to_string()),
                }
            }
        }
        Err(e) => swept.problems.push(e.to_string()),
    }
    match docker.labelled_volumes().await {
        Ok(volumes) => {
            for volume in volumes {
                let claim = Claim::from_label(&volume.owner);
                let Some(item) = triage(
                    swept,
                    scope,
                    dry_run,
                    Kind::Volume,
                    volume.name,
                    claim.as_ref(),
                ) else {
                    continue;
                };
                // A volume still in use belongs to a container kept above.
                if let Ok(true) = docker.remove_volume(&item.name).await {
                    swept.removed.push(item);
                }
            }
        }
        Err(e) => swept.problems.push(e.to_string()),
    }
    match docker.temporary_tags().await {
        Ok(tags) => {
            for tag in tags {
                let claim = crate::docker::CreatedImages::tag_claim(&tag);
                let kind = Kind::TemporaryTag;
                let Some(item) = triage(swept, scope, dry_run, kind, tag, claim.as_ref()) else {
                    continue;
                };
                match docker.untag_image(&item.name).await {
                    Ok(true) => swept.removed.push(item),
                    Ok(false) => {}
                    Err(e) => swept.problems.push(e.to_string()),
                }
            }
        }
        Err(e) => swept.problems.push(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: Kind) -> Item {
        Item {
            kind,
            name: "x".into(),
            owner: "pid 1".into(),
        }
    }

    #[test]
    fn the_summary_counts_what_went() {
        let mut swept = Swept::default();
        assert_eq!(swept.summary(), None);
        swept.removed.push(item(Kind::Container));
        assert_eq!(
            swept.summary().unwrap(),
            "removed 1 container left by rslim runs that are gone"
        );
        swept.removed.extend([
            item(Kind::Container),
            item(Kind::Volume),
            item(Kind::TempDir),
        ]);
        assert_eq!(
            swept.summary().unwrap(),
            "removed 2 containers, 1 volume and 1 temp dir left by rslim runs that are gone"
        );
    }

    #[test]
    fn only_all_removes_what_may_still_be_in_use() {
        let me = Owner::current();
        let mine = Claim::from_label(&me.label()).unwrap();
        assert!(!decide(Scope::DeadOwners, Some(&mine)).0);
        assert!(decide(Scope::All, Some(&mine)).0);
        let elsewhere = Owner {
            host: "another-host".into(),
            ..me.clone()
        };
        let theirs = Claim::from_label(&elsewhere.label()).unwrap();
        let (remove, owner) = decide(Scope::DeadOwners, Some(&theirs));
        assert!(!remove);
        assert!(owner.contains("on another host"), "{owner}");
        assert!(!decide(Scope::DeadOwners, None).0);
        assert!(decide(Scope::All, None).0);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = Owner { pid, ..me.clone() };
        let claim = Claim::from_label(&dead.label()).unwrap();
        let (remove, owner) = decide(Scope::DeadOwners, Some(&claim));
        assert!(remove, "{owner}");
        assert!(owner.ends_with(", gone"), "{owner}");
    }

    #[test]
    fn temp_dirs_of_the_dead_go_and_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::current();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = Owner {
            pid: dead_pid,
            ..me.clone()
        };
        let foreign = Owner {
            boot: "00000000-0000-0000-0000-000000000000".into(),
            ..dead.clone()
        };
        let make = |owner: &Owner, random: &str| {
            let path = dir.path().join(format!("rslim-{}-{random}", owner.token()));
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("layer.tar"), b"x").unwrap();
            path
        };
        let (dead_dir, live_dir, foreign_dir) =
            (make(&dead, "a1"), make(me, "b2"), make(&foreign, "c3"));
        let legacy = dir.path().join("rslim-Ab3dE9");
        std::fs::create_dir(&legacy).unwrap();
        let mut swept = Swept::default();
        sweep_temp_dirs(dir.path(), Scope::DeadOwners, true, &mut swept);
        assert!(dead_dir.exists(), "a dry run removes nothing");
        assert_eq!(swept.removed.len(), 1);
        let mut swept = Swept::default();
        sweep_temp_dirs(dir.path(), Scope::DeadOwners, false, &mut swept);
        assert!(!dead_dir.exists());
        assert!(live_dir.exists() && foreign_dir.exists() && legacy.exists());
        assert_eq!(swept.kept.len(), 2);
        let mut swept = Swept::default();
        sweep_temp_dirs(dir.path(), Scope::All, false, &mut swept);
        assert!(!live_dir.exists() && !foreign_dir.exists());
        assert!(legacy.exists(), "not named by a token: never touched");
    }
}
