//! The seam between the runner and the operating system. The runner starts a child
//! through a [`Spawner`] and acts on it only through [`Process`]: the real ones are here
//! (a process group of its own, the death-watch helper, the subreaper's list); the
//! lifecycle tests put a fake child in their place (`tests/fake.rs`), so backoff, crash
//! loops and stop timeouts are checked under paused time, to the millisecond.

use super::deathwatch::DeathWatch;
use super::spawn::{self, signal_group};
use crate::config::SidecarConfig;
use nix::sys::signal::Signal;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, ChildStdin};

/// What a spawn hands the runner: the process and its three pipes.
pub(crate) struct Started {
    pub process: Box<dyn Process>,
    pub stdin: ChildStdin,
    /// Read by the output pumps (see `pipe_reader`).
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

pub(crate) trait Spawner: Send + Sync {
    fn spawn(&self, config: &SidecarConfig) -> io::Result<Started>;
}

pub(crate) type Wait<'a> = Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + 'a>>;

/// One spawned child: the leader of its own process group.
pub(crate) trait Process: Send {
    fn pid(&self) -> u32;
    /// Resolves when the leader exits. Cancel safe: the runner waits in a `select!`.
    fn wait(&mut self) -> Wait<'_>;
    /// To the whole group (`ESRCH`, the group already gone, is not an error).
    fn signal_group(&self, signal: Signal) -> io::Result<()>;
    /// To the leader only (an operator's `signal`).
    fn signal_leader(&self, signal: Signal) -> nix::Result<()>;
    /// Waiting failed: kill the leader without waiting.
    fn kill_leader(&mut self);
    /// The leader exited: whatever it left behind in its group goes with it.
    fn reap_group(&mut self);
}

/// Real children, known to the death-watch helper (which kills their groups if sidetop
/// dies) and to the subreaper (which leaves them to us to reap).
pub(crate) struct OsSpawner {
    pub death_watch: Option<Arc<DeathWatch>>,
}

impl Spawner for OsSpawner {
    fn spawn(&self, config: &SidecarConfig) -> io::Result<Started> {
        let spawn_mark = self.death_watch.as_ref().map(|r| r.spawning());
        let spawned = spawn::spawn(config)?;
        let pid = spawned.pid;
        super::subreaper::register(pid);
        if let Some(pause) = test_pause_after_spawn() {
            // Widens the window the spawn mark covers, for the test that kills sidetop in it.
            std::thread::sleep(pause);
        }
        if let Some(death_watch) = &self.death_watch {
            death_watch.watch(pid);
        }
        drop(spawn_mark);
        let process =
            OsProcess { child: spawned.child, pid, death_watch: self.death_watch.clone(), exited: false };
        Ok(Started {
            process: Box::new(process),
            stdin: spawned.stdin,
            stdout: spawned.stdout,
            stderr: spawned.stderr,
        })
    }
}

struct OsProcess {
    child: Child,
    pid: u32,
    death_watch: Option<Arc<DeathWatch>>,
    /// The leader was reaped: its pid may be another process's by now.
    exited: bool,
}

impl Process for OsProcess {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn wait(&mut self) -> Wait<'_> {
        Box::pin(async move {
            let status = self.child.wait().await;
            self.exited = status.is_ok();
            status
        })
    }

    fn signal_group(&self, signal: Signal) -> io::Result<()> {
        signal_group(self.pid, signal)
    }

    fn signal_leader(&self, signal: Signal) -> nix::Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), signal)
    }

    fn kill_leader(&mut self) {
        let _ = self.child.start_kill();
    }

    fn reap_group(&mut self) {
        if spawn::group_alive(self.pid) {
            let _ = signal_group(self.pid, Signal::SIGKILL);
        }
    }
}

impl Drop for OsProcess {
    fn drop(&mut self) {
        // Dropped before its exit was seen (the runner itself went away): the group goes
        // too, not only the leader (`kill_on_drop`).
        if !self.exited {
            let _ = signal_group(self.pid, Signal::SIGKILL);
        }
        if let Some(death_watch) = &self.death_watch {
            death_watch.forget(self.pid);
        }
        super::subreaper::unregister(self.pid);
    }
}

/// `SIDETOP_TEST_PAUSE_AFTER_SPAWN_MS`: for one test only.
fn test_pause_after_spawn() -> Option<Duration> {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        std::env::var("SIDETOP_TEST_PAUSE_AFTER_SPAWN_MS").ok()?.parse().ok().map(Duration::from_millis)
    })
}
