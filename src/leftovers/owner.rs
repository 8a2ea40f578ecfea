//! Who made a container, a volume, a temporary tag or a temp dir: an rslim
//! process, named so that a later rslim can tell whether it still runs.
//!
//! A pid alone says nothing on a daemon that several hosts share, or after
//! a reboot, or once the kernel has handed the pid to another process. So
//! the owner is the host name, the boot id, the pid namespace, the pid and
//! the process's start time (in clock ticks since boot, from
//! `/proc/<pid>/stat`). Only a claim made on this very machine (same host,
//! boot and pid namespace) can be judged; its owner is dead when the pid is
//! gone, a zombie, or now belongs to a process that started at another time.
//! Anything else is someone else's and is never removed (but by `prune --all`).
//!
//! Containers and volumes carry the whole owner as a label
//! (`host=vm,boot=…,pidns=…,pid=…,start=…`). Image tags and file names
//! cannot hold that, so they carry a token: a hash of the machine (host,
//! boot, pid namespace), the pid and the start time.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// Hex digits of the machine hash in a token.
const MACHINE_DIGITS: usize = 12;

/// The owner of something rslim created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub boot: String,
    /// The pid namespace's inode number (`/proc/self/ns/pid`).
    pub pidns: String,
    pub pid: u32,
    /// Start time in clock ticks after boot, field 22 of `/proc/<pid>/stat`.
    pub start: u64,
}

/// What a label or a token says about its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    machine: String,
    pid: u32,
    start: u64,
    /// The host, when the claim names it (labels do; tokens do not).
    host: Option<String>,
}

/// Whether the owner of a claim still runs, as far as this process can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Alive,
    Dead,
    /// Made on another host, before a reboot, in another pid namespace, or
    /// by a process that could not name itself: not ours to judge.
    Elsewhere,
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo {
    pub state: char,
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> &'static Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT.get_or_init(|| {
            let read = |path: &str| {
                std::fs::read_to_string(path)
                    .map(|text| text.trim().to_string())
                    .unwrap_or_default()
            };
            let pidns = std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .and_then(|link| {
                    let text = link.to_string_lossy().into_owned();
                    Some(text.strip_prefix("pid:[")?.strip_suffix(']')?.to_string())
                })
                .unwrap_or_default();
            let pid = std::process::id();
            Owner {
                host: read("/proc/sys/kernel/hostname"),
                boot: read("/proc/sys/kernel/random/boot_id"),
                pidns,
                pid,
                start: process_info(pid).map(|p| p.start).unwrap_or(0),
            }
        })
    }

    /// Whether this owner names itself well enough for others to judge it.
    fn complete(&self) -> bool {
        [&self.host, &self.boot, &self.pidns]
            .iter()
            .all(|part| is_plain(part))
            && self.start > 0
    }

    /// The value of the `io.rslim.owner` label.
    pub fn label(&self) -> String {
        format!(
            "host={},boot={},pidns={},pid={},start={}",
            self.host, self.boot, self.pidns, self.pid, self.start
        )
    }

    /// `<machine>-<pid>-<start>`, for names that cannot hold the label.
    pub fn token(&self) -> String {
        format!("{}-{}-{}", self.machine(), self.pid, self.start)
    }

    fn machine(&self) -> String {
        machine_hash(&self.host, &self.boot, &self.pidns)
    }

    /// Whether the owner of `claim` still runs; `process` reads
    /// `/proc/<pid>/stat` (a parameter so tests can play the kernel).
    pub fn judge(&self, claim: &Claim, process: impl Fn(u32) -> Option<ProcessInfo>) -> Status {
        // A claim without a start time (its owner could not read its own)
        // cannot be told from a reused pid: never judged dead.
        if !self.complete() || claim.machine != self.machine() || claim.start == 0 {
            return Status::Elsewhere;
        }
        match process(claim.pid) {
            Some(info) if info.start == claim.start && !matches!(info.state, 'Z' | 'X') => {
                Status::Alive
            }
            _ => Status::Dead,
        }
    }

    /// [`Owner::judge`] against the real `/proc`.
    pub fn status(&self, claim: &Claim) -> Status {
        self.judge(claim, process_info)
    }
}

impl Claim {
    /// Reads a label written by [`Owner::label`]; `None` for anything else
    /// (a label of an older rslim, which held the pid only).
    pub fn from_label(label: &str) -> Option<Claim> {
        let mut fields = std::collections::HashMap::new();
        for pair in label.split(',') {
            let (key, value) = pair.split_once('=')?;
            fields.insert(key, value);
        }
        let (host, boot, pidns) = (
            fields.get("host")?,
            fields.get("boot")?,
            fields.get("pidns")?,
        );
        if ![host, boot, pidns].iter().all(|part| is_plain(part)) {
            return None;
        }
        Some(Claim {
            machine: machine_hash(host, boot, pidns),
            pid: fields.get("pid")?.parse().ok()?,
            start: fields.get("start")?.parse().ok()?,
            host: Some(host.to_string()),
        })
    }

    /// Reads a token written by [`Owner::token`].
    pub fn from_token(token: &str) -> Option<Claim> {
        let mut parts = token.split('-');
        let (machine, pid, start) = (parts.next()?, parts.next()?, parts.next()?);
        let hex = machine.len() == MACHINE_DIGITS
            && machine
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if parts.next().is_some() || !hex {
            return None;
        }
        Some(Claim {
            machine: machine.to_string(),
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
            host: None,
        })
    }

    /// "pid 123 on vm", for messages.
    pub fn describe(&self) -> String {
        match &self.host {
            Some(host) => format!("pid {} on {host}", self.pid),
            None => format!("pid {}", self.pid),
        }
    }
}

/// Non-empty, and free of the label's separators.
fn is_plain(part: &str) -> bool {
    !part.is_empty() && !part.contains([',', '='])
}

fn machine_hash(host: &str, boot: &str, pidns: &str) -> String {
    let digest = Sha256::new()
        .chain_update(host)
        .chain_update([0])
        .chain_update(boot)
        .chain_update([0])
        .chain_update(pidns)
        .finalize();
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..MACHINE_DIGITS]
        .to_string()
}

/// State and start time of `pid`, from `/proc/<pid>/stat`.
pub fn process_info(pid: u32) -> Option<ProcessInfo> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The command name (field 2) is in parentheses and may hold anything,
/// spaces and parentheses included: fields are counted after the last `)`.
fn parse_stat(stat: &str) -> Option<ProcessInfo> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4 to 21 lie between the state (3) and the start time (22).
    let start = fields.nth(18)?.parse().ok()?;
    Some(ProcessInfo { state, start })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Owner {
        Owner {
            host: "vm".into(),
            boot: "2d6eaf03-c57c-47a7-bd0a-4c39e11bce52".into(),
            pidns: "4026531836".into(),
            pid: 4242,
            start: 98765,
        }
    }

    #[test]
    fn labels_and_tokens_round_trip_into_claims() {
        let owner = here();
        let label = owner.label();
        assert_eq!(
            label,
            "host=vm,boot=2d6eaf03-c57c-47a7-bd0a-4c39e11bce52,pidns=4026531836,pid=4242,start=98765"
        );
        let from_label = Claim::from_label(&label).unwrap();
        let from_token = Claim::from_token(&owner.token()).unwrap();
        assert_eq!(from_label.machine, from_token.machine);
        assert_eq!((from_label.pid, from_label.start), (4242, 98765));
        assert_eq!(from_label.describe(), "pid 4242 on vm");
        // An older rslim's label (the pid only) and odd tokens are no claims.
        assert_eq!(Claim::from_label("4242"), None);
        assert_eq!(
            Claim::from_label("host=a,b,boot=x,pidns=1,pid=1,start=1"),
            None
        );
        assert_eq!(Claim::from_token("4242-0-1a2b3c4d"), None);
        assert_eq!(Claim::from_token("0123456789ab-1-2-3"), None);
        assert_eq!(Claim::from_token("0123456789AB-1-2"), None);
    }

    #[test]
    fn only_a_claim_from_this_machine_is_judged() {
        let owner = here();
        let alive = |start| move |_| Some(ProcessInfo { state: 'S', start });
        let mine = Claim::from_label(&owner.label()).unwrap();
        assert_eq!(owner.judge(&mine, alive(98765)), Status::Alive);
        // The pid now belongs to a process that started later: reused.
        assert_eq!(owner.judge(&mine, alive(99999)), Status::Dead);
        assert_eq!(owner.judge(&mine, |_| None), Status::Dead);
        let zombie = |_| {
            Some(ProcessInfo {
                state: 'Z',
                start: 98765,
            })
        };
        assert_eq!(owner.judge(&mine, zombie), Status::Dead);
        let unknown_start = Owner { start: 0, ..here() };
        let claim = Claim::from_label(&unknown_start.label()).unwrap();
        assert_eq!(owner.judge(&claim, |_| None), Status::Elsewhere);
        for other in [
            Owner {
                host: "other".into(),
                ..here()
            },
            Owner {
                boot: "00000000-0000-0000-0000-000000000000".into(),
                ..here()
            },
            Owner {
                pidns: "4026532000".into(),
                ..here()
            },
        ] {
            let claim = Claim::from_label(&other.label()).unwrap();
            assert_eq!(
                owner.judge(&claim, |_| None),
                Status::Elsewhere,
                "{other:?}"
            );
            let claim = Claim::from_token(&other.token()).unwrap();
            assert_eq!(
                owner.judge(&claim, |_| None),
                Status::Elsewhere,
                "{other:?}"
            );
        }
        // An owner that cannot name its boot judges nothing.
        let blind = Owner {
            boot: String::new(),
            ..here()
        };
        let claim = Claim::from_label(&blind.label());
        assert!(claim.is_none());
        assert_eq!(blind.judge(&mine, |_| None), Status::Elsewhere);
    }

    #[test]
    fn reads_proc_stat_whatever_the_command_name() {
        let stat = "77 (a) b (c) S 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 \
                    1000 100 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(ProcessInfo {
                state: 'S',
                start: 123456
            })
        );
        assert_eq!(parse_stat("77 (a) S 1"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_dead() {
        let owner = Owner::current();
        assert_eq!(owner.pid, std::process::id());
        let mine = Claim::from_label(&owner.label()).unwrap();
        assert_eq!(owner.status(&mine), Status::Alive);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = process_info(pid).map(|p| p.start);
        child.wait().unwrap();
        let gone = Owner {
            pid,
            start: start.unwrap_or(1),
            ..owner.clone()
        };
        let claim = Claim::from_token(&gone.token()).unwrap();
        assert_eq!(owner.status(&claim), Status::Dead);
    }
}
