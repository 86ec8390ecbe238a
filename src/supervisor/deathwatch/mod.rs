//! The death watch: a small helper process (this same binary, run as `sidetop
//! __deathwatch`) that outlives sidetop by a moment. sidetop tells it, over a pipe that
//! is the helper's stdin, each process group it starts and retires; when the pipe closes
//! because sidetop exited or was SIGKILLed, it SIGKILLs every group still listed. A
//! parent-death signal would only reach a direct child, not its children.
//!
//! The helper is a single-threaded process: either forked by `main` before any thread
//! exists ([`prefork`], the cheap way: it shares the binary's pages and copies almost no
//! memory) or, where that did not happen (the library in tests), a fresh exec of the
//! binary. Never a fork of the multi-threaded process, so it may allocate: its table
//! grows with the groups alive and has no fixed cap. It
//! forgets groups that no longer exist every second, so a pid reused by an unrelated
//! process group after a missed `forget` is not killed later. At the end it also kills
//! every descendant of those groups' processes, including ones that left the group.

mod helper;
mod prefork;

pub use helper::helper_main;
pub use prefork::prefork;

use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The hidden subcommand that runs the helper.
pub const SUBCOMMAND: &str = "__deathwatch";
const RECORD: usize = 5;
const PRUNE_EVERY: Duration = Duration::from_secs(1);

pub struct DeathWatch {
    /// Written without a lock: each record is one `write` of 5 bytes, which a pipe keeps
    /// whole (POSIX: writes up to PIPE_BUF are atomic), so callers on any thread or task
    /// never wait for each other, and no std mutex is held in async code.
    pipe: std::fs::File,
    /// The helper, a child of this process, collected when the watch drops.
    helper_pid: Option<u32>,
}

impl DeathWatch {
    /// The helper `main` forked before any thread started, if there is one not yet taken.
    pub fn preforked() -> Option<DeathWatch> {
        let (pipe, pid) = prefork::take()?;
        super::subreaper::register(pid);
        Some(DeathWatch { pipe, helper_pid: Some(pid) })
    }

    /// Starts the helper from `exe`, a sidetop binary.
    pub fn start(exe: &Path) -> io::Result<DeathWatch> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain syscall with a valid out-array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let child = Command::new(exe)
            .arg(SUBCOMMAND)
            .stdin(Stdio::from(read_end))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: Ctrl-C in the terminal must not reach it before sidetop.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("starting the death-watch helper {}: {e}", exe.display()))
            })?;
        super::subreaper::register(child.id());
        // Reaped by pid in `drop`, like a forked helper; the `Child` handle is not needed.
        Ok(DeathWatch { pipe: std::fs::File::from(write_end), helper_pid: Some(child.id()) })
    }

    /// Finds a sidetop binary to run the helper from: `$SIDETOP_EXE`, this program when
    /// it is sidetop, or a `sidetop` beside it or one folder up (cargo's test and bench
    /// binaries live in `target/*/deps/`).
    pub fn locate() -> io::Result<PathBuf> {
        if let Some(exe) = std::env::var_os("SIDETOP_EXE") {
            return Ok(PathBuf::from(exe));
        }
        let me = std::env::current_exe()?;
        if me.file_name().is_some_and(|n| n == "sidetop") {
            return Ok(me);
        }
        me.ancestors().skip(1).take(2).map(|dir| dir.join("sidetop")).find(|p| p.is_file()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no sidetop binary found to run the death-watch helper (set SIDETOP_EXE)",
            )
        })
    }

    pub fn watch(&self, pgid: u32) {
        self.send(b'+', pgid);
    }

    pub fn forget(&self, pgid: u32) {
        self.send(b'-', pgid);
    }

    /// Marks a spawn in progress until the guard drops (after [`watch`](Self::watch)).
    /// If sidetop dies between `posix_spawn` and `watch`, the helper does not know the
    /// new group; while a mark is open it also kills the group leaders of sidetop's
    /// session that appeared meanwhile and were orphaned with it.
    pub fn spawning(&self) -> SpawnMark<'_> {
        self.send(b'?', 0);
        SpawnMark(self)
    }

    fn send(&self, op: u8, pgid: u32) {
        let mut record = [0u8; RECORD];
        record[0] = op;
        record[1..].copy_from_slice(&pgid.to_le_bytes());
        // One write of 5 bytes: atomic on a pipe; the helper reads far faster than we write.
        if let Err(e) = (&self.pipe).write_all(&record) {
            tracing::error!("death-watch helper unreachable: {e}; sidecars may outlive a killed sidetop");
        }
    }
}

pub struct SpawnMark<'a>(&'a DeathWatch);

impl Drop for SpawnMark<'_> {
    fn drop(&mut self) {
        self.0.send(b'!', 0);
    }
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        // Closing the pipe (the File drops after this) tells the helper to act and exit;
        // collect it so no zombie is left behind while sidetop lives on (as in tests).
        if let Some(pid) = self.helper_pid.take() {
            std::thread::spawn(move || {
                let mut status = 0;
                // SAFETY: plain syscall on our own child.
                unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
                super::subreaper::unregister(pid);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Records sent from many threads at once arrive whole, never interleaved, with no
    /// lock around the pipe.
    #[test]
    fn records_from_many_threads_arrive_whole() {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain syscall with a valid out-array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors were just created and are owned here.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let watch =
            std::sync::Arc::new(DeathWatch { pipe: std::fs::File::from(write_end), helper_pid: None });
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::fs::File::from(read_end).read_to_end(&mut bytes).unwrap();
            bytes
        });
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let watch = watch.clone();
                std::thread::spawn(move || {
                    for i in 0..5000u32 {
                        watch.watch(t << 24 | i);
                        watch.forget(t << 24 | i);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(watch);
        let bytes = reader.join().unwrap();
        assert_eq!(bytes.len(), 8 * 5000 * 2 * RECORD);
        let mut open = std::collections::HashSet::new();
        for record in bytes.chunks(RECORD) {
            let pgid = u32::from_le_bytes(record[1..].try_into().unwrap());
            match record[0] {
                b'+' => assert!(open.insert(pgid), "{pgid} watched twice"),
                b'-' => assert!(open.remove(&pgid), "{pgid} forgotten before it was watched"),
                other => panic!("a torn record: {other}"),
            }
        }
        assert!(open.is_empty());
    }
}
