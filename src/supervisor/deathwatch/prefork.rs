//! Forking the death-watch helper at the top of `main`, while sidetop still has one
//! thread. A fork then is safe (no lock can be held by a thread that does not exist in
//! the child), and far cheaper than exec'ing the binary again: the child shares the
//! binary's pages instead of mapping and faulting them in afresh (a fork copies no page
//! table entries for file-backed memory), and copies only the little heap `main` has
//! used so far. An exec'd helper costs about 5 MB of resident memory, a forked one under 1.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Mutex;

/// The forked helper's pipe (write end) and pid, until a supervisor takes them.
static PREFORKED: Mutex<Option<(File, u32)>> = Mutex::new(None);

/// Forks the helper now. Call it from `main` before any thread starts (before the
/// runtime, before logging); a supervisor started later takes it over. When this fails
/// the supervisor execs a helper instead.
pub fn prefork() -> io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: plain syscall with a valid out-array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the caller guarantees this process has a single thread, so the child may
    // run ordinary Rust code (allocate, read /proc) as the parent would.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            become_helper(read_end, write_end);
            super::helper_main()
        }
        pid => {
            drop(read_end);
            *PREFORKED.lock().unwrap_or_else(|e| e.into_inner()) = Some((File::from(write_end), pid as u32));
            Ok(())
        }
    }
}

/// The pipe and pid of the preforked helper, once.
pub(super) fn take() -> Option<(File, u32)> {
    PREFORKED.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// In the child: its own process group (Ctrl-C in the terminal must not reach it before
/// sidetop), the pipe as stdin, nothing on stdout/stderr (the terminal belongs to the
/// dashboard), and no write end of its own pipe, or it would never see it close.
fn become_helper(read_end: OwnedFd, write_end: OwnedFd) {
    drop(write_end);
    // SAFETY: plain syscalls on descriptors this process owns.
    unsafe {
        libc::setpgid(0, 0);
        libc::dup2(read_end.as_raw_fd(), 0);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    // Where sidetop started with stdin closed, the pipe may already be descriptor 0.
    if read_end.as_raw_fd() != 0 {
        drop(read_end);
    } else {
        let _ = read_end.into_raw_fd();
    }
}
