//! The engine: starts every sidecar from a [`Config`], keeps each alive by its policy,
//! captures its output, talks to it over IPC, and stops them all. One [`Supervisor`]
//! serves every front end (headless, the dashboard, tests, a future control socket); it
//! knows nothing about any of them.

mod deathwatch;
pub mod exit;
mod handle;
mod health;
mod lifecycle;
pub mod line_feed;
mod logfile;
mod needs;
mod output;
mod passthrough;
mod pipe_reader;
pub mod policy;
mod polite;
mod process;
pub mod reload;
mod run;
mod sidecar;
pub mod spawn;
pub mod status;
mod subreaper;
#[cfg(test)]
mod tests;

pub use deathwatch::{
    SUBCOMMAND as DEATHWATCH_SUBCOMMAND, helper_main as deathwatch_main, prefork as prefork_death_watch,
};

pub use exit::ExitInfo;
pub use handle::{LogFileCounts, OpError, SidecarHandle};
pub use line_feed::{Fed, LineFeed, LineFeedReceiver, line_feed};
pub use output::LineBatch;
pub use sidecar::Tallies;
pub use status::{Event, EventKind, State, Status};

use crate::config::{Config, SidecarConfig};
use crate::ipc::Ipc;
use crate::ipc::protocol::Exchange;
use crate::logs::LogBuffer;
use deathwatch::DeathWatch;
use output::OutputSink;
use policy::RestartTracker;
use process::{OsSpawner, Spawner};
use sidecar::{EventSink, Runner};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Notify, broadcast, mpsc, watch};

/// Events (and exchanges) a subscriber may fall behind by before it skips ahead.
pub const EVENT_BACKLOG: usize = 4096;

#[derive(Default)]
pub struct Options {
    /// Receives every captured line, in order, and never slows a child: a receiver that
    /// falls behind is told how many lines it skipped (the headless printer).
    pub lines: Option<LineFeed>,
    /// Where events go. Pass a sender you already subscribed to, to see the very first
    /// events (they can happen before `start` returns); by default a new channel.
    pub events: Option<broadcast::Sender<Event>>,
    /// Where IPC exchanges go (same idea as `events`).
    pub exchanges: Option<broadcast::Sender<Arc<Exchange>>>,
    /// Skip the death-watch helper (only for tests of its absence).
    pub no_death_watch: bool,
    /// The sidetop binary to run the death-watch helper from (default: found by
    /// [`deathwatch::DeathWatch::locate`]).
    pub helper_exe: Option<std::path::PathBuf>,
    /// Make this process a child subreaper, so descendants that leave a sidecar's
    /// process group are re-parented here, reaped, and killed at shutdown. The binary
    /// turns it on; a library user decides (it changes who reaps the process's orphans).
    pub subreaper: bool,
}

impl Options {
    /// What the sidetop binary runs with: a child subreaper, the helper from itself.
    pub fn binary() -> Options {
        Options { subreaper: true, helper_exe: std::env::current_exe().ok(), ..Options::default() }
    }
}

pub struct Supervisor {
    sidecars: RwLock<Vec<Arc<SidecarHandle>>>,
    /// What building one more sidecar needs (a reload adds them).
    shared: Shared,
    /// Descendants that left their sidecar's group and were re-parented to us.
    adopted: subreaper::Adopted,
    tender: tokio::task::AbortHandle,
    /// Moves on when the set of sidecars changes (a reload).
    set_version: watch::Sender<u64>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

/// Channels and helpers every sidecar of this supervisor shares.
pub(crate) struct Shared {
    events: broadcast::Sender<Event>,
    exchanges: broadcast::Sender<Arc<Exchange>>,
    changed: Arc<Notify>,
    spawner: Arc<dyn Spawner>,
    lines: Option<LineFeed>,
}

/// What a sidecar restarted by a reload keeps from its previous incarnation.
pub(crate) struct Carry {
    logs: Arc<Mutex<LogBuffer>>,
    history: Arc<Mutex<VecDeque<Event>>>,
    tallies: Arc<Mutex<sidecar::Tallies>>,
    /// Kept when the IPC config did not change: the histograms go on.
    ipc: Option<Arc<Ipc>>,
    restarts: u32,
}

impl Shared {
    /// One sidecar's handle and the runner task that owns it (not yet spawned).
    fn build(
        &self,
        cfg: &SidecarConfig,
        carry: Option<Carry>,
    ) -> std::io::Result<(Arc<SidecarHandle>, Runner)> {
        let name: Arc<str> = Arc::from(cfg.name.as_str());
        let initial = if cfg.autostart { State::Starting } else { State::Idle };
        let restarts = carry.as_ref().map_or(0, |c| c.restarts);
        let (status_tx, status_rx) = watch::channel(Status { state: initial, restarts, ..Status::default() });
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (logs, history, tallies, ipc) = match carry {
            Some(c) => {
                c.logs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set_limits(cfg.output.scrollback_lines, cfg.output.scrollback_bytes);
                (c.logs, c.history, c.tallies, c.ipc)
            }
            None => (
                Arc::new(Mutex::new(LogBuffer::new(
                    cfg.output.scrollback_lines,
                    cfg.output.scrollback_bytes,
                ))),
                Arc::new(Mutex::new(VecDeque::new())),
                Arc::default(),
                None,
            ),
        };
        let stdin = Arc::new(Mutex::new(None));
        let event_sink = Arc::new(EventSink {
            name: name.clone(),
            history: history.clone(),
            tallies: tallies.clone(),
            broadcast: self.events.clone(),
            changed: self.changed.clone(),
        });
        let log_file = match &cfg.log_file {
            None => None,
            Some(lf) => Some(logfile::LogFile::start(lf, event_sink.clone()).map_err(|e| {
                std::io::Error::new(e.kind(), format!("{}: log file {}: {e}", cfg.name, lf.path.display()))
            })?),
        };
        let log_file_stats = log_file.as_ref().map(|f: &logfile::LogFile| f.stats.clone());
        let ipc = ipc.or_else(|| {
            cfg.ipc.clone().map(|ipc| {
                Arc::new(Ipc::new(name.clone(), ipc, self.exchanges.clone(), self.changed.clone()))
            })
        });
        let ready_log = cfg.health.as_ref().and_then(|h| h.ready_log.clone());
        let lines_seen = watch::channel(logs.lock().unwrap_or_else(|e| e.into_inner()).total_lines).0;
        let output = Arc::new(OutputSink {
            lines_seen: lines_seen.clone(),
            sidecar: name.clone(),
            max_line: cfg.output.max_line,
            logs: logs.clone(),
            subscriber: self.lines.clone(),
            log_file,
            changed: self.changed.clone(),
            ipc: ipc.clone().filter(|i| i.uses_stdio() && cfg.wrapped_by.is_none()),
            ready_log,
            mirror_stderr: cfg.wrapped_by.is_some(),
        });
        let wrap = cfg.wrapped_by.is_some().then(|| {
            Arc::new(passthrough::WrapIo::new(ipc.clone().map(crate::ipc::tap::Tap::start), cfg.ipc.as_ref()))
        });
        let handle = Arc::new(SidecarHandle {
            name: name.clone(),
            config: cfg.clone(),
            status: status_rx,
            commands: cmd_tx.clone(),
            logs,
            history,
            tallies,
            stdin: stdin.clone(),
            ipc: ipc.clone(),
            log_file: log_file_stats,
            lines_seen,
            wrap: wrap.clone(),
        });
        let runner = Runner {
            config: cfg.clone(),
            status: Arc::new(status_tx),
            events: event_sink,
            output,
            stdin,
            deps: Vec::new(),
            spawner: self.spawner.clone(),
            commands: cmd_rx,
            self_commands: cmd_tx.downgrade(),
            tracker: RestartTracker::new(cfg.backoff, cfg.crash_loop),
            ipc,
            generation: 0,
            wrap,
            draining: Default::default(),
        };
        Ok((handle, runner))
    }
}

/// Each sidecar's dependencies, as (name, status) pairs from `handles`.
fn deps_of(cfg: &SidecarConfig, handles: &[Arc<SidecarHandle>]) -> Vec<(String, watch::Receiver<Status>)> {
    cfg.depends_on
        .iter()
        .filter_map(|dep| handles.iter().find(|h| *h.name == **dep))
        .map(|h| (h.name.to_string(), h.watch()))
        .collect()
}

impl Supervisor {
    /// Starts the engine (inside a tokio runtime): one task per sidecar; those with
    /// `autostart` start now, in dependency order.
    pub fn start(config: &Config, options: Options) -> std::io::Result<Supervisor> {
        Supervisor::start_with(config, options, |reaper| Arc::new(OsSpawner { reaper }))
    }

    /// `start`, with the children started by the spawner `spawner` makes (given the
    /// death-watch helper): the lifecycle tests pass a fake child's.
    pub(crate) fn start_with(
        config: &Config,
        options: Options,
        spawner: impl FnOnce(Option<Arc<DeathWatch>>) -> Arc<dyn Spawner>,
    ) -> std::io::Result<Supervisor> {
        spawn::close_inherited_descriptors();
        let reaper = if options.no_death_watch {
            None
        } else if let Some(preforked) = DeathWatch::preforked() {
            Some(Arc::new(preforked))
        } else {
            let exe = match &options.helper_exe {
                Some(exe) => exe.clone(),
                None => DeathWatch::locate()?,
            };
            Some(Arc::new(DeathWatch::start(&exe)?))
        };
        let subreaper = options.subreaper && subreaper::become_subreaper();
        if options.subreaper && !subreaper {
            tracing::warn!(
                "cannot become a child subreaper: processes that leave a sidecar's group may outlive it"
            );
        }
        let shared = Shared {
            events: options.events.clone().unwrap_or_else(|| broadcast::channel(EVENT_BACKLOG).0),
            exchanges: options.exchanges.clone().unwrap_or_else(|| broadcast::channel(EVENT_BACKLOG).0),
            changed: Arc::new(Notify::new()),
            spawner: spawner(reaper.clone()),
            lines: options.lines.clone(),
        };
        let mut handles = Vec::new();
        let mut runners = Vec::new();
        for cfg in &config.sidecars {
            let (handle, runner) = shared.build(cfg, None)?;
            handles.push(handle);
            runners.push(runner);
        }
        for runner in &mut runners {
            runner.deps = deps_of(&runner.config, &handles);
        }
        for runner in runners {
            tokio::spawn(runner.run());
        }
        let adopted = subreaper::Adopted::new(handles.iter().map(|h| h.watch()).collect(), reaper, subreaper);
        let tender = tokio::spawn(adopted.clone().run()).abort_handle();
        Ok(Supervisor {
            sidecars: RwLock::new(handles),
            shared,
            adopted,
            tender,
            set_version: watch::channel(0).0,
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// Every sidecar, in config order (a copy: a reload may change the set).
    pub fn sidecars(&self) -> Vec<Arc<SidecarHandle>> {
        self.sidecars.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Moves on when the set of sidecars changes (a reload): followers of the set look
    /// again.
    pub fn watch_set(&self) -> watch::Receiver<u64> {
        self.set_version.subscribe()
    }

    /// Each sidecar's name and main pid, in config order, read afresh on every call
    /// (for the resource sampler, which knows nothing of handles).
    pub fn pid_source(self: &Arc<Self>) -> impl Fn() -> Vec<(Arc<str>, Option<u32>)> + Send + 'static {
        let me = Arc::downgrade(self);
        move || {
            me.upgrade()
                .map(|sup| sup.sidecars().iter().map(|s| (s.name.clone(), s.status.borrow().pid)).collect())
                .unwrap_or_default()
        }
    }

    pub fn get(&self, name: &str) -> Result<Arc<SidecarHandle>, OpError> {
        self.sidecars
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|s| &*s.name == name)
            .cloned()
            .ok_or_else(|| OpError::UnknownSidecar(name.to_string()))
    }

    /// Every event from now on. A receiver that falls behind by `EVENT_BACKLOG` skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Every IPC exchange from now on (requests, health checks, messages from sidecars).
    pub fn subscribe_exchanges(&self) -> broadcast::Receiver<Arc<Exchange>> {
        self.shared.exchanges.subscribe()
    }

    /// Notified (coalesced) whenever any status, event, exchange or log changes.
    pub fn changed(&self) -> Arc<Notify> {
        self.shared.changed.clone()
    }

    /// Stops every sidecar in parallel, each after the sidecars that depend on it, each
    /// with its own grace period; returns when none has a process left.
    pub async fn shutdown(&self) {
        self.adopted.note_group_leavers().await;
        let mut tasks = tokio::task::JoinSet::new();
        let all = self.sidecars();
        for handle in &all {
            let handle = handle.clone();
            let dependents: Vec<_> = all
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
        self.adopted.kill_all().await;
    }

    /// SIGKILLs every sidecar's process group now (a forced quit) and waits, at most two
    /// seconds, until none has a process.
    pub async fn kill_all(&self) {
        self.adopted.note_group_leavers().await;
        let all = self.sidecars();
        for s in &all {
            let _ = s.kill().await;
        }
        let all_gone = async {
            for s in &all {
                let _ = s.watch().wait_for(|st| !st.state.has_process()).await;
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), all_gone).await;
        self.adopted.kill_all().await;
    }

    /// Stops tending adopted orphans (the supervisor is going away).
    fn stop_tending(&self) {
        self.tender.abort();
    }

    /// True when no sidecar has a process or a pending restart, and none waits for a
    /// dependency that could still come up.
    pub fn all_settled(&self) -> bool {
        let settled = |s: &SidecarHandle| s.status.borrow().state.is_settled();
        self.sidecars().iter().all(|s| {
            settled(s)
                || (s.status.borrow().state == State::Waiting
                    && s.config.depends_on.iter().all(|d| self.get(d).is_ok_and(|d| settled(&d))))
        })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_tending();
    }
}
