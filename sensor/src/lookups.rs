//! Existence checks: what the app looks up without opening. fanotify reports
//! opens, never `stat`, `access` or `readlink`, yet programs decide on them:
//! an install script's `test -f schema.sql`, Python's `stat` of a module's
//! `.py` beside its `.pyc`, a server's `stat` of each entry of a directory it
//! lists. So the app runs under a second seccomp filter whose stat-family
//! calls notify the sensor (`SECCOMP_RET_USER_NOTIF`). The sensor reads the
//! path argument from the caller's memory, records it, and lets the call go
//! on unchanged (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): we only observe, so the
//! race the kernel documents for CONTINUE (the caller may change the path
//! after we read it) decides nothing about security.
//!
//! Reading another process's memory needs the ptrace access check, so the
//! container also holds CAP_SYS_PTRACE, which the app loses with
//! CAP_SYS_ADMIN (see `confine.rs`). Calls on an fd alone (`fstat` is
//! `newfstatat(fd, "", AT_EMPTY_PATH)` in glibc ≥ 2.33) are filtered out in
//! the kernel, so they cost nothing.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::bpf::*;

/// Where the app looks; past this many distinct paths, lookups are counted, not kept.
const MAX_LOOKUPS: usize = 200_000;
/// Longest path read from the caller (PATH_MAX).
const PATH_MAX: usize = 4096;
const AT_EMPTY_PATH: u32 = 0x1000;

/// The argument positions of a traced call: the directory fd (`None`: the
/// working directory) and the path.
fn argument_layout(nr: i64) -> Option<(Option<usize>, usize)> {
    #[cfg(target_arch = "x86_64")]
    if [
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_access,
        libc::SYS_readlink,
    ]
    .contains(&nr)
    {
        return Some((None, 0));
    }
    [
        libc::SYS_newfstatat,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_readlinkat,
        libc::SYS_statx,
    ]
    .contains(&nr)
    .then_some((Some(0), 1))
}

fn native_arch() -> Option<u32> {
    if cfg!(target_arch = "x86_64") {
        Some(AUDIT_ARCH_X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(AUDIT_ARCH_AARCH64)
    } else {
        None
    }
}

/// The notifying filter: the stat family on the native ABI, except calls on
/// an fd alone (`AT_EMPTY_PATH` in newfstatat's 4th or statx's 3rd argument).
fn filter_program() -> Option<Vec<libc::sock_filter>> {
    let arch = native_arch()?;
    let notify = statement(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF);
    let allow = statement(BPF_RET_K, SECCOMP_RET_ALLOW);
    let arg_low = |index: u32| DATA_ARG0_LOW + 8 * index;
    let mut body = vec![statement(BPF_LD_W_ABS, DATA_NR)];
    let mut plain: Vec<i64> = vec![
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_readlinkat,
    ];
    #[cfg(target_arch = "x86_64")]
    plain.extend([
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_access,
        libc::SYS_readlink,
    ]);
    plain.sort_unstable();
    for nr in plain {
        body.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
        body.push(notify);
    }
    for (nr, flags_arg) in [(libc::SYS_newfstatat, 3), (libc::SYS_statx, 2)] {
        // Reloading the number afterwards keeps each test self-contained.
        body.push(jump(BPF_JEQ_K, nr as u32, 0, 4));
        body.push(statement(BPF_LD_W_ABS, arg_low(flags_arg)));
        body.push(jump(BPF_JSET_K, AT_EMPTY_PATH, 0, 1));
        body.push(allow);
        body.push(notify);
    }
    body.push(allow);
    let mut program = vec![
        statement(BPF_LD_W_ABS, DATA_ARCH),
        jump(BPF_JEQ_K, arch, 1, 0),
        allow,
    ];
    program.extend(body);
    Some(program)
}

/// The app's end of the hand-over: built before the fork, used in the child.
pub struct Handoff {
    program: Vec<libc::sock_filter>,
    socket: OwnedFd,
}

/// A socket pair for the hand-over: the sensor keeps the first end.
pub fn channel() -> io::Result<(OwnedFd, Handoff)> {
    let program = filter_program().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "lookup tracing supports x86_64 and aarch64 only",
        )
    })?;
    let (sensor, app) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((
        sensor,
        Handoff {
            program,
            socket: app,
        },
    ))
}

impl Handoff {
    /// In the child, between fork and exec: installs the notifying filter
    /// and sends its listener to the sensor. Raw system calls on a stack
    /// buffer only.
    pub fn install_and_send(&self) -> io::Result<()> {
        let listener = install(&self.program, true)?.expect("a listener was asked for");
        send_fd(self.socket.as_raw_fd(), listener.as_raw_fd())
        // `listener` closes here; the sensor holds its own copy.
    }
}

const FD_SPACE: usize = 64;

fn send_fd(socket: RawFd, fd: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u8; FD_SPACE];
    // SAFETY: the header and control buffer live on this stack frame; the
    // CMSG macros stay within `control` (one int needs far less than 64 bytes).
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
        if libc::sendmsg(socket, &message, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The listener the child sent, or `None` when it exited without sending
/// (its launch failed). Returns at once: the child has sent or is gone by
/// the time its spawn returns, and the parent's copy of the child end is closed.
pub fn receive_listener(socket: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u8; FD_SPACE];
    // SAFETY: as in send_fd; the received fd is checked before it is owned.
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = control.len();
        let received = libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC);
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        let header = libc::CMSG_FIRSTHDR(&message);
        if received == 0 || header.is_null() || (*header).cmsg_type != libc::SCM_RIGHTS {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
        Ok(Some(OwnedFd::from_raw_fd(fd)))
    }
}

/// What the tracer saw.
#[derive(Debug, Default)]
pub struct Traced {
    /// Absolute paths looked up (not necessarily existing), lexically as given.
    pub paths: BTreeSet<Vec<u8>>,
    pub notifications: u64,
    /// Lookups not kept because [`MAX_LOOKUPS`] was reached.
    pub dropped: u64,
    pub errors: Vec<String>,
}

/// The thread answering the app's notifications until it is told to stop.
pub struct Tracer {
    stop: File,
    thread: JoinHandle<Traced>,
}

impl Tracer {
    pub fn start(listener: OwnedFd) -> io::Result<Tracer> {
        let (stop_rx, stop_tx) = nix::unistd::pipe()?;
        let thread = std::thread::Builder::new()
            .name("lookups".into())
            .spawn(move || serve(listener, stop_rx))?;
        Ok(Tracer {
            stop: File::from(stop_tx),
            thread,
        })
    }

    /// Stops answering: only once every traced process is gone, since a
    /// closed listener makes their stat calls fail with ENOSYS.
    pub fn finish(mut self) -> Traced {
        let _ = self.stop.write_all(b"x");
        self.thread.join().unwrap_or_else(|_| Traced {
            errors: vec!["the lookup tracer thread panicked".into()],
            ..Traced::default()
        })
    }
}

fn serve(listener: OwnedFd, stop: OwnedFd) -> Traced {
    let mut traced = Traced::default();
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => {
                traced
                    .errors
                    .push(format!("waiting for lookups failed: {e}"));
                return traced;
            }
            Ok(_) => {}
        }
        let ready = |fd: &PollFd| fd.revents().unwrap_or(PollFlags::empty());
        if ready(&fds[1]).contains(PollFlags::POLLIN) {
            return traced;
        }
        let listener_ready = ready(&fds[0]);
        if listener_ready.contains(PollFlags::POLLIN) {
            answer_one(listener.as_raw_fd(), &mut traced);
        } else if listener_ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // Every traced process is gone; wait for the stop signal.
            let mut stop_only = [PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut stop_only, PollTimeout::NONE);
            return traced;
        }
    }
}

/// Receives one notification, reads its path, and lets the call continue.
fn answer_one(listener: RawFd, traced: &mut Traced) {
    // SAFETY: the kernel requires a zeroed buffer and fills it.
    let mut notification: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notification) } < 0 {
        // ENOENT: the caller died (or was interrupted) before we received it.
        return;
    }
    traced.notifications += 1;
    let path = looked_up_path(&notification);
    // The pid is only trustworthy if the call is still waiting for us.
    let still_valid = unsafe {
        libc::ioctl(
            listener,
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &notification.id,
        )
    } == 0;
    let response = libc::seccomp_notif_resp {
        id: notification.id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    };
    // Failure means the caller is gone: nothing to answer.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &response) };
    let Some(path) = path.filter(|_| still_valid).map(|p| normalize(&p)) else {
        return;
    };
    if is_worth_keeping(&path) {
        if traced.paths.len() >= MAX_LOOKUPS && !traced.paths.contains(&path) {
            traced.dropped += 1;
        } else {
            traced.paths.insert(path);
        }
    }
}

/// `path` with `.`, `..` and repeated slashes removed lexically, as the
/// controller would read it anyway (it resolves symlinks in the image).
/// Findings carry no `..`: the controller refuses any as tampering.
pub fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    let mut normal = Vec::with_capacity(path.len());
    for part in parts {
        normal.push(b'/');
        normal.extend_from_slice(part);
    }
    if normal.is_empty() {
        normal.push(b'/');
    }
    normal
}

/// Pseudo filesystems and rslim's own directory are not the image's.
pub fn is_worth_keeping(path: &[u8]) -> bool {
    let under = |dir: &[u8]| {
        path.strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
    };
    path.first() == Some(&b'/')
        && !under(b"/proc")
        && !under(b"/sys")
        && !under(b"/dev")
        && !under(rslim_sensor::SENSOR_DIR.as_bytes())
}

fn looked_up_path(notification: &libc::seccomp_notif) -> Option<Vec<u8>> {
    let (dirfd_arg, path_arg) = argument_layout(notification.data.nr as i64)?;
    let pid = notification.pid as i32;
    let name = read_c_string(pid, notification.data.args[path_arg])?;
    if name.is_empty() {
        return None;
    }
    if name[0] == b'/' {
        return Some(name);
    }
    let base = match dirfd_arg.map(|i| notification.data.args[i] as i32) {
        None | Some(libc::AT_FDCWD) => format!("/proc/{pid}/cwd"),
        Some(fd) => format!("/proc/{pid}/fd/{fd}"),
    };
    let mut path = std::fs::read_link(base)
        .ok()?
        .as_os_str()
        .as_bytes()
        .to_vec();
    if path.last() != Some(&b'/') {
        path.push(b'/');
    }
    path.extend_from_slice(&name);
    Some(path)
}

/// A NUL-terminated string from another process, read page by page so an
/// unmapped page after it does not fail the read.
fn read_c_string(pid: i32, address: u64) -> Option<Vec<u8>> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = address;
    while out.len() < PATH_MAX {
        let chunk = (PAGE - at % PAGE) as usize;
        let mut buffer = vec![0u8; chunk];
        let local = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: chunk,
        };
        let remote = libc::iovec {
            iov_base: at as *mut libc::c_void,
            iov_len: chunk,
        };
        // SAFETY: `local` is our own buffer of `chunk` bytes.
        let read = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if read <= 0 {
            return None;
        }
        let read = read as usize;
        if let Some(end) = buffer[..read].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buffer[..end]);
            return Some(out);
        }
        out.extend_from_slice(&buffer[..read]);
        at += read as u64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use std::ffi::CString;

    #[test]
    fn recorded_paths_carry_no_dots() {
        assert_eq!(normalize(b"/usr/bin/../lib//x/./y"), b"/usr/lib/x/y");
        assert_eq!(normalize(b"/../.."), b"/");
        assert_eq!(normalize(b"/srv/app/"), b"/srv/app");
    }

    #[test]
    fn the_paths_of_pseudo_filesystems_are_not_kept() {
        assert!(is_worth_keeping(b"/etc/app.conf"));
        assert!(is_worth_keeping(b"/procfile"));
        assert!(!is_worth_keeping(b"/proc/self/status"));
        assert!(!is_worth_keeping(b"/dev"));
        assert!(!is_worth_keeping(b"/.rslim/config.json"));
        assert!(!is_worth_keeping(b"relative"));
    }

    /// A forked child under the filter (with no_new_privs, so no privilege
    /// is needed) looks things up; the tracer in this process records them,
    /// and every call still returns what it would have returned.
    #[test]
    fn stat_access_and_readlink_are_recorded_and_answered_unchanged() {
        let (sensor_end, handoff) = channel().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("present"), "x").unwrap();
        std::os::unix::fs::symlink("present", dir.path().join("link")).unwrap();
        let dir_c = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
        // SAFETY: the child only makes raw system calls and exits.
        let child = match unsafe { fork() }.unwrap() {
            ForkResult::Child => unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || handoff.install_and_send().is_err()
                {
                    libc::_exit(100);
                }
                let mut st: libc::stat = std::mem::zeroed();
                let code = if libc::chdir(dir_c.as_ptr()) != 0 {
                    101
                } else if libc::stat(c"present".as_ptr(), &mut st) != 0 {
                    1
                } else if libc::access(c"/no/such/file".as_ptr(), libc::F_OK) == 0 {
                    2
                } else if libc::readlink(c"link".as_ptr(), [0i8; 16].as_mut_ptr(), 16) != 7 {
                    3
                } else if libc::fstat(0, &mut st) != 0 && *libc::__errno_location() == libc::ENOSYS
                {
                    4
                } else {
                    0
                };
                libc::_exit(code)
            },
            ForkResult::Parent { child } => child,
        };
        drop(handoff);
        let listener = receive_listener(&sensor_end)
            .unwrap()
            .expect("no listener sent");
        let tracer = Tracer::start(listener).unwrap();
        let status = waitpid(child, None).unwrap();
        let traced = tracer.finish();
        assert_eq!(status, WaitStatus::Exited(child, 0), "{traced:?}");
        let recorded: Vec<String> = traced
            .paths
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        for expected in [
            format!("{}/present", real.display()),
            format!("{}/link", real.display()),
            "/no/such/file".to_string(),
        ] {
            assert!(
                recorded.contains(&expected),
                "{expected} not in {recorded:?}"
            );
        }
        // fstat goes by fd and never reaches the tracer.
        assert!(
            traced.notifications >= 3 && traced.notifications < 10,
            "{traced:?}"
        );
    }

    #[test]
    fn a_child_that_sends_nothing_leaves_no_listener() {
        let (sensor_end, handoff) = channel().unwrap();
        drop(handoff);
        assert!(receive_listener(&sensor_end).unwrap().is_none());
    }
}
