//! Bringing a new child into the conversation the application had with the old one, so
//! a restart goes unnoticed: the application's own `initialize` is sent again (under an
//! id of sidetop's, its reply kept from the application), then its `initialized`; a
//! language server gets every open document again with its current text; an MCP server
//! is asked for its tools, and the application is told `notifications/tools/list_changed`
//! when they differ from the ones it was given.
//!
//! Until this is done the application's bytes wait. Whatever else the child writes
//! meanwhile reaches the application unchanged, frame by frame.

use super::frames::next_frame;
use super::{PipeReader, WrapIo};
use crate::config::ipc::Speaks;
use crate::ipc::protocol::encode;
use crate::ipc::tap::Side;
use bytes::BytesMut;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::Mutex;

/// How long a new child may take to answer the replayed requests.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

pub(super) async fn rejoin(
    io: &WrapIo,
    run: u64,
    stdin: &Mutex<ChildStdin>,
    reader: &mut PipeReader,
    pending: &mut BytesMut,
) {
    let Some(tap) = &io.tap else { return };
    // Everything the application said so far is in the session.
    if !tap.barrier().await {
        tracing::warn!(
            "wrap: the observer did not answer; run {run} starts without the application's session"
        );
        return;
    }
    let session = tap.session.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(mut initialize) = session.initialize.clone() else { return };
    if session.missed_some {
        tracing::warn!(
            "wrap: some of the application's bytes were not observed; the session replayed may be out of date"
        );
    }
    let mut joiner = Joiner { io, run, stdin, reader, pending };
    let marker = format!("sidetop-rejoin-{run}");
    initialize["id"] = json!(marker);
    let Some(_reply) = joiner.ask(&initialize, &marker).await else {
        tracing::warn!("wrap: run {run} did not answer the application's initialize again");
        return;
    };
    let mut told = Vec::new();
    if let Some(initialized) = &session.initialized {
        told.push(initialized.clone());
    }
    if io.speaks == Speaks::Lsp {
        told.extend(session.reopen());
    }
    for message in &told {
        joiner.send(message).await;
    }
    let mut said = format!("replayed initialize, {} notifications", told.len());
    if io.speaks == Speaks::Mcp
        && let Some(before) = &session.tools
    {
        let marker = format!("sidetop-rejoin-{run}-tools");
        let list = json!({"jsonrpc": "2.0", "id": marker, "method": "tools/list"});
        let now = joiner.ask(&list, &marker).await.and_then(|r| r.pointer("/result/tools").cloned());
        if now.as_ref().and_then(Value::as_array).is_none_or(|now| !same_tools(before, now)) {
            let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
            if io.write_stdout(&encode(&changed, io.framing)).await.is_ok() {
                said.push_str(", told the application its tools changed");
            }
        }
    }
    tracing::info!("wrap: run {run} joined the application's session ({said})");
}

/// Tools compared as sets, by what the application sees of them.
fn same_tools(before: &[Value], now: &[Value]) -> bool {
    let sorted = |tools: &[Value]| {
        let mut tools: Vec<String> = tools.iter().map(Value::to_string).collect();
        tools.sort();
        tools
    };
    sorted(before) == sorted(now)
}

struct Joiner<'a> {
    io: &'a WrapIo,
    run: u64,
    stdin: &'a Mutex<ChildStdin>,
    reader: &'a mut PipeReader,
    pending: &'a mut BytesMut,
}

impl Joiner<'_> {
    async fn send(&mut self, message: &Value) -> bool {
        let bytes = encode(message, self.io.framing);
        self.stdin.lock().await.write_all(&bytes).await.is_ok()
    }

    /// Sends a request and waits for the reply with `id`, which is kept from the
    /// application; every other frame the child writes meanwhile is passed on.
    async fn ask(&mut self, request: &Value, id: &str) -> Option<Value> {
        if !self.send(request).await {
            return None;
        }
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        loop {
            while let Some((len, body)) = next_frame(self.pending, self.io.framing) {
                let frame = self.pending.split_to(len);
                let message: Option<Value> = serde_json::from_slice(&frame[body]).ok();
                if let Some(message) = message.filter(|m| m.get("id").and_then(Value::as_str) == Some(id)) {
                    return Some(message);
                }
                self.io.offer(Side::Child, Some(self.run), &frame, Instant::now());
                if self.io.write_stdout(&frame).await.is_err() {
                    return None;
                }
            }
            match tokio::time::timeout_at(deadline, self.reader.read(self.pending)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
            self.pending.reserve(super::READ_SIZE);
        }
    }
}
