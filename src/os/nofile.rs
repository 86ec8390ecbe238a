//! The open-file limit. sidetop holds about five descriptors per sidecar (three pipes,
//! a pidfd, its `/proc/PID/stat`), so at 1,000 sidecars the usual soft limit of 1,024
//! fails every start past the two hundredth with EMFILE. The soft limit is raised to the
//! hard one at start; each child is given the limit sidetop was started with back right
//! after it is spawned (as Go does for the processes it starts): a program that uses
//! select(2) must not meet descriptors past 1,024 it never asked for.

use std::sync::OnceLock;

/// The limit sidetop was started with, once raised.
static GIVEN: OnceLock<libc::rlimit> = OnceLock::new();

/// Raises the soft limit to the hard one (once; later calls do nothing). The limits
/// before and after, for the log.
pub fn raise() -> Option<(u64, u64)> {
    if GIVEN.get().is_some() {
        return None;
    }
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls with valid pointers.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 || limit.rlim_cur >= limit.rlim_max {
        return None;
    }
    let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return None;
    }
    let _ = GIVEN.set(limit);
    Some((limit.rlim_cur, raised.rlim_cur))
}

/// Gives child `pid` the limit sidetop was started with (when it raised its own).
pub fn give_back(pid: u32) {
    if let Some(given) = GIVEN.get() {
        // SAFETY: plain syscall; a child that already exited makes it fail, harmlessly.
        unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_NOFILE, given, std::ptr::null_mut()) };
    }
}
