//! Subscriptions: events, status changes and log lines pushed to a client as
//! notifications, through its bounded outbox. A client that falls behind never slows the
//! engine or the children: what does not fit is counted, the client is told how many
//! items it missed (`skipped`, said by the session writer once the queue is empty) and gets
//! a fresh `status`; log followers pick up from the scrollback, and say how many lines
//! left it before they could be sent.

use crate::api::{EventInfo, SidecarInfo, lines_from};
use crate::supervisor::{SidecarHandle, Supervisor};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Messages queued for one client at most.
const OUTBOX: usize = 1024;
/// Lines per `log` notification at most.
const LINES_PER_MESSAGE: usize = 512;
/// Status is sent at most this often (a restart storm is many changes).
const STATUS_EVERY: Duration = Duration::from_millis(15);
/// A log follower whose client is behind tries again after this long.
const RETRY: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<String>,
    skipped: Arc<AtomicU64>,
}

pub fn outbox() -> (Outbox, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    (Outbox { tx, skipped: Arc::default() }, rx)
}

impl Outbox {
    /// A reply: waits for room (the client asked for it). False when the client is gone.
    pub async fn reply(&self, message: Value) -> bool {
        self.tx.send(format!("{message}\n")).await.is_ok()
    }

    /// A notification: dropped and counted when the client is behind.
    fn notify(&self, method: &str, params: Value) -> bool {
        match self.offer(method, params) {
            Offer::Sent => true,
            Offer::Full => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Offer::Gone => false,
        }
    }

    /// A notification if there is room, without counting it as skipped when there is not
    /// (log followers try again later from the same line).
    fn offer(&self, method: &str, params: Value) -> Offer {
        self.offer_line(format!("{}\n", json!({"jsonrpc": "2.0", "method": method, "params": params})))
    }

    fn offer_line(&self, line: String) -> Offer {
        match self.tx.try_send(line) {
            Ok(()) => Offer::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Gone,
        }
    }

    /// The count of notifications dropped and not yet reported.
    pub fn skipped(&self) -> Arc<AtomicU64> {
        self.skipped.clone()
    }
}

/// For the session's writer once it has emptied the queue: the `skipped` notice and a
/// fresh `status`, as lines, when anything was dropped.
pub fn skipped_notice(skipped: &AtomicU64, sup: &Supervisor) -> Option<String> {
    let missed = skipped.swap(0, Ordering::Relaxed);
    (missed > 0).then(|| {
        let notice = json!({"jsonrpc": "2.0", "method": "skipped", "params": {"count": missed}});
        let present = json!({"jsonrpc": "2.0", "method": "status", "params": status(sup)});
        format!("{notice}\n{present}\n")
    })
}

/// A `log` notification, serialized straight from the lines (no `Value` in between: a
/// flood is hundreds of thousands of lines a second).
fn log_notice(sidecar: &str, lines: &[crate::api::LogLineInfo], gone: u64) -> String {
    #[derive(serde::Serialize)]
    struct Params<'a> {
        sidecar: &'a str,
        lines: &'a [crate::api::LogLineInfo],
        gone: u64,
    }
    #[derive(serde::Serialize)]
    struct Notice<'a> {
        jsonrpc: &'static str,
        method: &'static str,
        params: Params<'a>,
    }
    let notice = Notice { jsonrpc: "2.0", method: "log", params: Params { sidecar, lines, gone } };
    let mut line = serde_json::to_string(&notice).expect("plain data always serializes");
    line.push('\n');
    line
}

enum Offer {
    Sent,
    Full,
    Gone,
}

fn status(sup: &Supervisor) -> Value {
    json!({"sidecars": sup.sidecars().iter().map(|h| SidecarInfo::of(h)).collect::<Vec<_>>()})
}

pub struct Follow {
    pub events: bool,
    pub status: bool,
    pub logs: Vec<Arc<SidecarHandle>>,
    pub stderr_only: bool,
    /// Start the logs here (sequence numbers); by default, from now.
    pub from_seq: Option<u64>,
}

pub fn start(tasks: &mut tokio::task::JoinSet<()>, sup: &Arc<Supervisor>, outbox: &Outbox, follow: Follow) {
    if follow.events {
        let (outbox, mut rx) = (outbox.clone(), sup.subscribe());
        tasks.spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        outbox.notify("event", json!(EventInfo::from(&event)));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        outbox.skipped.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    if follow.status {
        let (sup, outbox) = (sup.clone(), outbox.clone());
        tasks.spawn(async move {
            let mut watches: Vec<_> = sup.sidecars().iter().map(|h| h.watch()).collect();
            let mut last = Value::Null;
            let mut sent_at = tokio::time::Instant::now();
            loop {
                let now = status(&sup);
                if now != last && outbox.notify("status", now.clone()) {
                    last = now;
                    sent_at = tokio::time::Instant::now();
                }
                let changes: Vec<_> = watches.iter_mut().map(|w| Box::pin(w.changed())).collect();
                // Also a second's tick: uptimes and line counts move without a state change.
                tokio::select! {
                    _ = crate::wait::first_of(changes) => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                // A change after a quiet spell goes out at once; a storm, at most this often.
                tokio::time::sleep_until(sent_at + STATUS_EVERY).await;
            }
        });
    }
    for handle in follow.logs {
        let outbox = outbox.clone();
        let stderr_only = follow.stderr_only;
        let mut next = follow.from_seq.unwrap_or_else(|| handle.logs().total_lines);
        tasks.spawn(async move {
            let mut lines_seen = handle.watch_lines();
            loop {
                let (lines, gone, after) = lines_from(&handle, next, LINES_PER_MESSAGE, stderr_only);
                let caught_up = lines.len() < LINES_PER_MESSAGE;
                if !lines.is_empty() || gone > 0 {
                    match outbox.offer_line(log_notice(&handle.name, &lines, gone)) {
                        Offer::Sent => {}
                        // The client is behind: the same lines again in a moment (or, if
                        // they have left the scrollback by then, how many are gone).
                        Offer::Full => {
                            tokio::time::sleep(RETRY).await;
                            continue;
                        }
                        Offer::Gone => return,
                    }
                }
                next = after;
                if caught_up && lines_seen.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}
