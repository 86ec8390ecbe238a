//! Building one sidecar: its handle (what front ends read) and its runner (the task that
//! keeps it alive), wired to the channels every sidecar of a supervisor shares.

use super::output::OutputSink;
use super::policy::RestartTracker;
use super::process::Spawner;
use super::scrollback::LogBuffer;
use super::sidecar::{self, EventSink, Runner};
use super::{Event, Life, LineFeed, SidecarHandle, Status, logfile, passthrough};
use crate::config::SidecarConfig;
use crate::ipc::Ipc;
use crate::ipc::protocol::Exchange;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast, mpsc, watch};

/// Channels and helpers every sidecar of this supervisor shares.
pub(crate) struct Shared {
    pub(super) events: broadcast::Sender<Event>,
    pub(super) exchanges: broadcast::Sender<Arc<Exchange>>,
    pub(super) changed: Arc<Notify>,
    /// Moves on with any sidecar's status.
    pub(super) statuses: Arc<watch::Sender<u64>>,
    pub(super) spawner: Arc<dyn Spawner>,
    pub(super) lines: Option<LineFeed>,
}

/// What a sidecar restarted by a reload keeps from its previous incarnation.
pub(crate) struct Carry {
    pub(super) logs: Arc<Mutex<LogBuffer>>,
    pub(super) history: Arc<Mutex<VecDeque<Event>>>,
    pub(super) tallies: Arc<Mutex<sidecar::Tallies>>,
    /// Kept when the IPC config did not change: the histograms go on.
    pub(super) ipc: Option<Arc<Ipc>>,
    pub(super) restarts: u32,
}

impl Shared {
    /// One sidecar's handle and the runner task that owns it (not yet spawned).
    pub(super) fn build(
        &self,
        cfg: &SidecarConfig,
        carry: Option<Carry>,
    ) -> std::io::Result<(Arc<SidecarHandle>, Runner)> {
        let name: Arc<str> = Arc::from(cfg.name.as_str());
        let initial = if cfg.autostart { Life::Starting } else { Life::Idle };
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
        if let (Some(wrap), Some(ipc)) = (&wrap, &ipc) {
            // sidetop's own requests to a wrapped sidecar go between the application's.
            let injector: Arc<dyn crate::ipc::inject::Injector> = wrap.clone();
            ipc.inject_through(Arc::downgrade(&injector));
        }
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
            status: Arc::new(super::status_tx::StatusTx::new(status_tx, self.statuses.clone())),
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
            proxy: None,
        };
        Ok((handle, runner))
    }
}
