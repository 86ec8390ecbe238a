//! The engine: starts every sidecar from a [`Config`], keeps each alive by its policy,
//! captures its output, and stops them all. One [`Supervisor`] handle serves every
//! front end (headless, the dashboard, tests, a future control socket); it knows
//! nothing about any of them.

pub mod exit;
mod logfile;
mod output;
pub mod policy;
mod reaper;
mod sidecar;
pub mod spawn;
pub mod splitter;
pub mod status;
mod stdin;

pub use exit::ExitInfo;
pub use output::LineBatch;
pub use status::{Event, EventKind, State, Status};

use crate::config::{Config, SidecarConfig};
use crate::logs::LogBuffer;
use bytes::Bytes;
use nix::sys::signal::Signal;
use output::OutputSink;
use policy::RestartTracker;
use reaper::Reaper;
use sidecar::{Command, EventSink, Runner};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use stdin::StdinWriter;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    UnknownSidecar(String),
    NotRunning(String),
    /// The engine task is gone (sidetop is shutting down).
    EngineGone,
    Io(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::UnknownSidecar(name) => write!(f, "no sidecar named {name:?}"),
            OpError::NotRunning(name) => write!(f, "{name} is not running"),
            OpError::EngineGone => write!(f, "the supervisor is shutting down"),
            OpError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpError {}

#[derive(Default)]
pub struct Options {
    /// Receives every captured line, in order, with backpressure: a slow receiver slows
    /// the children (headless mode wants that: nothing is lost).
    pub lines: Option<mpsc::Sender<LineBatch>>,
    /// Where events go. Pass a sender you already subscribed to, to see the very first
    /// events (they can happen before `start` returns); by default a new channel.
    pub events: Option<broadcast::Sender<Event>>,
    /// Skip the orphan-reaper process (only for tests of the reaper's absence).
    pub no_reaper: bool,
}

/// What everyone can see of one sidecar.
pub struct SidecarHandle {
    pub index: usize,
    pub name: Arc<str>,
    pub config: SidecarConfig,
    status: watch::Receiver<Status>,
    commands: mpsc::Sender<Command>,
    logs: Arc<Mutex<LogBuffer>>,
    history: Arc<Mutex<VecDeque<Event>>>,
    stdin: Arc<Mutex<Option<StdinWriter>>>,
}

impl SidecarHandle {
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (for waiting on a state).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    pub fn logs(&self) -> MutexGuard<'_, LogBuffer> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn events(&self) -> Vec<Event> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    async fn command(&self, make: impl FnOnce(sidecar::Reply) -> Command) -> Result<(), OpError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| OpError::EngineGone)?;
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

    /// Writes to the sidecar's stdin; waits until written (bounded by a timeout).
    pub async fn write_stdin(&self, bytes: impl Into<Bytes>) -> Result<(), OpError> {
        let writer = self.stdin.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match writer {
            None => Err(OpError::NotRunning(self.name.to_string())),
            Some(w) => w
                .write(bytes.into())
                .await
                .map_err(|e| OpError::Io(e.to_string())),
        }
    }
}

/// Events a subscriber may fall behind by before it skips ahead.
pub const EVENT_BACKLOG: usize = 4096;

pub struct Supervisor {
    sidecars: Vec<Arc<SidecarHandle>>,
    events: broadcast::Sender<Event>,
    changed: Arc<Notify>,
}

impl Supervisor {
    /// Starts the engine (inside a tokio runtime): one task per sidecar; those with
    /// `autostart` start now, in dependency order.
    pub fn start(config: &Config, options: Options) -> std::io::Result<Supervisor> {
        let reaper = if options.no_reaper {
            None
        } else {
            Some(Arc::new(Reaper::start()?))
        };
        let events = options
            .events
            .clone()
            .unwrap_or_else(|| broadcast::channel(EVENT_BACKLOG).0);
        let changed = Arc::new(Notify::new());
        let mut statuses = Vec::new();
        let mut handles = Vec::new();
        let mut runners = Vec::new();
        for (index, cfg) in config.sidecars.iter().enumerate() {
            let name: Arc<str> = Arc::from(cfg.name.as_str());
            let initial = if cfg.autostart {
                State::Starting
            } else {
                State::Idle
            };
            let (status_tx, status_rx) = watch::channel(Status {
                state: initial,
                ..Status::default()
            });
            let (cmd_tx, cmd_rx) = mpsc::channel(64);
            let logs = Arc::new(Mutex::new(LogBuffer::new(
                cfg.output.scrollback_lines,
                cfg.output.scrollback_bytes,
            )));
            let history = Arc::new(Mutex::new(VecDeque::new()));
            let stdin = Arc::new(Mutex::new(None));
            let log_file = match &cfg.log_file {
                None => None,
                Some(lf) => Some(logfile::start(lf, &cfg.name).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("{}: log file {}: {e}", cfg.name, lf.path.display()),
                    )
                })?),
            };
            let output = Arc::new(OutputSink {
                sidecar: index,
                logs: logs.clone(),
                subscriber: options.lines.clone(),
                log_file,
                changed: changed.clone(),
            });
            statuses.push(status_rx.clone());
            handles.push(Arc::new(SidecarHandle {
                index,
                name: name.clone(),
                config: cfg.clone(),
                status: status_rx,
                commands: cmd_tx,
                logs,
                history: history.clone(),
                stdin: stdin.clone(),
            }));
            runners.push(Runner {
                config: cfg.clone(),
                status: status_tx,
                events: EventSink {
                    name,
                    history,
                    broadcast: events.clone(),
                    changed: changed.clone(),
                },
                output,
                stdin,
                deps: Vec::new(),
                reaper: reaper.clone(),
                commands: cmd_rx,
                tracker: RestartTracker::new(cfg.backoff, cfg.crash_loop),
            });
        }
        for runner in &mut runners {
            runner.deps = runner
                .config
                .depends_on
                .iter()
                .filter_map(|dep| config.sidecars.iter().position(|s| &s.name == dep))
                .map(|i| (config.sidecars[i].name.clone(), statuses[i].clone()))
                .collect();
        }
        for runner in runners {
            tokio::spawn(runner.run());
        }
        Ok(Supervisor {
            sidecars: handles,
            events,
            changed,
        })
    }

    pub fn sidecars(&self) -> &[Arc<SidecarHandle>] {
        &self.sidecars
    }

    pub fn get(&self, name: &str) -> Result<&Arc<SidecarHandle>, OpError> {
        self.sidecars
            .iter()
            .find(|s| &*s.name == name)
            .ok_or_else(|| OpError::UnknownSidecar(name.to_string()))
    }

    /// Every event from now on. A receiver that falls 4096 events behind skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Notified (coalesced) whenever any status, event or log changes.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Stops every sidecar in parallel, each after the sidecars that depend on it, each
    /// with its own grace period; returns when none has a process left.
    pub async fn shutdown(&self) {
        let mut tasks = tokio::task::JoinSet::new();
        for handle in &self.sidecars {
            let handle = handle.clone();
            let dependents: Vec<_> = self
                .sidecars
                .iter()
                .filter(|s| s.config.depends_on.iter().any(|d| **d == *handle.name))
                .map(|s| s.watch())
                .collect();
            tasks.spawn(async move {
                for mut dependent in dependents {
                    let _ = dependent.wait_for(|s| s.state.is_settled()).await;
                }
                let _ = handle.stop().await;
                let _ = handle.watch().wait_for(|s| s.state.is_settled()).await;
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// True when no sidecar has a process or a pending restart.
    pub fn all_settled(&self) -> bool {
        self.sidecars
            .iter()
            .all(|s| s.status.borrow().state.is_settled())
    }
}
