//! Classic BPF for seccomp filters: the few opcodes and `seccomp_data`
//! offsets the sensor's two filters use, and installing one.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

// seccomp's return values and the audit architectures (linux/seccomp.h, linux/audit.h).
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// x32 calls arrive under AUDIT_ARCH_X86_64 with this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets in struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }.
pub const DATA_NR: u32 = 0;
pub const DATA_ARCH: u32 = 4;
/// The low 32 bits of args[0] (little-endian); clone's flags live there.
pub const DATA_ARG0_LOW: u32 = 16;

// Classic BPF opcodes (linux/filter.h).
pub const BPF_LD_W_ABS: u16 = 0x20;
pub const BPF_ALU_AND_K: u16 = 0x54;
pub const BPF_JEQ_K: u16 = 0x15;
pub const BPF_JSET_K: u16 = 0x45;
pub const BPF_RET_K: u16 = 0x06;

pub fn statement(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

pub fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Installs `program` as a seccomp filter on the calling thread; with
/// `listener`, asks for a user-notification fd and returns it. Raw system
/// calls only, safe between fork and exec.
pub fn install(program: &[libc::sock_filter], listener: bool) -> io::Result<Option<OwnedFd>> {
    let program = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    let flags = if listener {
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    // SAFETY: `program` points at instructions that outlive the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &program as *const libc::sock_fprog,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
    Ok(listener.then(|| unsafe { OwnedFd::from_raw_fd(result as i32) }))
}
