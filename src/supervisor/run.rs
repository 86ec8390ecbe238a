//! One run of a sidecar as one value: its process and everything made for it at spawn
//! (output readers, the connection link and ready signal, the health task, a polite
//! stop, a socket's connect loop). Created at spawn, ended at exit, so nothing of run N
//! can touch run N+1. What outlives a run (the scrollback, the IPC histograms, the event
//! history) belongs to the sidecar, not here.
//!
//! At exit, [`Run::end`] stops at once what acts on the process, and hands back its
//! output readers: the last lines written before the exit may still be in the pipes, so
//! they read to the end of them. Dropping a `Run` that was not ended aborts everything
//! and kills its group.

use super::health::HandshakeAt;
use super::output::RunLink;
use super::process::Process;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A task that ends when its owner lets go of it (a dropped `JoinHandle` would detach it).
pub(super) struct OwnedTask(JoinHandle<()>);

impl OwnedTask {
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> OwnedTask {
        OwnedTask(tokio::spawn(task))
    }

    pub fn adopt(handle: JoinHandle<()>) -> OwnedTask {
        OwnedTask(handle)
    }

    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Waits for the task to end by itself, at most `limit`; true if it did. Any number
    /// of times: a task that ended is not polled again (its handle would panic).
    pub async fn join_within(&mut self, limit: Duration) -> bool {
        self.0.is_finished() || tokio::time::timeout(limit, &mut self.0).await.is_ok()
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A run's output readers: stdout (sidetop's own reader, or a wrapped sidecar's
/// pass-through), stderr, and its server's log messages.
#[derive(Default)]
pub(super) struct Readers {
    pub stdout: Option<OwnedTask>,
    pub stderr: Option<OwnedTask>,
    pub notes: Option<OwnedTask>,
}

impl Readers {
    fn into_tasks(self) -> impl Iterator<Item = OwnedTask> {
        [self.stdout, self.stderr, self.notes].into_iter().flatten()
    }
}

pub(super) struct Run {
    pub process: Box<dyn Process>,
    pub pid: u32,
    /// Counts spawns of this sidecar; a run's tasks act only on their own generation.
    pub generation: u64,
    pub started: Instant,
    /// The stop signal went to its group (a polite stop through the protocol comes first).
    pub signalled: bool,
    /// The handshake step the health task is in, to explain an exit in the middle of it.
    pub handshake_at: HandshakeAt,
    /// This run's connection and ready signal, shared with its output readers.
    pub link: Arc<RunLink>,
    pub readers: Readers,
    /// Handshake, readiness and health checks.
    pub health: Option<OwnedTask>,
    /// The shutdown steps of a stop through the protocol, talking to this run only.
    pub polite_stop: Option<OwnedTask>,
    /// Connects to a socket or HTTP sidecar (and reconnects) while the process lives.
    pub connector: Option<OwnedTask>,
}

impl Run {
    pub fn new(process: Box<dyn Process>, generation: u64, link: Arc<RunLink>) -> Run {
        Run {
            pid: process.pid(),
            process,
            generation,
            started: Instant::now(),
            signalled: false,
            handshake_at: HandshakeAt::default(),
            link,
            readers: Readers::default(),
            health: None,
            polite_stop: None,
            connector: None,
        }
    }

    pub fn stop_health(&mut self) {
        self.health = None;
    }

    /// Gives the stderr reader a moment to take in what was written just before the exit.
    pub async fn drain_stderr(&mut self, limit: Duration) {
        if let Some(stderr) = &mut self.readers.stderr {
            stderr.join_within(limit).await;
        }
    }

    /// The process exited (and was waited for): what acts on it stops now; the output
    /// readers, which only read what it left in its pipes, are handed back to finish.
    pub fn end(mut self) -> Vec<OwnedTask> {
        self.health = None;
        self.polite_stop = None;
        self.connector = None;
        std::mem::take(&mut self.readers).into_tasks().collect()
    }
}

/// Output readers of ended runs, still reading what their process left in its pipes.
/// Owned by the runner, so they end with it at the latest.
#[derive(Default)]
pub(super) struct Draining(Vec<OwnedTask>);

impl Draining {
    pub fn add(&mut self, readers: Vec<OwnedTask>) {
        self.0.retain(|task| !task.is_finished());
        self.0.extend(readers);
    }

    /// Lets them read to the end of their pipes, for at most `limit` in all; the rest
    /// are aborted.
    pub async fn finish(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for task in &mut self.0 {
            task.join_within(deadline.saturating_duration_since(Instant::now())).await;
        }
        self.0.clear();
    }
}
