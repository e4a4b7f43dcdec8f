//! What the processes Pleat starts cannot learn about Pleat: its environment (`/proc/<pid>/environ`, where the user's tokens are) and memory are closed to other processes (not dumpable), and a plain-sandbox process running as root gives up the capabilities that would open them again.
//!
//! Measured as root on Linux 6.18: a non-dumpable process's `environ`, `maps` and `mem`
//! stay readable to another root process while it holds any of `CAP_SYS_PTRACE`,
//! `CAP_SYS_ADMIN` or `CAP_PERFMON` (the last two also pass the kernel's ptrace read
//! check), and are refused once all three are gone. For another user, not dumpable is
//! enough. Under bwrap the process sees no other process at all (its own PID namespace)
//! and holds no capability.

/// The capabilities that let a process read another one's environment or memory.
const INSPECTION: [libc::c_ulong; 3] = [
    19, // CAP_SYS_PTRACE
    21, // CAP_SYS_ADMIN
    38, // CAP_PERFMON
];

/// Closes Pleat's own `/proc/<pid>/environ`, `mem` and `maps` to other processes of its
/// user (and takes away core dumps, which would hold the same). Call first in `main`:
/// processes forked later (the watchdog) inherit it; programs Pleat executes do not.
pub fn close_self() {
    #[allow(unsafe_code)]
    // SAFETY: prctl with integer arguments only changes a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// In a child between fork and exec: when it runs as root, drops the inspection
/// capabilities from its bounding set, so the program it executes never holds them.
/// Async-signal-safe (two system calls, no allocation). Other users hold none to drop.
pub fn drop_inspection_capabilities() -> std::io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid and prctl take and return integers; nothing is allocated or locked.
    unsafe {
        if libc::geteuid() != 0 {
            return Ok(());
        }
        for capability in INSPECTION {
            // EINVAL: a kernel that does not know the capability (CAP_PERFMON before 5.8).
            if libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0
                && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
            {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
