//! Ending the wrapper as its child ended, so the application that spawned it cannot tell
//! the difference: the same exit code, or death by the same signal.

use crate::supervisor::ExitInfo;

/// What the wrapper ends with.
pub enum Ending {
    /// The child's own end.
    Child(ExitInfo),
    /// The child could not be started: a shell's codes, 127 not found, 126 otherwise.
    NotStarted { not_found: bool },
    /// sidetop itself could not run (bad arguments, no runtime).
    Error,
}

/// Exits the process. A death by signal is mirrored by raising the same signal with its
/// default action (without a core file: the child wrote one if there was to be one).
pub fn end(ending: Ending) -> ! {
    match ending {
        Ending::Child(ExitInfo::Code(code)) => std::process::exit(code),
        Ending::Child(ExitInfo::Signal { signal, .. }) => {
            // SAFETY: plain libc calls on our own process; no Rust code runs after the
            // raise unless the signal is not fatal.
            unsafe {
                let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                libc::signal(signal, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, signal);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(signal);
            }
            std::process::exit(128 + signal)
        }
        Ending::NotStarted { not_found } => std::process::exit(if not_found { 127 } else { 126 }),
        Ending::Error => std::process::exit(2),
    }
}
