//! A fleet of one: a single engine under its own names (no `ENGINE/` in front), every
//! call passed through as it is, for `attach --ssh HOST`, whose connection may drop and
//! be made again (the host's keeper adds the new link; its sidecars say `retrying`
//! meanwhile). The dashboard sees the engine's own hello, and the link ends when the
//! engine was asked to shut down and is gone, as a plain attach would.

use super::{AHEAD, Fleet, Pending, route};
use crate::api::link::{Caller, Link};
use serde_json::Value;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// `link`'s engine as a fleet of one, named "".
pub fn one_reconnecting(link: Link) -> (Link, Fleet) {
    let (caller, calls) = Caller::new();
    let (inner_tx, mut inner) = mpsc::channel(AHEAD);
    let (out_tx, notices) = mpsc::channel(AHEAD);
    let (end_tx, mut end) = oneshot::channel::<()>();
    // Between the fleet and the dashboard, so that the fleet can end the link while its
    // own senders live on (its keeper and its calls hold them).
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut end => return,
                notice = inner.recv() => {
                    let Some(notice) = notice else { return };
                    if out_tx.send(notice).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let fleet = Fleet::new(inner_tx, true, Some(end_tx));
    let (hello, received) = (link.hello.clone(), link.received.clone());
    fleet.join(String::new(), link);
    tokio::spawn(route(calls, fleet.clone()));
    (Link { caller, notices, hello, received }, fleet)
}

/// What the dashboard says when an engine joins (a fleet of one: when it is back).
pub fn joined_text(engine: &str) -> String {
    if engine.is_empty() { "the engine answers again".into() } else { format!("engine {engine} joined") }
}

/// How the fleet's texts name an engine.
pub(super) fn label(engine: &str) -> String {
    if engine.is_empty() { "the engine".into() } else { format!("engine {engine}") }
}

/// A call the fleet does not handle itself, to the one engine.
pub(super) fn passed_through(
    fleet: &Fleet,
    engines: &[(String, Caller)],
    method: String,
    params: Value,
) -> Pending {
    let Some((_, caller)) = engines.first() else {
        return super::refused("the engine is not answering now (reconnecting)");
    };
    if method == "shutdown" {
        fleet.0.stopping.store(true, Ordering::Relaxed);
    }
    Box::pin(caller.call(&method, params))
}

impl Fleet {
    /// The engine was asked to shut down: gone, it is not to be reconnected.
    pub fn is_stopping(&self) -> bool {
        self.0.stopping.load(Ordering::Relaxed)
    }

    /// Ends a bare fleet's link.
    pub fn end(&self) {
        if let Some(end) = self.0.end.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = end.send(());
        }
    }
}
