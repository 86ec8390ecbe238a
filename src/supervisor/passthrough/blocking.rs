//! Plain blocking reads and writes on descriptors, for the pass-through's own threads.
//! A thread blocked in `read(2)` is woken by the kernel straight into its copy; through
//! the runtime each read costs an epoll round and a task switch more, which is most of
//! what a wrapper adds to a round trip (`benches/wrap.py`). Descriptors that are
//! non-blocking (the child's pipes are) are waited on with `poll(2)` when they would
//! block. A [`Cancel`] pipe lets a thread blocked on a child's output be told to end.

use bytes::BytesMut;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Wakes a thread waiting in [`read_some`] for good.
pub(super) struct Cancel {
    read: OwnedFd,
    write: OwnedFd,
}

impl Cancel {
    pub fn new() -> io::Result<Cancel> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 into a valid array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: just created, owned here.
        Ok(unsafe { Cancel { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) } })
    }

    pub fn trip(&self) {
        // SAFETY: a one-byte write from a valid buffer; a full pipe is tripped already.
        unsafe { libc::write(self.write.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }
}

/// Waits until `fd` is ready for `events`; false if `cancel` was tripped first.
fn wait(fd: RawFd, events: libc::c_short, cancel: Option<&Cancel>) -> io::Result<bool> {
    let mut polled = [
        libc::pollfd { fd, events, revents: 0 },
        libc::pollfd { fd: cancel.map_or(-1, |c| c.read.as_raw_fd()), events: libc::POLLIN, revents: 0 },
    ];
    loop {
        // SAFETY: poll on a valid array of two entries (a negative fd is ignored).
        let n = unsafe { libc::poll(polled.as_mut_ptr(), 2, -1) };
        if n >= 0 {
            return Ok(polled[1].revents == 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reads what is there (waiting for something) into the spare capacity of `buf`; 0 at
/// end of stream or when cancelled.
pub(super) fn read_some(fd: RawFd, buf: &mut BytesMut, cancel: Option<&Cancel>) -> io::Result<usize> {
    // With a cancel pipe, wait first: a blocking read could not be interrupted.
    if cancel.is_some() && !wait(fd, libc::POLLIN, cancel)? {
        return Ok(0);
    }
    let spare = buf.spare_capacity_mut();
    loop {
        // SAFETY: reads at most `spare.len()` bytes into memory owned by `buf`.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if n >= 0 {
            // SAFETY: the kernel initialised the first `n` spare bytes.
            unsafe { buf.set_len(buf.len() + n as usize) };
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                if !wait(fd, libc::POLLIN, cancel)? {
                    return Ok(0);
                }
            }
            _ => return Err(e),
        }
    }
}

/// Writes all of `bytes`, waiting while the pipe is full.
pub(super) fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writes from a valid slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n >= 0 {
            bytes = &bytes[n as usize..];
            continue;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                wait(fd, libc::POLLOUT, None)?;
            }
            _ => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_read_ends_and_a_full_pipe_is_waited_out() {
        let mut fds = [0; 2];
        // SAFETY: valid out-array; the ends are owned below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) }, 0);
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let cancel = std::sync::Arc::new(Cancel::new().unwrap());
        let tripper = cancel.clone();
        let waiter = std::thread::spawn(move || {
            let mut buf = BytesMut::with_capacity(16);
            read_some(r.as_raw_fd(), &mut buf, Some(&cancel)).unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        tripper.trip();
        assert_eq!(waiter.join().unwrap(), 0, "the read ended when cancelled");

        // 1 MiB into a 64 KiB pipe: the writer waits for a reader, loses nothing.
        let (r2, w2) = {
            let mut fds = [0; 2];
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) }, 0);
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
        };
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || write_all(w2.as_raw_fd(), &sent).unwrap());
        let mut got = BytesMut::new();
        while got.len() < data.len() {
            got.reserve(64 << 10);
            read_some(r2.as_raw_fd(), &mut got, None).unwrap();
        }
        writer.join().unwrap();
        assert_eq!(&got[..], &data[..]);
        drop(w);
    }
}
