//! One live connection to a JSON-RPC or json-lines sidecar (its stdio, or a socket):
//! writes requests in order, matches replies (by id, or in order for json-lines), times
//! requests out, and never lets a late reply land on another request.

use super::protocol::{Incoming, Outcome, classify, encode};
use crate::config::ipc::Framing;
use crate::os::serial_writer::StdinWriter;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Timed-out ids remembered so their late replies are recognised.
const LATE_MEMORY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    JsonRpc,
    JsonLines,
}

#[derive(Debug)]
pub struct Reply {
    pub text: String,
    pub at: Instant,
    pub outcome: Outcome,
}

/// How an incoming frame was handled, for the caller's metrics and log routing.
#[derive(Debug, PartialEq)]
pub enum Routed {
    Delivered,
    Late,
    UnknownId(String),
    /// A notification, or a request (with its id) from the sidecar.
    Incoming {
        method: String,
        request_id: Option<Value>,
        /// Its `params`, parsed once here (a batch item's own, not the batch's).
        params: Value,
    },
    /// Looked like protocol but was not valid; the text still belongs in the log.
    Malformed(String),
    /// Not a protocol frame (a stray print): the log's.
    NotProtocol,
    /// A JSON-RPC batch: how each of its items was handled, in order.
    Batch(Vec<Routed>),
}

#[derive(Default)]
struct Pending {
    by_id: HashMap<u64, oneshot::Sender<Reply>>,
    /// json-lines: replies come in request order; `None` marks a request that timed out.
    fifo: VecDeque<(u64, Option<oneshot::Sender<Reply>>)>,
    timed_out: VecDeque<u64>,
    timed_out_set: HashSet<u64>,
    closed: Option<Outcome>,
    /// When progress was last reported about a request in flight (MCP progress tokens
    /// are our ids): its wait is extended from there.
    progressed: HashMap<u64, tokio::time::Instant>,
}

pub struct RpcConn {
    dialect: Dialect,
    framing: Framing,
    writer: StdinWriter,
    pending: Mutex<Pending>,
    /// Shared by every connection of one sidecar: ids never repeat across runs, so a
    /// stale reply from an old run cannot complete a new run's request.
    next_id: Arc<AtomicU64>,
    /// json-lines: a line is a reply only if this JSON pointer resolves in it (so JSON
    /// log lines are not taken for replies).
    reply_has: Option<String>,
    /// Progress reports extend a request's wait up to this much in all.
    max_timeout: Duration,
}

/// The result of one call: what was sent, and how it ended.
pub struct Call {
    pub request: String,
    pub outcome: Outcome,
    pub response: Option<String>,
    pub latency: Option<Duration>,
}

impl RpcConn {
    pub fn new(
        dialect: Dialect,
        framing: Framing,
        writer: StdinWriter,
        next_id: Arc<AtomicU64>,
        reply_has: Option<String>,
        max_timeout: Duration,
    ) -> RpcConn {
        RpcConn {
            dialect,
            framing,
            writer,
            pending: Mutex::new(Pending::default()),
            next_id,
            reply_has,
            max_timeout,
        }
    }

    /// The server reported progress about request `id`: its wait goes on.
    pub fn touch(&self, id: u64) {
        let mut p = self.lock();
        if p.by_id.contains_key(&id) {
            p.progressed.insert(id, tokio::time::Instant::now());
        }
    }

    /// A new deadline for `id` if progress came since `deadline` was set: `timeout` after
    /// the last report, never past `max_timeout` from the start.
    fn extended(
        &self,
        id: u64,
        began: tokio::time::Instant,
        timeout: Duration,
    ) -> Option<tokio::time::Instant> {
        let last = *self.lock().progressed.get(&id)?;
        let next = (last + timeout).min(began + self.max_timeout.max(timeout));
        (next > tokio::time::Instant::now()).then_some(next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a message without waiting for anything back (a JSON-RPC notification, or
    /// our answer to a request from the sidecar).
    pub async fn send_only(&self, message: &Value) -> Result<(), Outcome> {
        self.writer.write(&encode(message, self.framing)).await.map_err(|e| Outcome::Transport(e.to_string()))
    }

    /// `make` builds the message given the id (JSON-RPC) or ignores it (json-lines).
    pub async fn call(&self, make: impl FnOnce(u64) -> Value, timeout: Duration) -> Call {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = make(id);
        let bytes = encode(&message, self.framing);
        let body = memchr::memmem::find(&bytes, b"\r\n\r\n").map_or(&bytes[..], |i| &bytes[i + 4..]);
        let request = String::from_utf8_lossy(body.trim_ascii_end()).into_owned();
        let fail = |outcome| Call { request: request.clone(), outcome, response: None, latency: None };
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, mut rx) = oneshot::channel();
        // Holding the writer while registering keeps registration order = write order,
        // which json-lines replies depend on.
        let Ok(mut writer) = tokio::time::timeout_at(deadline, self.writer.lock_owned()).await else {
            return fail(Outcome::Timeout(timeout));
        };
        {
            let mut p = self.lock();
            if let Some(reason) = &p.closed {
                return fail(reason.clone());
            }
            match self.dialect {
                Dialect::JsonRpc => {
                    p.by_id.insert(id, tx);
                }
                Dialect::JsonLines => p.fifo.push_back((id, Some(tx))),
            }
        }
        let start = Instant::now();
        // The deadline bounds the wait, never a write that has begun: a frame cut off
        // half-way would corrupt every frame after it. A write still going at the
        // deadline finishes on its own (bounded by the writer's own timeout, which marks
        // the stream broken).
        let mut write = Box::pin(async move { writer.write(&bytes).await });
        let written = tokio::select! {
            result = &mut write => Some(result),
            _ = tokio::time::sleep_until(deadline) => None,
        };
        match written {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.forget(&mut self.lock(), id);
                return fail(Outcome::Transport(e.to_string()));
            }
            None => {
                tokio::spawn(async move {
                    if let Err(e) = write.await {
                        tracing::debug!("a timed-out request's write failed: {e}");
                    }
                });
                self.forget(&mut self.lock(), id);
                return fail(Outcome::Timeout(timeout));
            }
        }
        let began = deadline - timeout;
        let mut deadline = deadline;
        let reply = loop {
            tokio::select! {
            reply = &mut rx => break reply.ok(),
            _ = tokio::time::sleep_until(deadline) => {
                if let Some(later) = self.extended(id, began, timeout) {
                    deadline = later;
                    continue;
                }
                let mut p = self.lock();
                self.forget(&mut p, id);
                if self.dialect == Dialect::JsonRpc {
                    p.timed_out.push_back(id);
                    p.timed_out_set.insert(id);
                    if p.timed_out.len() > LATE_MEMORY {
                        let old = p.timed_out.pop_front().expect("non-empty");
                        p.timed_out_set.remove(&old);
                    }
                }
                drop(p);
                // A reply may have raced the timer.
                match rx.try_recv() {
                    Ok(reply) => break Some(reply),
                    Err(_) => return fail(Outcome::Timeout(timeout)),
                }
            }
            }
        };
        match reply {
            Some(reply) => Call {
                request,
                outcome: reply.outcome,
                response: Some(reply.text),
                latency: Some(reply.at.saturating_duration_since(start)),
            },
            // Dropped without a reply: the connection closed.
            None => {
                fail(self.lock().closed.clone().unwrap_or(Outcome::Transport("connection closed".into())))
            }
        }
    }

    /// Stops waiting for `id`: JSON-RPC forgets it; json-lines keeps its place in the
    /// order (the reply may still come) but nobody receives it.
    fn forget(&self, p: &mut Pending, id: u64) {
        match self.dialect {
            Dialect::JsonRpc => {
                p.by_id.remove(&id);
                p.progressed.remove(&id);
            }
            Dialect::JsonLines => {
                if let Some(entry) = p.fifo.iter_mut().find(|(i, _)| *i == id) {
                    entry.1 = None;
                }
                // A sidecar that never answers must not grow this without bound.
                while p.fifo.len() > LATE_MEMORY && p.fifo.front().is_some_and(|(_, tx)| tx.is_none()) {
                    p.fifo.pop_front();
                }
            }
        }
    }

    /// Fails every request in flight with `outcome`, now, and refuses new ones.
    pub fn close(&self, outcome: Outcome) {
        let mut guard = self.lock();
        let p = &mut *guard;
        p.closed = Some(outcome.clone());
        let waiters: Vec<_> =
            p.by_id.drain().map(|(_, tx)| tx).chain(p.fifo.drain(..).filter_map(|(_, tx)| tx)).collect();
        drop(guard);
        let at = Instant::now();
        for tx in waiters {
            let _ = tx.send(Reply { text: String::new(), at, outcome: outcome.clone() });
        }
    }

    pub fn in_flight(&self) -> usize {
        let p = self.lock();
        p.by_id.len() + p.fifo.iter().filter(|(_, tx)| tx.is_some()).count()
    }

    /// Handles one frame (a stdout line, or a Content-Length body).
    pub fn route(&self, bytes: &[u8], at: Instant) -> Routed {
        let text = bytes.trim_ascii();
        if !matches!(text.first(), Some(b'{') | Some(b'[')) {
            return Routed::NotProtocol;
        }
        let parsed: Result<Value, _> = serde_json::from_slice(text);
        match self.dialect {
            Dialect::JsonRpc => match parsed {
                Err(e) => Routed::Malformed(format!("invalid JSON: {e}")),
                Ok(Value::Array(batch)) if batch.is_empty() => Routed::Malformed("empty batch".into()),
                Ok(Value::Array(batch)) => {
                    Routed::Batch(batch.into_iter().map(|item| self.route_rpc(item, None, at)).collect())
                }
                Ok(msg) => self.route_rpc(msg, Some(text), at),
            },
            Dialect::JsonLines => {
                if let Some(pointer) = &self.reply_has
                    && !parsed.as_ref().is_ok_and(|value| value.pointer(pointer).is_some())
                {
                    return Routed::NotProtocol;
                }
                let mut p = self.lock();
                let Some((_, waiter)) = p.fifo.pop_front() else {
                    return Routed::NotProtocol;
                };
                drop(p);
                let (outcome, routed) = match &parsed {
                    Ok(_) => (Outcome::Ok, Routed::Delivered),
                    Err(e) => (
                        Outcome::Malformed(format!("invalid JSON: {e}")),
                        Routed::Malformed(format!("invalid JSON: {e}")),
                    ),
                };
                match waiter {
                    Some(tx) => {
                        let _ =
                            tx.send(Reply { text: String::from_utf8_lossy(text).into_owned(), at, outcome });
                        routed
                    }
                    None => Routed::Late,
                }
            }
        }
    }

    /// `text` is the message as received, when it is the whole frame (not a batch item).
    fn route_rpc(&self, mut msg: Value, text: Option<&[u8]>, at: Instant) -> Routed {
        fn params(msg: &mut Value) -> Value {
            msg.get_mut("params").map(Value::take).unwrap_or_default()
        }
        match classify(&msg) {
            Incoming::Response { id, raw_id, result } => {
                let mut p = self.lock();
                let waiter = id.and_then(|id| p.by_id.remove(&id));
                if let Some(id) = id {
                    p.progressed.remove(&id);
                }
                let late = id.is_some_and(|id| p.timed_out_set.contains(&id));
                drop(p);
                match waiter {
                    Some(tx) => {
                        let outcome = match result {
                            Ok(_) => Outcome::Ok,
                            Err((code, message)) => Outcome::RpcError { code, message },
                        };
                        let text =
                            text.map_or_else(|| msg.to_string(), |t| String::from_utf8_lossy(t).into_owned());
                        let _ = tx.send(Reply { text, at, outcome });
                        Routed::Delivered
                    }
                    None if late => Routed::Late,
                    None => Routed::UnknownId(raw_id.to_string()),
                }
            }
            Incoming::Notification { method } => {
                Routed::Incoming { method, request_id: None, params: params(&mut msg) }
            }
            Incoming::Request { id, method } => {
                Routed::Incoming { method, request_id: Some(id), params: params(&mut msg) }
            }
            Incoming::Invalid(why) => Routed::Malformed(why),
            Incoming::NotRpc => Routed::NotProtocol,
        }
    }
}
