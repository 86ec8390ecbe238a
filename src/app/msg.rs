//! What the dashboard reacts to ([`Msg`]) and what it asks the outside world to do
//! ([`Effect`]). `update` turns one into the other without doing any I/O itself.

use crate::config::ipc::RequestSpec;
use crate::ipc::load::LoadPlan;
use crate::ipc::protocol::Exchange;
use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Text pasted into the terminal (bracketed paste): for the focused text field only,
    /// never read as keys.
    Paste(String),
    /// The result of an effect, for the status line.
    Done(String),
    /// A reply to a test request.
    Reply(Arc<Exchange>),
    /// A load run finished; its summary as text.
    LoadDone(String),
    /// Every sidecar has stopped: the quit can finish.
    AllStopped,
    /// Attached: the agent refused to stop (read-only, gone): the dashboard goes on.
    QuitAborted(String),
    /// Something from the engine: status, an event, log lines, samples, latency, traffic.
    Notice(crate::api::Notice),
    /// A fresh snapshot (after a reload changed the set of sidecars).
    Snapshot(Box<crate::api::Snapshot>),
    /// What a reload would do (to confirm), or why the config cannot be reloaded.
    ReloadPlan(Result<String, String>),
    /// What a reload did, or why it did nothing.
    ReloadDone(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Start(usize),
    Stop(usize),
    Restart(usize),
    Kill(usize),
    ClearLogs(usize),
    Request {
        sidecar: usize,
        spec: RequestSpec,
    },
    Load {
        sidecar: usize,
        spec: RequestSpec,
        plan: LoadPlanEq,
    },
    /// Follow exactly these sidecars' logs, each from a sequence number.
    FollowLogs(Vec<(String, u64)>),
    /// Graceful stop of everything, then exit.
    Shutdown,
    /// Attached: leave, and every sidecar keeps running.
    Detach,
    /// Read the config again; `dry_run`: only say what would change.
    Reload {
        dry_run: bool,
    },
    /// Take a new snapshot of the engine.
    Resnapshot,
    /// Put this text on the clipboard (OSC 52, through the terminal).
    Copy(String),
    /// Show this text in `$PAGER`, the dashboard suspended meanwhile.
    Page(String),
    /// Write the lines of this sidecar's view to a file (0600) in the current folder.
    Save {
        sidecar: String,
        text: String,
    },
    /// SIGKILL what is left and exit now.
    ForceQuit,
}

/// `LoadPlan` with equality, for tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadPlanEq {
    pub requests: u64,
    pub concurrency: usize,
}

impl From<LoadPlanEq> for LoadPlan {
    fn from(p: LoadPlanEq) -> LoadPlan {
        LoadPlan { requests: Some(p.requests), duration: None, concurrency: p.concurrency }
    }
}
