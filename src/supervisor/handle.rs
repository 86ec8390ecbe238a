//! [`SidecarHandle`]: what every front end can see of one sidecar and do to it.

use super::sidecar::{self, Command};
use super::status::{Event, Status};
use crate::config::SidecarConfig;
use crate::config::ipc::{RequestSpec, RequestTemplate};
use crate::ipc::Ipc;
use crate::ipc::protocol::{Exchange, Origin};
use crate::os::serial_writer::StdinWriter;
use crate::supervisor::scrollback::LogBuffer;
use bytes::Bytes;
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot, watch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    UnknownSidecar(String),
    NotRunning(String),
    /// The engine task is gone (sidetop is shutting down).
    EngineGone,
    NoIpc(String),
    UnknownTemplate {
        sidecar: String,
        template: String,
        known: Vec<String>,
    },
    Io(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::UnknownSidecar(name) => write!(f, "no sidecar named {name:?}"),
            OpError::NotRunning(name) => write!(f, "{name} is not running"),
            OpError::EngineGone => write!(f, "the supervisor is shutting down"),
            OpError::NoIpc(name) => write!(f, "{name} has no [sidecar.ipc]: sidetop cannot send it requests"),
            OpError::UnknownTemplate { sidecar, template, known } => {
                write!(f, "{sidecar} has no request template {template:?}")?;
                if known.is_empty() {
                    write!(f, " (it has none)")
                } else {
                    write!(f, " (it has: {})", known.join(", "))
                }
            }
            OpError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpError {}

pub struct SidecarHandle {
    pub name: Arc<str>,
    pub config: SidecarConfig,
    pub(super) status: watch::Receiver<Status>,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) logs: Arc<Mutex<LogBuffer>>,
    pub(super) history: Arc<Mutex<VecDeque<Event>>>,
    pub(super) tallies: Arc<Mutex<super::sidecar::Tallies>>,
    pub(super) stdin: Arc<Mutex<Option<StdinWriter>>>,
    pub(super) ipc: Option<Arc<Ipc>>,
    pub(super) log_file: Option<Arc<super::logfile::LogFileStats>>,
    pub(super) lines_seen: watch::Sender<u64>,
    /// `sidetop wrap`'s pipes, for a wrapped sidecar.
    pub(super) wrap: Option<Arc<super::passthrough::WrapIo>>,
}

/// How a sidecar's log file is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFileCounts {
    pub written: u64,
    /// Lines that never reached the file (non-blocking mode).
    pub dropped: u64,
}

impl SidecarHandle {
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (for waiting on a state).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Lines captured so far.
    pub fn lines_now(&self) -> u64 {
        *self.lines_seen.borrow()
    }

    /// Changes whenever lines are captured (the value is the count so far).
    pub fn watch_lines(&self) -> watch::Receiver<u64> {
        self.lines_seen.subscribe()
    }

    pub fn logs(&self) -> MutexGuard<'_, LogBuffer> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn events(&self) -> Vec<Event> {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Lines written to and dropped from its log file, when it has one.
    pub fn log_file_counts(&self) -> Option<LogFileCounts> {
        use std::sync::atomic::Ordering::Relaxed;
        self.log_file.as_ref().map(|s| LogFileCounts {
            written: s.written_lines.load(Relaxed),
            dropped: s.dropped_lines.load(Relaxed),
        })
    }

    /// Its IPC client (metrics, traffic), when it has `[sidecar.ipc]`.
    pub fn ipc(&self) -> Option<&Arc<Ipc>> {
        self.ipc.as_ref()
    }

    async fn command(&self, make: impl FnOnce(sidecar::Reply) -> Command) -> Result<(), OpError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| OpError::EngineGone)?;
        answer.await.map_err(|_| OpError::EngineGone)?
    }

    pub async fn start(&self) -> Result<(), OpError> {
        self.command(Command::Start).await
    }
    /// Graceful: stop signal to the process group, SIGKILL after `stop_timeout`.
    pub async fn stop(&self) -> Result<(), OpError> {
        self.command(Command::Stop).await
    }
    pub async fn restart(&self) -> Result<(), OpError> {
        self.command(Command::Restart).await
    }
    /// SIGKILL to the whole process group, now.
    pub async fn kill(&self) -> Result<(), OpError> {
        self.command(Command::Kill).await
    }
    /// Any signal, to the sidecar's main process.
    pub async fn signal(&self, signal: Signal) -> Result<(), OpError> {
        self.command(|r| Command::Signal(signal, r)).await
    }

    /// Exits by reason and health-check failures since sidetop started (never reset).
    pub fn tallies(&self) -> super::sidecar::Tallies {
        self.tallies.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// When its current process started, as wall-clock time.
    pub fn started_at(&self) -> Option<std::time::SystemTime> {
        let status = self.status.borrow();
        let started = status.started_at.filter(|_| status.state.has_process())?;
        std::time::SystemTime::now().checked_sub(started.elapsed())
    }

    /// Stops it gracefully and ends its task (a reload removed or replaced it).
    pub(super) async fn retire(&self) -> Result<(), OpError> {
        self.command(Command::Retire).await
    }

    /// The same sidecar (process, scrollback, histograms) with a config changed only in
    /// keys that need no restart.
    pub(super) fn with_config(&self, config: SidecarConfig) -> SidecarHandle {
        SidecarHandle {
            name: self.name.clone(),
            config,
            status: self.status.clone(),
            commands: self.commands.clone(),
            logs: self.logs.clone(),
            history: self.history.clone(),
            tallies: self.tallies.clone(),
            stdin: self.stdin.clone(),
            ipc: self.ipc.clone(),
            log_file: self.log_file.clone(),
            lines_seen: self.lines_seen.clone(),
            wrap: self.wrap.clone(),
        }
    }

    /// Writes to the sidecar's stdin; waits until written (bounded by a timeout).
    /// A wrapped sidecar (`sidetop wrap`): copies this process's stdin to each run's
    /// stdin until it closes. `None` for a sidecar that is not wrapped.
    pub fn forward_stdin(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.wrap.clone().map(|wrap| tokio::spawn(super::passthrough::forward_stdin(wrap)))
    }

    /// A wrapped sidecar: waits until its outputs were passed on to their end (at most
    /// `timeout`); true at once for one that is not wrapped.
    pub async fn outputs_drained(&self, timeout: std::time::Duration) -> bool {
        match &self.wrap {
            Some(wrap) => wrap.drained(timeout).await,
            None => true,
        }
    }

    /// Reads of the application's traffic the observer could not keep up with.
    pub fn unobserved_reads(&self) -> u64 {
        self.wrap
            .as_ref()
            .and_then(|w| w.tap.as_ref())
            .map_or(0, |t| t.dropped.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub async fn write_stdin(&self, bytes: impl Into<Bytes>) -> Result<(), OpError> {
        let writer = self.stdin.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match writer {
            None => Err(OpError::NotRunning(self.name.to_string())),
            Some(w) => w.write(&bytes.into()).await.map_err(|e| OpError::Io(e.to_string())),
        }
    }

    pub fn template(&self, name: &str) -> Result<&RequestTemplate, OpError> {
        self.config.requests.iter().find(|t| t.name == name).ok_or_else(|| OpError::UnknownTemplate {
            sidecar: self.name.to_string(),
            template: name.to_string(),
            known: self.config.requests.iter().map(|t| t.name.clone()).collect(),
        })
    }

    /// Sends one request (recorded like any other) and returns the exchange.
    pub async fn request(&self, spec: &RequestSpec) -> Result<Arc<Exchange>, OpError> {
        let ipc = self.ipc.as_ref().ok_or_else(|| OpError::NoIpc(self.name.to_string()))?;
        Ok(ipc.request(spec, Origin::Operator).await)
    }
}
