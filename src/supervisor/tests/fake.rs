//! A fake child that stands in for a real process behind the spawner seam
//! (`process.rs`). The test scripts each run: it ends by itself with an exit code or a
//! signal after a given time (or never), and it may ignore the stop signal, so only the
//! SIGKILL after `stop_timeout` ends it. Every signal sent to its group is recorded with
//! the (paused) time it was sent, so a test can say "SIGTERM at 0 ms, SIGKILL at 500 ms".
//!
//! Its pipes are real, and its ends of them close when it exits: the runner's output
//! readers see end of file as they would with a process.

use super::super::process::{Process, Spawner, Started, Wait};
use crate::config::SidecarConfig;
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Pids the fake hands out: above any real one's range, and never signalled for real
/// (every signal goes through the fake).
const FIRST_PID: u32 = 90_000_000;

#[derive(Debug, Clone, Copy)]
pub enum Ending {
    Code(i32),
    Signal(Signal),
    /// Runs until it is signalled.
    Never,
}

/// How one run of the fake child behaves.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub ending: Ending,
    /// How long after its start it ends by itself.
    pub after: Duration,
    /// Leaves the stop signal unanswered: only SIGKILL ends it.
    pub ignores_stop: bool,
}

impl Behaviour {
    pub fn exits(code: i32, after_ms: u64) -> Behaviour {
        Behaviour { ending: Ending::Code(code), after: Duration::from_millis(after_ms), ignores_stop: false }
    }

    pub fn dies_of(signal: Signal, after_ms: u64) -> Behaviour {
        Behaviour {
            ending: Ending::Signal(signal),
            after: Duration::from_millis(after_ms),
            ignores_stop: false,
        }
    }

    pub fn runs_until_stopped() -> Behaviour {
        Behaviour { ending: Ending::Never, after: Duration::ZERO, ignores_stop: false }
    }

    pub fn ignoring_stop(self) -> Behaviour {
        Behaviour { ignores_stop: true, ..self }
    }
}

/// A signal the runner sent to a run's group, and when (ms since the fake was made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Which spawn (1 for the first).
    pub run: usize,
    pub signal: Signal,
    pub at_ms: u64,
}

/// What the test holds: the script and the record of what the runner did.
#[derive(Clone)]
pub struct FakeChild {
    inner: Arc<Inner>,
}

struct Inner {
    made: Instant,
    /// Behaviours of the coming runs; the last one repeats.
    script: Mutex<VecDeque<Behaviour>>,
    spawns: Mutex<Vec<u64>>,
    signals: Mutex<Vec<Sent>>,
}

impl Inner {
    fn ms(&self) -> u64 {
        self.made.elapsed().as_millis() as u64
    }
}

impl FakeChild {
    /// Runs behave as `script` says, in order; the last behaviour repeats.
    pub fn new(script: impl IntoIterator<Item = Behaviour>) -> FakeChild {
        let script: VecDeque<_> = script.into_iter().collect();
        assert!(!script.is_empty(), "a fake child needs a behaviour");
        FakeChild {
            inner: Arc::new(Inner {
                made: Instant::now(),
                script: Mutex::new(script),
                spawns: Mutex::default(),
                signals: Mutex::default(),
            }),
        }
    }

    pub fn spawner(&self) -> Arc<dyn Spawner> {
        Arc::new(self.clone())
    }

    /// When each run was spawned (ms since the fake was made).
    pub fn spawns_ms(&self) -> Vec<u64> {
        self.inner.spawns.lock().unwrap().clone()
    }

    pub fn signals(&self) -> Vec<Sent> {
        self.inner.signals.lock().unwrap().clone()
    }
}

impl Spawner for FakeChild {
    fn spawn(&self, _config: &SidecarConfig) -> io::Result<Started> {
        let behaviour = {
            let mut script = self.inner.script.lock().unwrap();
            if script.len() > 1 { script.pop_front().expect("not empty") } else { script[0] }
        };
        let run = {
            let mut spawns = self.inner.spawns.lock().unwrap();
            spawns.push(self.inner.ms());
            spawns.len()
        };
        let (stdin_theirs, stdin_ours) = nix::unistd::pipe()?;
        let (stdout_ours, stdout_theirs) = nix::unistd::pipe()?;
        let (stderr_ours, stderr_theirs) = nix::unistd::pipe()?;
        let stdin = tokio::process::ChildStdin::from_std(std::process::ChildStdin::from(stdin_ours))?;
        let process = FakeProcess {
            pid: FIRST_PID + run as u32,
            run,
            inner: self.inner.clone(),
            behaviour,
            born: Instant::now(),
            ended: watch::channel(None).0,
            pipes: Mutex::new(Some([stdin_theirs, stdout_theirs, stderr_theirs])),
        };
        Ok(Started { process: Box::new(process), stdin, stdout: stdout_ours, stderr: stderr_ours })
    }
}

struct FakeProcess {
    pid: u32,
    run: usize,
    inner: Arc<Inner>,
    behaviour: Behaviour,
    born: Instant,
    ended: watch::Sender<Option<ExitStatus>>,
    /// The child's ends of its pipes, closed when it exits.
    pipes: Mutex<Option<[OwnedFd; 3]>>,
}

impl FakeProcess {
    /// The first ending wins (a SIGKILL after a natural exit changes nothing).
    fn end(&self, status: ExitStatus) {
        self.ended.send_if_modified(|ended| ended.is_none() && ended.replace(status).is_none());
        self.pipes.lock().unwrap().take();
    }

    fn natural_status(&self) -> Option<ExitStatus> {
        match self.behaviour.ending {
            Ending::Code(code) => Some(ExitStatus::from_raw(code << 8)),
            Ending::Signal(signal) => Some(ExitStatus::from_raw(signal as i32)),
            Ending::Never => None,
        }
    }
}

impl Process for FakeProcess {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn wait(&mut self) -> Wait<'_> {
        Box::pin(async move {
            let mut ended = self.ended.subscribe();
            match self.natural_status() {
                Some(status) => tokio::select! {
                    _ = ended.wait_for(Option::is_some) => {}
                    _ = tokio::time::sleep_until(self.born + self.behaviour.after) => self.end(status),
                },
                None => drop(ended.wait_for(Option::is_some).await),
            }
            Ok(self.ended.borrow().expect("ended"))
        })
    }

    fn signal_group(&self, signal: Signal) -> io::Result<()> {
        self.inner.signals.lock().unwrap().push(Sent { run: self.run, signal, at_ms: self.inner.ms() });
        match signal {
            Signal::SIGKILL => self.end(ExitStatus::from_raw(libc::SIGKILL)),
            Signal::SIGCONT => {}
            _ if self.behaviour.ignores_stop => {}
            other => self.end(ExitStatus::from_raw(other as i32)),
        }
        Ok(())
    }

    fn signal_leader(&self, signal: Signal) -> nix::Result<()> {
        // A fake child is a group of one.
        self.signal_group(signal).map_err(|_| nix::errno::Errno::EIO)
    }

    fn kill_leader(&mut self) {
        self.end(ExitStatus::from_raw(libc::SIGKILL));
    }

    /// A fake child leaves nothing behind in its group.
    fn reap_group(&mut self) {}
}
