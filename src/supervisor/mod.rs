//! The engine: starts every sidecar from a [`Config`], keeps each alive by its policy,
//! captures its output, talks to it over IPC, and stops them all. One [`Supervisor`]
//! serves every front end (headless, the dashboard, tests, a future control socket); it
//! knows nothing about any of them.

mod build;
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
mod proxy_link;
pub mod reload;
mod run;
pub mod scrollback;
mod sidecar;
pub mod spawn;
pub mod status;
mod status_tx;
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
pub use status::{Event, EventKind, Life, Status};

use crate::config::{Config, SidecarConfig};
use crate::ipc::protocol::Exchange;
use build::{Carry, Shared};
use deathwatch::DeathWatch;
use process::{OsSpawner, Spawner};
use std::sync::{Arc, RwLock};
use tokio::sync::{Notify, broadcast, watch};

/// Events (and exchanges) a subscriber may fall behind by before it skips ahead.
pub const EVENT_BACKLOG: usize = 4096;
/// Exchanges kept for receivers that fall behind (each holds up to two capped texts, so
/// fewer than events: a wrapper under bulk traffic must stay small).
pub const EXCHANGE_BACKLOG: usize = 256;

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
        Supervisor::start_with(config, options, |death_watch| Arc::new(OsSpawner { death_watch }))
    }

    /// `start`, with the children started by the spawner `spawner` makes (given the
    /// death-watch helper): the lifecycle tests pass a fake child's.
    pub(crate) fn start_with(
        config: &Config,
        options: Options,
        spawner: impl FnOnce(Option<Arc<DeathWatch>>) -> Arc<dyn Spawner>,
    ) -> std::io::Result<Supervisor> {
        spawn::close_inherited_descriptors();
        if let Some((was, now)) = crate::os::nofile::raise() {
            tracing::info!("open-file limit raised from {was} to {now} (children get {was})");
        }
        let death_watch = if options.no_death_watch {
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
            exchanges: options.exchanges.clone().unwrap_or_else(|| broadcast::channel(EXCHANGE_BACKLOG).0),
            changed: Arc::new(Notify::new()),
            statuses: Arc::new(watch::channel(0).0),
            spawner: spawner(death_watch.clone()),
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
        let adopted =
            subreaper::Adopted::new(handles.iter().map(|h| h.watch()).collect(), death_watch, subreaper);
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

    /// Moves on whenever any sidecar's status changes (one receiver for all of them).
    pub fn watch_statuses(&self) -> watch::Receiver<u64> {
        self.shared.statuses.subscribe()
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
                || (s.status.borrow().state == Life::Waiting
                    && s.config.depends_on.iter().all(|d| self.get(d).is_ok_and(|d| settled(&d))))
        })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_tending();
    }
}
