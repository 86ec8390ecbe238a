//! The wrapper's own stdout and stderr, written through epoll where they are pipes or
//! sockets, plainly where they are not (the stdin is read by a thread: `forward`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// One of the wrapper's own output descriptors. A pipe or socket is written
/// non-blocking through epoll (its open file is the wrapper's own); anything else (a
/// terminal another program shares, a file) with plain blocking writes.
pub(super) enum Output {
    Polled(AsyncFd<OwnedFd>),
    Blocking(i32),
}

impl Output {
    pub(super) fn of(fd: i32) -> io::Result<Output> {
        if !pollable(fd) {
            return Ok(Output::Blocking(fd));
        }
        let owned = dup(fd)?;
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(owned.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(owned.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        // SAFETY: an OwnedFd is a valid open descriptor and stays the same one while owned.
        Ok(Output::Polled(unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::WRITABLE) }?))
    }

    /// Writes all of `bytes` from a thread of the pass-through's own, waiting in
    /// `poll(2)` while the pipe is full.
    pub(super) fn write_all_blocking(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Polled(afd) => super::blocking::write_all(afd.get_ref().as_raw_fd(), bytes),
            Output::Blocking(fd) => super::blocking::write_all(*fd, bytes),
        }
    }

    pub(super) async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = match self {
                Output::Polled(afd) => {
                    let mut guard = afd.writable().await?;
                    match guard.try_io(|fd| write(fd.get_ref().as_raw_fd(), bytes)) {
                        Ok(result) => result?,
                        Err(_would_block) => continue,
                    }
                }
                Output::Blocking(fd) => match write(*fd, bytes) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    result => result?,
                },
            };
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

fn write(fd: i32, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: writes from a valid slice.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// A pipe or a socket (epoll works on them, and their open file is not a terminal's).
fn pollable(fd: i32) -> bool {
    // SAFETY: fstat into a zeroed struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return false;
    }
    matches!(stat.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
}

fn dup(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: the descriptor is open (checked by the caller's fstat); the copy is ours.
    let copy = unsafe { libc::fcntl(BorrowedFd::borrow_raw(fd).as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just created, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_are_pollable_and_files_are_not() {
        let mut fds = [0; 2];
        // SAFETY: valid out-array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(pollable(fds[0]) && pollable(fds[1]));
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(!pollable(file.as_raw_fd()));
        // SAFETY: closing what pipe() returned.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
