//! Starts the application (or, for `rslim-sensor exec`, an exec step):
//! argv[0] looked up in PATH like execvp, then in the child, after the fork,
//! the confinement to `docker run`'s privileges, the image's USER and WORKDIR.

use crate::confine::Confinement;
use crate::user::Credentials;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::{Gid, Uid};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// PATH used when the image sets none, as Docker does.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the application could not be started, with the exit code a shell would use.
#[derive(Debug)]
pub struct LaunchError {
    pub message: String,
    pub exit_code: i32,
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `program` the way execvp does: a name with a slash is used as is,
/// otherwise the first executable regular file in the PATH entries wins.
pub fn lookup(program: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    std::env::split_paths(path_var)
        .map(|dir| {
            // An empty PATH entry means the current directory.
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(program)
            } else {
                dir.join(program)
            }
        })
        .find(|candidate| is_executable_file(candidate))
}

fn not_started(message: String, err: &io::Error) -> LaunchError {
    let exit_code = if err.kind() == io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    LaunchError { message, exit_code }
}

/// What to run and as whom.
pub struct Launch<'a> {
    pub argv: &'a [String],
    /// Changed into after the user switch; `None` keeps the current directory.
    pub workdir: Option<&'a str>,
    pub credentials: &'a Credentials,
    /// Keep HOME as it is (the image sets it); otherwise HOME is the user's
    /// from /etc/passwd (`/` without an entry), as Docker sets it.
    pub keep_home: bool,
}

/// A command that, between fork and exec, confines itself, then takes the
/// user's groups and ids and enters the workdir.
fn prepare(launch: &Launch, confinement: Confinement) -> Result<Command, LaunchError> {
    let Some(program) = launch.argv.first() else {
        return Err(LaunchError {
            message: "the image has no entrypoint or cmd to run".into(),
            exit_code: 127,
        });
    };
    let path_var = std::env::var_os("PATH");
    let Some(resolved) = lookup(program, path_var.as_deref()) else {
        return Err(LaunchError {
            message: format!("{program:?}: executable file not found in $PATH"),
            exit_code: 127,
        });
    };
    let workdir = launch
        .workdir
        .filter(|dir| !dir.is_empty())
        .map(|dir| {
            CString::new(dir).map_err(|_| LaunchError {
                message: format!("workdir {dir:?} contains a NUL byte"),
                exit_code: 126,
            })
        })
        .transpose()?;

    let creds = launch.credentials;
    let mut command = Command::new(&resolved);
    command.arg0(program).args(&launch.argv[1..]);
    if !launch.keep_home {
        command.env("HOME", creds.home.as_deref().unwrap_or("/"));
    }
    let groups: Vec<Gid> = creds.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    let (uid, gid) = (Uid::from_raw(creds.uid), Gid::from_raw(creds.gid));
    // SAFETY: the closure runs between fork and exec and only makes syscalls
    // on data prepared before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            // While root still holds CAP_SYS_ADMIN: the filter needs it to go
            // in without no_new_privs, and dropping it needs CAP_SETPCAP.
            confinement.apply()?;
            // Groups first, then gid, then uid: once the uid drops, root is gone.
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            // After setuid, like runc, so a directory the user cannot enter fails here too.
            if let Some(dir) = &workdir {
                nix::unistd::chdir(dir.as_c_str())?;
            }
            Ok(())
        });
    }
    Ok(command)
}

/// Starts the application as a child of the sensor.
pub fn spawn(launch: &Launch, confinement: Confinement) -> Result<Child, LaunchError> {
    let mut command = prepare(launch, confinement)?;
    command.spawn().map_err(|err| {
        let program = Path::new(command.get_program()).display();
        not_started(format!("cannot start {program}: {err}"), &err)
    })
}

/// Replaces this process with the command (`rslim-sensor exec`); returns only on failure.
pub fn exec(launch: &Launch, confinement: Confinement) -> LaunchError {
    match prepare(launch, confinement) {
        Ok(mut command) => {
            let err = command.exec();
            let program = Path::new(command.get_program()).display();
            not_started(format!("cannot run {program}: {err}"), &err)
        }
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_in_the_first_path_entry_that_has_it() {
        let found = lookup("sh", Some(OsStr::new("/nonexistent:/usr/bin:/bin"))).unwrap();
        assert_eq!(found, PathBuf::from("/usr/bin/sh"));
        assert_eq!(
            lookup("sh", Some(OsStr::new("/bin:/usr/bin"))).unwrap(),
            PathBuf::from("/bin/sh")
        );
    }

    #[test]
    fn non_executable_files_and_directories_are_skipped() {
        // /etc/passwd exists but is not executable; /usr/bin/X11 style dirs are not files.
        assert_eq!(lookup("passwd", Some(OsStr::new("/etc"))), None);
        assert_eq!(lookup("bin", Some(OsStr::new("/usr"))), None);
        assert_eq!(lookup("no-such-program-rslim", None), None);
    }

    #[test]
    fn a_name_with_a_slash_is_used_as_is_and_unset_path_uses_the_default() {
        assert_eq!(lookup("./run.sh", None), Some(PathBuf::from("./run.sh")));
        assert_eq!(
            lookup("/does/not/exist", None),
            Some(PathBuf::from("/does/not/exist"))
        );
        let default = lookup("sh", None).unwrap();
        assert!(
            default.ends_with("sh") && default.is_absolute(),
            "{default:?}"
        );
    }

    #[test]
    fn spawning_runs_the_program_and_reports_missing_ones() {
        let creds = Credentials {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            groups: nix::unistd::getgroups()
                .unwrap()
                .iter()
                .map(|g| g.as_raw())
                .collect(),
            home: None,
        };
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            "[ \"$PWD$HOME\" = // ] && exit 7".to_string(),
        ];
        let run = |argv: &[String], workdir: Option<&str>, keep_home: bool| {
            let launch = Launch {
                argv,
                workdir,
                credentials: &creds,
                keep_home,
            };
            spawn(&launch, Confinement::new().unwrap())
        };
        let status = run(&argv, Some("/"), false).unwrap().wait().unwrap();
        assert_eq!(status.code(), Some(7));
        let missing = run(&["rslim-no-such-program".to_string()], None, true).unwrap_err();
        assert_eq!(missing.exit_code, 127);
        assert!(
            missing.message.contains("not found in $PATH"),
            "{}",
            missing.message
        );
        let bad_dir = run(&["true".to_string()], Some("/no/such/dir"), true).unwrap_err();
        assert_eq!(bad_dir.exit_code, 127, "{}", bad_dir.message);
        assert!(run(&[], None, true).is_err());
    }
}
