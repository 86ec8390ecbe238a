//! Starting one child: its own process group (so signals reach its whole tree), fresh
//! pipes for 0/1/2, env and cwd. Rust opens every descriptor close-on-exec, and
//! inherited ones are made so at start, so nothing of sidetop's leaks into it.

use crate::config::SidecarConfig;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use tokio::process::{Child, ChildStdin, Command};

/// Bigger pipes mean fewer wake-ups per megabyte when a child floods its output.
const PIPE_SIZE: libc::c_int = 1 << 20;

pub struct Spawned {
    pub child: Child,
    pub pid: u32,
    pub stdin: ChildStdin,
    /// Read by the output pumps (see `pipe_reader`), not through tokio's wrappers.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

pub fn spawn(config: &SidecarConfig) -> io::Result<Spawned> {
    let mut cmd = Command::new(&config.argv[0]);
    cmd.args(&config.argv[1..])
        .current_dir(&config.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // The engine reaps explicitly; this is the backstop if a task is ever dropped.
        .kill_on_drop(true);
    if !config.inherit_env {
        cmd.env_clear();
    }
    cmd.envs(config.env.iter().map(|(k, v)| (k, v)));

    // No pre_exec hook: without one std spawns with posix_spawn (a vfork), which costs
    // the same whatever this process's size, instead of fork + exec. What the hook did
    // is done elsewhere: descriptors are made close-on-exec once at start
    // (`close_inherited_descriptors`), and the death-watch helper kills the group if
    // sidetop dies, which a parent-death signal could only do for the direct child.
    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or_else(|| io::Error::other("child exited before its pid was read"))?;
    crate::os::nofile::give_back(pid);
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout").into_owned_fd()?;
    let stderr = child.stderr.take().expect("piped stderr").into_owned_fd()?;
    // Large output pipes: a flood of output arrives in large reads. A wrapped child's
    // stdin too: the application's bulk writes go on in one call instead of a wait per
    // 64 KiB (a sidecar sidetop talks to itself keeps the default, so what it does not
    // read holds sidetop's writes back as soon as it would anywhere).
    let stdin_fd = config.wrapped_by.as_ref().map(|_| stdin.as_raw_fd());
    for fd in stdin_fd.into_iter().chain([stdout.as_raw_fd(), stderr.as_raw_fd()]) {
        // Best effort: the kernel may cap it (fs.pipe-max-size) and that is fine.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE) };
    }
    Ok(Spawned { child, pid, stdin, stdout, stderr })
}

/// Descriptors this process inherited without close-on-exec (from a shell, a CI harness)
/// must not reach sidecars: mark every one above stderr close-on-exec, once. Everything
/// Rust opens is close-on-exec already.
pub fn close_inherited_descriptors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        // SAFETY: plain syscalls on descriptor numbers; nothing is closed.
        unsafe {
            if libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC)
                != 0
            {
                for fd in 3..open_file_limit() {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
        }
    });
}

fn open_file_limit() -> libc::c_int {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscall with a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 4096;
    }
    limit.rlim_cur.min(1 << 20) as libc::c_int
}

/// Signals a whole process group. `ESRCH` (group already gone) is not an error.
pub fn signal_group(pgid: u32, signal: nix::sys::signal::Signal) -> io::Result<()> {
    match nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Whether any process is left in the group.
pub fn group_alive(pgid: u32) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), None).is_ok()
}
