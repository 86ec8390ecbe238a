//! The orphan reaper: a tiny forked process that outlives sidetop by a moment. sidetop
//! tells it (over a pipe) each sidecar process group it starts and retires; when the pipe
//! closes because sidetop exited or was SIGKILLed, it SIGKILLs every group still listed.
//! A parent-death signal alone only reaches the direct child, not its children.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

const MAX_GROUPS: usize = 4096;
const RECORD: usize = 5;

pub struct Reaper {
    pipe: Mutex<std::fs::File>,
    pid: libc::pid_t,
}

impl Reaper {
    pub fn start() -> io::Result<Reaper> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain syscall with a valid out-array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the child only makes async-signal-safe calls and never returns.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => unsafe { reaper_main(read_end.as_raw_fd()) },
            pid => {
                drop(read_end);
                super::orphans::register(pid as u32);
                Ok(Reaper { pipe: Mutex::new(std::fs::File::from(write_end)), pid })
            }
        }
    }

    pub fn watch(&self, pgid: u32) {
        self.send(b'+', pgid);
    }

    pub fn forget(&self, pgid: u32) {
        self.send(b'-', pgid);
    }

    fn send(&self, op: u8, pgid: u32) {
        let mut record = [0u8; RECORD];
        record[0] = op;
        record[1..].copy_from_slice(&pgid.to_le_bytes());
        // A 5-byte write to a pipe is atomic; the reaper reads far faster than we write.
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = pipe.write_all(&record) {
            tracing::warn!("orphan reaper unreachable: {e}");
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // Closing the pipe (the File drops after this) tells the reaper to act and exit;
        // collect it so no zombie is left behind while sidetop lives on (as in tests).
        let pid = self.pid;
        std::thread::spawn(move || unsafe {
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            super::orphans::unregister(pid as u32);
        });
    }
}

/// Runs in the forked child. Allocation-free: only raw syscalls.
unsafe fn reaper_main(fd: libc::c_int) -> ! {
    unsafe {
        libc::setpgid(0, 0);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::prctl(libc::PR_SET_NAME, c"sidetop-reaper".as_ptr() as libc::c_ulong, 0, 0, 0);
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if devnull >= 0 {
            for target in 0..3 {
                libc::dup2(devnull, target);
            }
        }
        libc::dup2(fd, 3);
        if libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) != 0 {
            for other in 4..4096 {
                libc::close(other);
            }
        }

        let mut groups = [0u32; MAX_GROUPS];
        let mut count = 0usize;
        let mut buf = [0u8; RECORD * 64];
        let mut filled = 0usize;
        loop {
            let n = libc::read(3, buf.as_mut_ptr().add(filled) as *mut libc::c_void, buf.len() - filled);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
            filled += n as usize;
            let whole = filled - filled % RECORD;
            for record in buf[..whole].chunks_exact(RECORD) {
                let pgid = u32::from_le_bytes([record[1], record[2], record[3], record[4]]);
                if record[0] == b'+' {
                    if count < MAX_GROUPS {
                        groups[count] = pgid;
                        count += 1;
                    }
                } else if let Some(i) = groups[..count].iter().position(|&g| g == pgid) {
                    groups[i] = groups[count - 1];
                    count -= 1;
                }
            }
            buf.copy_within(whole..filled, 0);
            filled -= whole;
        }
        for &pgid in &groups[..count] {
            libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
        }
        libc::_exit(0);
    }
}
