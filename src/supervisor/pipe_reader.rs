//! Reading a child's output pipe without being woken for every write. A reader parked in
//! epoll is woken by each `write(2)` into the pipe: a child that logs one line per write
//! then pays a wake-up per line, and so do we. Instead, after a read, the pipe is taken
//! out of epoll (when `gather` is on) and read again directly a moment later, so a flood
//! accumulates in the 1 MiB pipe and arrives in large reads; only an empty pipe is
//! waited on through epoll. IPC pipes stay registered: replies must not wait.

use bytes::BytesMut;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

enum Fd {
    Direct(OwnedFd),
    Registered(AsyncFd<OwnedFd>),
    Closed,
}

pub struct PipeReader {
    fd: Fd,
    /// Leave epoll after each read (log output); stay in it (IPC replies).
    gather: bool,
}

impl PipeReader {
    /// `fd` is switched to non-blocking mode.
    pub fn new(fd: OwnedFd, gather: bool) -> io::Result<PipeReader> {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let fd = if gather { Fd::Direct(fd) } else { Fd::Registered(register(fd)?) };
        Ok(PipeReader { fd, gather })
    }

    /// The descriptor back (still non-blocking), out of epoll; `None` once closed.
    pub fn into_fd(self) -> Option<OwnedFd> {
        match self.fd {
            Fd::Direct(fd) => Some(fd),
            Fd::Registered(afd) => Some(afd.into_inner()),
            Fd::Closed => None,
        }
    }

    /// Reads into the spare capacity of `buf`; 0 at end of stream.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.fd, Fd::Closed) {
                Fd::Closed => return Ok(0),
                Fd::Direct(fd) => match read_into(fd.as_raw_fd(), buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.fd = Fd::Registered(register(fd)?);
                    }
                    result => {
                        self.fd = Fd::Direct(fd);
                        return result;
                    }
                },
                Fd::Registered(afd) => {
                    let result = {
                        let mut guard = afd.readable().await?;
                        guard.try_io(|inner| read_into(inner.as_raw_fd(), buf))
                    };
                    self.fd = match (&result, self.gather) {
                        // Data came: back out of epoll until the pipe runs dry again.
                        (Ok(Ok(_)), true) => Fd::Direct(afd.into_inner()),
                        _ => Fd::Registered(afd),
                    };
                    if let Ok(result) = result {
                        return result;
                    }
                }
            }
        }
    }
}

fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is a valid open descriptor and stays the same one while owned.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into())
}

fn read_into(fd: libc::c_int, buf: &mut BytesMut) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    loop {
        // SAFETY: reads at most `spare.len()` bytes into memory owned by `buf`.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr() as *mut libc::c_void, spare.len()) };
        if n >= 0 {
            // SAFETY: the kernel initialised the first `n` spare bytes.
            unsafe { buf.set_len(buf.len() + n as usize) };
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
