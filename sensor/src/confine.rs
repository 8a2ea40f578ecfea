//! Confines everything the sensor starts (the app, exec steps, the
//! healthcheck) to the privileges of a plain `docker run` of the image.
//!
//! The profiling container gets CAP_SYS_ADMIN for fanotify and CAP_SYS_PTRACE
//! for reading the path arguments of the app's `stat` calls (see
//! `lookups.rs`), for the sensor alone. Docker then also widens its seccomp
//! profile: with those capabilities it allows `mount`, `unshare`, `setns`,
//! `bpf`, namespace flags to `clone`, `kcmp`, `pidfd_getfd` and the rest of
//! the calls gated on them. So before exec, in the child, three things happen
//! while the capabilities are still held:
//!
//! 1. a seccomp filter that answers those calls as Docker's default profile
//!    does without the capabilities (EPERM, and ENOSYS for `clone3`). Holding
//!    CAP_SYS_ADMIN lets us install it without `no_new_privs`, so setuid
//!    programs in the image keep working as they do under `docker run`;
//! 2. both capabilities leave the bounding set, so no setuid-root program or
//!    file capability can bring them back;
//! 3. they leave the effective, permitted, inheritable and ambient sets.
//!
//! The user switch follows, which clears the rest for a non-root user exactly
//! as runc does. See docs/sensor.md, "Threat model".

use std::io;

use crate::bpf::*;

/// CAP_SYS_ADMIN's bit number (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_PTRACE: u32 = 19;
/// What the sensor holds beyond `docker run`'s default set, and the app must not.
const DROPPED: [u32; 2] = [CAP_SYS_ADMIN, CAP_SYS_PTRACE];
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// EPERM: what Docker's default profile answers for a call it does not allow.
const EPERM: u32 = 1;
/// ENOSYS: what it answers for `clone3` without CAP_SYS_ADMIN, so that libc
/// falls back to `clone`, whose flags a filter can inspect.
const ENOSYS: u32 = 38;
/// The namespace flags `clone` may not carry without CAP_SYS_ADMIN: NEWNS,
/// NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (Docker's mask 2114060288).
const CLONE_NAMESPACE_FLAGS: u32 = 0x7E02_0000;

/// What the filter answers for one system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Deny(u32),
    /// `clone` is allowed unless its flags ask for a new namespace.
    DenyNamespaceFlags,
}

/// The calls Docker's default profile allows only with CAP_SYS_ADMIN or
/// CAP_SYS_PTRACE, by name, as its `"includes": {"caps": [...]}` rules list
/// them (`ptrace` and `process_vm_*` are allowed to all on kernels ≥ 4.8).
const GATED_ON_DROPPED_CAPS: [(&str, Rule); 29] = [
    ("bpf", Rule::Deny(EPERM)),
    ("clone", Rule::DenyNamespaceFlags),
    ("clone3", Rule::Deny(ENOSYS)),
    ("fanotify_init", Rule::Deny(EPERM)),
    ("fsconfig", Rule::Deny(EPERM)),
    ("fsmount", Rule::Deny(EPERM)),
    ("fsopen", Rule::Deny(EPERM)),
    ("fspick", Rule::Deny(EPERM)),
    ("lookup_dcookie", Rule::Deny(EPERM)),
    ("lsm_get_self_attr", Rule::Deny(EPERM)),
    ("lsm_list_modules", Rule::Deny(EPERM)),
    ("lsm_set_self_attr", Rule::Deny(EPERM)),
    ("mount", Rule::Deny(EPERM)),
    ("mount_setattr", Rule::Deny(EPERM)),
    ("move_mount", Rule::Deny(EPERM)),
    ("open_tree", Rule::Deny(EPERM)),
    ("perf_event_open", Rule::Deny(EPERM)),
    ("quotactl", Rule::Deny(EPERM)),
    ("quotactl_fd", Rule::Deny(EPERM)),
    ("setdomainname", Rule::Deny(EPERM)),
    ("sethostname", Rule::Deny(EPERM)),
    ("setns", Rule::Deny(EPERM)),
    ("syslog", Rule::Deny(EPERM)),
    ("umount", Rule::Deny(EPERM)),
    ("umount2", Rule::Deny(EPERM)),
    ("unshare", Rule::Deny(EPERM)),
    // CAP_SYS_PTRACE
    ("kcmp", Rule::Deny(EPERM)),
    ("pidfd_getfd", Rule::Deny(EPERM)),
    ("process_madvise", Rule::Deny(EPERM)),
];

/// System call numbers of one ABI, for the names above (absent: the ABI has no such call).
struct Abi {
    arch: u32,
    /// Bits cleared from the number before matching (x32 on x86_64).
    strip: u32,
    numbers: fn(&str) -> Option<u32>,
}

/// Numbers from the kernel's tables (arch/x86/entry/syscalls/*.tbl and
/// include/uapi/asm-generic/unistd.h); the tests check them against libc's.
fn x86_64_number(name: &str) -> Option<u32> {
    Some(match name {
        "kcmp" => 312,
        "pidfd_getfd" => 438,
        "process_madvise" => 440,
        "bpf" => 321,
        "clone" => 56,
        "clone3" => 435,
        "fanotify_init" => 300,
        "fsconfig" => 431,
        "fsmount" => 432,
        "fsopen" => 430,
        "fspick" => 433,
        "lookup_dcookie" => 212,
        "lsm_get_self_attr" => 459,
        "lsm_list_modules" => 461,
        "lsm_set_self_attr" => 460,
        "mount" => 165,
        "mount_setattr" => 442,
        "move_mount" => 429,
        "open_tree" => 428,
        "perf_event_open" => 298,
        "quotactl" => 179,
        "quotactl_fd" => 443,
        "setdomainname" => 171,
        "sethostname" => 170,
        "setns" => 308,
        "syslog" => 103,
        "umount2" => 166,
        "unshare" => 272,
        _ => return None,
    })
}

fn i386_number(name: &str) -> Option<u32> {
    Some(match name {
        "kcmp" => 349,
        "pidfd_getfd" => 438,
        "process_madvise" => 440,
        "bpf" => 357,
        "clone" => 120,
        "clone3" => 435,
        "fanotify_init" => 338,
        "fsconfig" => 431,
        "fsmount" => 432,
        "fsopen" => 430,
        "fspick" => 433,
        "lookup_dcookie" => 253,
        "lsm_get_self_attr" => 459,
        "lsm_list_modules" => 461,
        "lsm_set_self_attr" => 460,
        "mount" => 21,
        "mount_setattr" => 442,
        "move_mount" => 429,
        "open_tree" => 428,
        "perf_event_open" => 336,
        "quotactl" => 131,
        "quotactl_fd" => 443,
        "setdomainname" => 121,
        "sethostname" => 74,
        "setns" => 346,
        "syslog" => 103,
        "umount" => 22,
        "umount2" => 52,
        "unshare" => 310,
        _ => return None,
    })
}

fn aarch64_number(name: &str) -> Option<u32> {
    Some(match name {
        "kcmp" => 272,
        "pidfd_getfd" => 438,
        "process_madvise" => 440,
        "bpf" => 280,
        "clone" => 220,
        "clone3" => 435,
        "fanotify_init" => 262,
        "fsconfig" => 431,
        "fsmount" => 432,
        "fsopen" => 430,
        "fspick" => 433,
        "lookup_dcookie" => 18,
        "lsm_get_self_attr" => 459,
        "lsm_list_modules" => 461,
        "lsm_set_self_attr" => 460,
        "mount" => 40,
        "mount_setattr" => 442,
        "move_mount" => 429,
        "open_tree" => 428,
        "perf_event_open" => 241,
        "quotactl" => 60,
        "quotactl_fd" => 443,
        "setdomainname" => 162,
        "sethostname" => 161,
        "setns" => 268,
        "syslog" => 116,
        "umount2" => 39,
        "unshare" => 97,
        _ => return None,
    })
}

/// The ABIs a process on this machine can call the kernel through: on x86_64
/// also i386 (`int 0x80`) and x32. On aarch64, 32-bit ARM (compat) calls are
/// not filtered; docs/sensor.md says so.
fn abis() -> Vec<Abi> {
    if cfg!(target_arch = "x86_64") {
        vec![
            Abi {
                arch: AUDIT_ARCH_X86_64,
                strip: X32_SYSCALL_BIT,
                numbers: x86_64_number,
            },
            Abi {
                arch: AUDIT_ARCH_I386,
                strip: 0,
                numbers: i386_number,
            },
        ]
    } else if cfg!(target_arch = "aarch64") {
        vec![Abi {
            arch: AUDIT_ARCH_AARCH64,
            strip: 0,
            numbers: aarch64_number,
        }]
    } else {
        Vec::new()
    }
}

/// The instructions run when the number matched, with their count known up front
/// so the preceding comparison can jump over them.
fn rule_body(rule: Rule) -> Vec<libc::sock_filter> {
    match rule {
        Rule::Deny(errno) => vec![statement(BPF_RET_K, SECCOMP_RET_ERRNO | errno)],
        Rule::DenyNamespaceFlags => vec![
            statement(BPF_LD_W_ABS, DATA_ARG0_LOW),
            jump(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
            statement(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM),
            statement(BPF_RET_K, SECCOMP_RET_ALLOW),
        ],
    }
}

/// One ABI's part: skipped entirely unless the call came through that ABI.
fn abi_section(abi: &Abi) -> Vec<libc::sock_filter> {
    let mut body = vec![statement(BPF_LD_W_ABS, DATA_NR)];
    if abi.strip != 0 {
        body.push(statement(BPF_ALU_AND_K, !abi.strip));
    }
    for (name, rule) in GATED_ON_DROPPED_CAPS {
        let Some(number) = (abi.numbers)(name) else {
            continue;
        };
        let then = rule_body(rule);
        body.push(jump(BPF_JEQ_K, number, 0, then.len() as u8));
        body.extend(then);
    }
    body.push(statement(BPF_RET_K, SECCOMP_RET_ALLOW));
    let skip = u8::try_from(body.len()).expect("an ABI section fits a BPF jump");
    let mut section = vec![
        statement(BPF_LD_W_ABS, DATA_ARCH),
        jump(BPF_JEQ_K, abi.arch, 0, skip),
    ];
    section.extend(body);
    section
}

/// The whole filter: one section per ABI, everything else allowed (the
/// container's own profile still applies underneath).
fn filter_program() -> Vec<libc::sock_filter> {
    let mut program: Vec<libc::sock_filter> = abis().iter().flat_map(abi_section).collect();
    program.push(statement(BPF_RET_K, SECCOMP_RET_ALLOW));
    program
}

/// Built before the fork, applied in the child: applying allocates nothing.
pub struct Confinement {
    program: Vec<libc::sock_filter>,
    /// Where to hand the `stat`-tracing listener to the sensor, if tracing.
    lookups: Option<crate::lookups::Handoff>,
}

impl Confinement {
    pub fn new() -> Result<Confinement, String> {
        if abis().is_empty() {
            return Err(
                "the sensor cannot confine the app on this CPU architecture (x86_64 and aarch64 only)"
                    .into(),
            );
        }
        Ok(Confinement {
            program: filter_program(),
            lookups: None,
        })
    }

    /// Also traces the app's lookups: its `stat`-family calls notify the
    /// sensor, which gets the listener through `handoff`.
    pub fn tracing_lookups(mut self, handoff: crate::lookups::Handoff) -> Confinement {
        self.lookups = Some(handoff);
        self
    }

    /// Installs the filters, then drops the sensor's extra capabilities from
    /// every set. Only raw system calls on data built before, so it is safe
    /// between fork and exec. Fails closed: any error stops the launch.
    pub fn apply(&self) -> io::Result<()> {
        // The listener first: like the deny filter it needs CAP_SYS_ADMIN to
        // go in without no_new_privs.
        if let Some(handoff) = &self.lookups {
            handoff.install_and_send()?;
        }
        self.install_filter()?;
        drop_capabilities()
    }

    fn install_filter(&self) -> io::Result<()> {
        install(&self.program, false).map(|_| ())
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// CAP_DAC_OVERRIDE's bit number (linux/capability.h).
pub(crate) const CAP_DAC_OVERRIDE: u32 = 1;

/// Leaves the process with the capability `keep` alone, in every set and
/// in the bounding set (the bounding set first: lowering it takes
/// CAP_SETPCAP, which goes last), and sets no_new_privs.
pub(crate) fn keep_only_capability(keep: u32) -> io::Result<()> {
    lower_capabilities(|cap| cap == keep)?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes [`DROPPED`] from the bounding set (needs CAP_SETPCAP, which
/// Docker and Podman grant by default) and from the thread's own sets.
fn drop_capabilities() -> io::Result<()> {
    lower_capabilities(|cap| !DROPPED.contains(&cap))?;
    // Leaving the permitted set already clears them from the ambient set;
    // lowering is for kernels that keep them (EINVAL before 4.3).
    for cap in DROPPED {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_LOWER,
                cap as libc::c_ulong,
                0,
                0,
            );
        }
    }
    Ok(())
}

/// Removes every capability `kept` says no to from the bounding set, then
/// from the thread's effective, permitted and inheritable sets. Only raw
/// system calls, so it is safe between fork and exec.
fn lower_capabilities(kept: impl Fn(u32) -> bool) -> io::Result<()> {
    // SAFETY: prctl and capget/capset with properly sized, live arguments.
    unsafe {
        // PR_CAPBSET_READ fails past the kernel's last capability.
        let mut cap = 0u32;
        while libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) >= 0 {
            if !kept(cap)
                && libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) == 1
                && libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) != 0
            {
                return Err(io::Error::last_os_error());
            }
            cap += 1;
        }
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Capability `n` is bit `n % 32` of word `n / 32`.
        for (word, sets) in data.iter_mut().enumerate() {
            let mask = (0..32)
                .filter(|bit| kept(word as u32 * 32 + bit))
                .fold(0u32, |mask, bit| mask | 1 << bit);
            sets.effective &= mask;
            sets.permitted &= mask;
            sets.inheritable &= mask;
        }
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    /// Runs `check` in a forked child under the filter (with no_new_privs, so
    /// the test needs no privilege) and returns the child's exit code: the
    /// number of the first failed check, 0 when all passed.
    fn in_filtered_child(check: fn() -> i32) -> i32 {
        let confinement = Confinement::new().unwrap();
        // SAFETY: the child only makes raw system calls and exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = unsafe {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                        100
                    } else if confinement.install_filter().is_err() {
                        101
                    } else {
                        check()
                    }
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).unwrap() {
                WaitStatus::Exited(_, code) => code,
                other => panic!("filtered child ended with {other:?}"),
            },
        }
    }

    fn errno_of(result: libc::c_long) -> i32 {
        if result == -1 {
            io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        }
    }

    #[test]
    fn numbers_agree_with_libc_for_this_architecture() {
        let native = abis().into_iter().next().expect("a supported architecture");
        let checked = [
            ("bpf", libc::SYS_bpf),
            ("clone", libc::SYS_clone),
            ("clone3", libc::SYS_clone3),
            ("fanotify_init", libc::SYS_fanotify_init),
            ("fsconfig", libc::SYS_fsconfig),
            ("fsmount", libc::SYS_fsmount),
            ("fsopen", libc::SYS_fsopen),
            ("fspick", libc::SYS_fspick),
            ("mount", libc::SYS_mount),
            ("mount_setattr", libc::SYS_mount_setattr),
            ("move_mount", libc::SYS_move_mount),
            ("open_tree", libc::SYS_open_tree),
            ("perf_event_open", libc::SYS_perf_event_open),
            ("quotactl", libc::SYS_quotactl),
            ("quotactl_fd", libc::SYS_quotactl_fd),
            ("setdomainname", libc::SYS_setdomainname),
            ("sethostname", libc::SYS_sethostname),
            ("setns", libc::SYS_setns),
            ("syslog", libc::SYS_syslog),
            ("umount2", libc::SYS_umount2),
            ("unshare", libc::SYS_unshare),
            ("kcmp", libc::SYS_kcmp),
            ("pidfd_getfd", libc::SYS_pidfd_getfd),
            ("process_madvise", libc::SYS_process_madvise),
        ];
        for (name, number) in checked {
            assert_eq!((native.numbers)(name), Some(number as u32), "{name}");
        }
        // Every gated name is known to the native table but umount (not on 64-bit ABIs).
        for (name, _) in GATED_ON_DROPPED_CAPS {
            assert!(
                (native.numbers)(name).is_some() || name == "umount",
                "{name} has no number"
            );
        }
    }

    #[test]
    fn the_program_jumps_stay_inside_it_and_end_in_returns() {
        let program = filter_program();
        assert!(program.len() < 4096, "BPF_MAXINSNS");
        for (at, insn) in program.iter().enumerate() {
            if insn.code & 0x07 == 0x05 {
                let furthest = at + 1 + insn.jt.max(insn.jf) as usize;
                assert!(furthest < program.len(), "jump at {at} leaves the program");
            }
        }
        assert_eq!(program.last().unwrap().code, BPF_RET_K);
    }

    #[test]
    fn gated_calls_fail_as_under_docker_run_and_others_still_work() {
        let code = in_filtered_child(|| unsafe {
            if errno_of(libc::syscall(libc::SYS_unshare, 0)) != libc::EPERM {
                return 1;
            }
            if errno_of(libc::syscall(
                libc::SYS_unshare,
                libc::CLONE_NEWUSER as libc::c_long,
            )) != libc::EPERM
            {
                return 2;
            }
            let null = std::ptr::null::<u8>();
            if errno_of(libc::syscall(libc::SYS_mount, null, null, null, 0, null)) != libc::EPERM {
                return 3;
            }
            if errno_of(libc::syscall(libc::SYS_setns, -1, 0)) != libc::EPERM {
                return 4;
            }
            if errno_of(libc::syscall(libc::SYS_clone3, null, 0)) != libc::ENOSYS {
                return 5;
            }
            if errno_of(libc::syscall(libc::SYS_kcmp, 1, 1, 0, 0, 0)) != libc::EPERM {
                return 9;
            }
            // clone asking for a user namespace is refused ...
            let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_long;
            if errno_of(libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0)) != libc::EPERM {
                return 6;
            }
            // ... a plain fork is not.
            let pid = libc::fork();
            if pid == 0 {
                libc::_exit(0);
            }
            if pid < 0 || libc::waitpid(pid, std::ptr::null_mut(), 0) != pid {
                return 7;
            }
            if libc::getpid() <= 0 {
                return 8;
            }
            0
        });
        assert_eq!(code, 0, "check {code} failed");
    }

    /// A system call through the i386 entry point (`int 0x80`).
    #[cfg(target_arch = "x86_64")]
    fn int80(number: u32, arg: u32) -> i32 {
        let result: i32;
        // SAFETY: rbx is swapped in and out whole by hand because LLVM
        // reserves it (swapping only ebx zeroed its upper half: a crash in
        // release builds); the 32-bit entry point clears r8-r11.
        unsafe {
            std::arch::asm!(
                "xchg {arg}, rbx",
                "int 0x80",
                "xchg {arg}, rbx",
                arg = inout(reg) u64::from(arg) => _,
                inout("eax") number as i32 => result,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
            );
        }
        result
    }

    #[cfg(target_arch = "x86_64")]
    fn x32_unshare_is_refused() -> i32 {
        let number = (libc::SYS_unshare as u32 | X32_SYSCALL_BIT) as libc::c_long;
        if errno_of(unsafe { libc::syscall(number, 0) }) != libc::EPERM {
            return 10;
        }
        0
    }

    #[cfg(target_arch = "x86_64")]
    fn i386_and_x32_calls_are_refused() -> i32 {
        // unshare(0) is a no-op that succeeds unless filtered.
        if int80(310, 0) != -libc::EPERM {
            return 1;
        }
        if int80(120, libc::CLONE_NEWUSER as u32) != -libc::EPERM {
            return 2;
        }
        if int80(20, 0) <= 0 {
            return 3;
        }
        x32_unshare_is_refused()
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_x32_and_i386_entry_points_are_filtered_too() {
        // Numbers written for x86_64 must not let the same calls through the
        // i386 (when the kernel has IA32 emulation) or x32 entry points.
        let emulated = int80(20, 0) > 0; // getpid
        let check: fn() -> i32 = if emulated {
            i386_and_x32_calls_are_refused
        } else {
            x32_unshare_is_refused
        };
        let code = in_filtered_child(check);
        assert_eq!(code, 0, "check {code} failed (IA32 emulation: {emulated})");
    }

    /// Runs `check` in a forked child (root: lowering the bounding set
    /// needs it) and asserts it exited 0; skipped when not root.
    fn in_child_as_root(check: fn() -> i32) {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: lowering the bounding set needs root");
            return;
        }
        // SAFETY: the child reads its own status and exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => unsafe { libc::_exit(check()) },
            ForkResult::Parent { child } => {
                assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            }
        }
    }

    /// The `CapXxx:` sets of this process, as numbers.
    fn capability_sets() -> Vec<(String, u64)> {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("Cap"))
            .filter_map(|l| {
                let (name, hex) = l.split_once(':')?;
                Some((name.to_string(), u64::from_str_radix(hex.trim(), 16).ok()?))
            })
            .collect()
    }

    #[test]
    fn the_sensors_capabilities_leave_every_set() {
        in_child_as_root(|| match drop_capabilities() {
            Err(_) => 1,
            Ok(()) => {
                let still_held = capability_sets()
                    .iter()
                    .any(|(_, set)| DROPPED.iter().any(|cap| set & (1 << cap) != 0));
                i32::from(still_held) * 2
            }
        });
    }

    /// The view walker's drop: what is left is CAP_DAC_OVERRIDE alone, in
    /// every set and in the bounding set, with no_new_privs.
    #[test]
    fn the_view_walker_keeps_only_dac_override() {
        in_child_as_root(|| match keep_only_capability(CAP_DAC_OVERRIDE) {
            Err(_) => 1,
            Ok(()) => {
                let sets = capability_sets();
                let set = |name: &str| sets.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
                let only_dac = Some(1u64 << CAP_DAC_OVERRIDE);
                let status = std::fs::read_to_string("/proc/self/status").unwrap();
                let no_new_privs = status
                    .lines()
                    .any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"]));
                let kept = ["CapEff", "CapPrm", "CapBnd"]
                    .iter()
                    .all(|n| set(n) == only_dac);
                match (kept, set("CapInh") == Some(0), no_new_privs) {
                    (true, true, true) => 0,
                    _ => 2,
                }
            }
        });
    }
}
