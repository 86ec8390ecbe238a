//! The in-process transport: a session on the engine, driven through channels, with the
//! notices passed as values (nothing is serialized).

use super::PROTOCOL_VERSION;
use super::engine::Engine;
use super::link::{Caller, Link};
use super::session::{Handled, Session};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Notices in flight between the relay and the dashboard; past this the session's own
/// bounded queue fills and skips, as for a socket client.
const HANDOFF: usize = 64;

pub fn connect(engine: Arc<Engine>) -> Link {
    let (mut session, mut queue) = Session::new(engine.clone(), false);
    let hello = match session.call("hello", json!({"version": PROTOCOL_VERSION})) {
        Handled::Now(Ok(hello)) => hello,
        _ => unreachable!("the same version always says hello"),
    };
    let (caller, mut calls) = Caller::new();
    let (notices_tx, notices) = mpsc::channel(HANDOFF);
    let skipped = session.outbox.skipped();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                notice = queue.recv() => notice,
                _ = notices_tx.closed() => None,
            };
            let Some(notice) = next else { return };
            if notices_tx.send(notice).await.is_err() {
                return;
            }
            if queue.is_empty()
                && let Some(said) = skipped.notices(&engine)
            {
                for notice in said {
                    if notices_tx.send(notice).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            match session.call(&call.method, call.params) {
                Handled::Now(result) => drop(call.reply.send(result)),
                Handled::Later(reply) => drop(tokio::spawn(async move { call.reply.send(reply.await) })),
            }
        }
    });
    Link { caller, notices, hello, received: Default::default() }
}
