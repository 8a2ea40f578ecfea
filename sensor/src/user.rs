//! Resolves the image's USER the way the container runtime does, by reading
//! /etc/passwd and /etc/group directly: the sensor is a static binary, so NSS
//! (getpwnam) is not available and would not be the image's anyway.

use std::fmt;

/// The credentials the application runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary one included.
    pub groups: Vec<u32>,
    /// The home directory from /etc/passwd, when the user has an entry.
    pub home: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserError {
    UnknownUser(String),
    UnknownGroup(String),
    Malformed(String),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::UnknownUser(name) => write!(
                f,
                "user {name:?} is not in the image's /etc/passwd; use a numeric uid or add the user"
            ),
            UserError::UnknownGroup(name) => write!(
                f,
                "group {name:?} is not in the image's /etc/group; use a numeric gid or add the group"
            ),
            UserError::Malformed(spec) => write!(f, "user {spec:?} is not name, uid, name:group or uid:gid"),
        }
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Lines are `name:password:uid:gid:gecos:home:shell`; broken lines are skipped like libc does.
fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: fields[0],
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
            home: fields[5],
        })
    })
}

/// Lines are `name:password:gid:member,member`.
fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: fields[0],
            gid: fields[2].parse().ok()?,
            members: fields[3].split(',').filter(|m| !m.is_empty()).collect(),
        })
    })
}

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`; `None` or empty is root)
/// against the contents of /etc/passwd and /etc/group (empty when the files are missing).
pub fn resolve(spec: Option<&str>, passwd: &str, group: &str) -> Result<Credentials, UserError> {
    let spec = spec.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if group_part == Some("") || (user_part.is_empty() && group_part.is_some()) {
        return Err(UserError::Malformed(spec.to_string()));
    }
    let user_part = if user_part.is_empty() { "0" } else { user_part };

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::UnknownUser(user_part.to_string()))?,
        ),
    };
    let uid = match &entry {
        Some(e) => e.uid,
        None => user_part
            .parse()
            .expect("a missing name was rejected above"),
    };
    // A uid without a passwd entry runs with gid 0, as with runc.
    let mut gid = entry.as_ref().map_or(0, |e| e.gid);
    if let Some(group_part) = group_part {
        gid = match group_part.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|g| g.name == group_part)
                .map(|g| g.gid)
                .ok_or_else(|| UserError::UnknownGroup(group_part.to_string()))?,
        };
    }

    let mut groups = vec![gid];
    if let Some(e) = &entry {
        groups.extend(
            group_entries(group)
                .filter(|g| g.members.contains(&e.name))
                .map(|g| g.gid),
        );
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(Credentials {
        uid,
        gid,
        groups,
        home: entry.map(|e| e.home.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        broken line\n\
        www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\n\
        adm:x:4:www-data,daemon\n\
        www-data:x:33:\n\
        staff:x:50:www-data\n\
        nogroup:x:65534:\n";

    #[test]
    fn a_name_gets_its_primary_and_supplementary_groups_and_home() {
        let creds = resolve(Some("www-data"), PASSWD, GROUP).unwrap();
        assert_eq!(
            creds,
            Credentials {
                uid: 33,
                gid: 33,
                groups: vec![4, 33, 50],
                home: Some("/var/www".into())
            }
        );
    }

    #[test]
    fn a_known_uid_is_looked_up_and_an_unknown_one_runs_with_gid_0() {
        let known = resolve(Some("65534"), PASSWD, GROUP).unwrap();
        assert_eq!(
            (known.uid, known.gid, known.home.as_deref()),
            (65534, 65534, Some("/nonexistent"))
        );
        let unknown = resolve(Some("1000"), PASSWD, GROUP).unwrap();
        assert_eq!(
            unknown,
            Credentials {
                uid: 1000,
                gid: 0,
                groups: vec![0],
                home: None
            }
        );
    }

    #[test]
    fn group_overrides_by_name_or_number() {
        let by_name = resolve(Some("daemon:staff"), PASSWD, GROUP).unwrap();
        assert_eq!((by_name.uid, by_name.gid), (1, 50));
        assert_eq!(by_name.groups, vec![4, 50]);
        let numeric = resolve(Some("1000:1000"), "", "").unwrap();
        assert_eq!(
            numeric,
            Credentials {
                uid: 1000,
                gid: 1000,
                groups: vec![1000],
                home: None
            }
        );
    }

    #[test]
    fn missing_names_and_malformed_specs_are_errors() {
        assert_eq!(
            resolve(Some("postgres"), PASSWD, GROUP),
            Err(UserError::UnknownUser("postgres".into()))
        );
        assert_eq!(
            resolve(Some("root:wheel"), PASSWD, GROUP),
            Err(UserError::UnknownGroup("wheel".into()))
        );
        assert_eq!(
            resolve(Some("nobody"), "", ""),
            Err(UserError::UnknownUser("nobody".into()))
        );
        assert!(matches!(
            resolve(Some("root:"), PASSWD, GROUP),
            Err(UserError::Malformed(_))
        ));
        assert!(resolve(Some("postgres"), PASSWD, GROUP)
            .unwrap_err()
            .to_string()
            .contains("/etc/passwd"));
    }

    #[test]
    fn no_user_is_root() {
        let creds = resolve(None, PASSWD, GROUP).unwrap();
        assert_eq!(
            creds,
            Credentials {
                uid: 0,
                gid: 0,
                groups: vec![0],
                home: Some("/root".into())
            }
        );
        assert_eq!(resolve(Some(""), PASSWD, GROUP).unwrap(), creds);
    }

    #[test]
    fn the_hosts_real_files_resolve_root_and_nobody() {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let group = std::fs::read_to_string("/etc/group").unwrap();
        let root = resolve(Some("root"), &passwd, &group).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(root.home.as_deref(), Some("/root"));
        let nobody = resolve(Some("nobody"), &passwd, &group).unwrap();
        assert_eq!(nobody.uid, 65534);
    }
}
