//! The API over a byte stream (the control socket, or the stdio of `ssh HOST sidetop ctl
//! bridge`), as a [`Link`]: the same thing the dashboard gets in-process. Calls get ids and
//! are answered in any order; notifications are decoded into [`Notice`]s. The reader
//! waits when the dashboard is behind, so the agent's bounded queue for this client
//! fills and skips, never the engine.

use crate::api::link::{Call, Caller, Link};
use crate::api::{Notice, PROTOCOL_VERSION, RpcResult, codes};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Notices decoded ahead of the dashboard.
const AHEAD: usize = 256;
/// Longest line accepted from the agent (a snapshot of many sidecars is big).
const MAX_LINE: usize = 256 << 20;

/// Calls waiting for their reply; `None` once the connection is gone (a later call fails
/// at once instead of waiting forever).
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<RpcResult>>>>>;

/// Says hello over `read`/`write` and returns the link, or why not.
pub async fn connect<R, W>(read: R, write: W, read_only: bool) -> io::Result<Link>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (caller, calls) = Caller::new();
    let (notices_tx, notices) = mpsc::channel(AHEAD);
    let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
    let received = Arc::new(AtomicU64::new(0));
    tokio::spawn(write_calls(write, calls, pending.clone()));
    tokio::spawn(read_messages(read, notices_tx, pending, received.clone()));
    let hello = caller
        .call("hello", json!({"version": PROTOCOL_VERSION, "read_only": read_only}))
        .await
        .map_err(|(_, message)| io::Error::new(io::ErrorKind::ConnectionRefused, message))?;
    Ok(Link { caller, notices, hello, received })
}

async fn write_calls<W: AsyncWrite + Unpin>(
    mut write: W,
    mut calls: mpsc::UnboundedReceiver<Call>,
    pending: Pending,
) {
    let mut next_id = 1u64;
    while let Some(call) = calls.recv().await {
        let id = next_id;
        next_id += 1;
        match pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(waiting) => drop(waiting.insert(id, call.reply)),
            None => {
                let _ = call.reply.send(Err((codes::GONE, "the connection to sidetop closed".into())));
                continue;
            }
        }
        let line = json!({"jsonrpc": "2.0", "id": id, "method": call.method, "params": call.params});
        if write.write_all(format!("{line}\n").as_bytes()).await.is_err() || write.flush().await.is_err() {
            break;
        }
    }
}

async fn read_messages<R: AsyncRead + Unpin>(
    read: R,
    notices: mpsc::Sender<Notice>,
    pending: Pending,
    received: Arc<AtomicU64>,
) {
    let mut reader = BufReader::with_capacity(1 << 16, read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match tokio::io::AsyncReadExt::take(&mut reader, MAX_LINE as u64).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(n) => drop(received.fetch_add(n as u64, Ordering::Relaxed)),
        }
        let Ok(mut message) = serde_json::from_slice::<Value>(&line) else {
            tracing::warn!("the agent sent a line that is not JSON");
            continue;
        };
        if message.get("method").is_some() {
            if let Value::Object(map) = &mut message {
                map.remove("jsonrpc");
            }
            match serde_json::from_value::<Notice>(message) {
                // Waits when the dashboard is behind: the agent skips for us.
                Ok(notice) => {
                    if notices.send(notice).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::debug!("an unknown notification: {e}"),
            }
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            // A refusal before hello (another uid) comes with a null id.
            if let Some(error) = message.get("error") {
                fail_all(&pending, rpc_error(error), false);
            }
            continue;
        };
        let reply = pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|w| w.remove(&id));
        let Some(reply) = reply else { continue };
        let result = match message.get("error") {
            Some(error) => Err(rpc_error(error)),
            None => Ok(message.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
        };
        let _ = reply.send(result);
    }
    fail_all(&pending, (codes::GONE, "the connection to sidetop closed".into()), true);
}

fn rpc_error(error: &Value) -> (i64, String) {
    (error["code"].as_i64().unwrap_or(0), error["message"].as_str().unwrap_or("error").to_string())
}

/// Fails every call waiting; `close`: and every later one.
fn fail_all(pending: &Pending, error: (i64, String), close: bool) {
    let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
    for (_, reply) in pending.iter_mut().flat_map(|w| w.drain()) {
        let _ = reply.send(Err(error.clone()));
    }
    if close {
        *pending = None;
    }
}
