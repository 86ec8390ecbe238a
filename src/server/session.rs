//! One socket client: JSON-RPC requests in, replies and notifications out, one message
//! per line. Replies wait for the client (it asked); notifications never do: they go
//! through the session's bounded queue, and what does not fit is counted and said
//! (`skipped`), followed by a fresh `status`.

use crate::api::engine::Engine;
use crate::api::session::{Handled, Session};
use crate::api::{RpcResult, codes};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// Longest request line accepted from a client.
const MAX_LINE: usize = 1 << 20;
/// Replies waiting for the writer; past this the reader waits (the client asked for them).
const REPLIES: usize = 64;
/// Requests of one client being carried out at once; past this its next request waits (a
/// client that sends and never reads cannot pile up work in the agent).
const IN_FLIGHT: usize = 64;

pub async fn refuse(mut stream: UnixStream, uid: Option<u32>) {
    let message = format!("refused: uid {uid:?} is not this agent's user");
    let reply =
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": codes::READ_ONLY, "message": message}});
    let _ = stream.write_all(format!("{reply}\n").as_bytes()).await;
    // Let the client's first message arrive before closing, so it reads why instead of
    // failing its write on a closed socket.
    let mut first = [0u8; 1024];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut first)).await;
}

pub async fn run(stream: UnixStream, engine: Arc<Engine>, read_only: bool) {
    let (read, mut write) = stream.into_split();
    let (mut session, mut notices) = Session::new(engine.clone(), read_only);
    let (replies_tx, mut replies) = mpsc::channel::<Value>(REPLIES);
    let skipped = session.outbox.skipped();
    let writer = tokio::spawn(async move {
        let (mut replies_open, mut notices_open) = (true, true);
        while replies_open || notices_open {
            let line = tokio::select! {
                biased;
                reply = replies.recv(), if replies_open => match reply {
                    Some(reply) => format!("{reply}\n"),
                    None => { replies_open = false; continue; }
                },
                notice = notices.recv(), if notices_open => match notice {
                    Some(notice) => notification(&notice),
                    None => { notices_open = false; continue; }
                },
            };
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            // Caught up: say what was skipped meanwhile, if anything, then the present.
            if notices.is_empty()
                && let Some(said) = skipped.notices(&engine)
            {
                for notice in said {
                    if write.write_all(notification(&notice).as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut pending = tokio::task::JoinSet::new();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut reader = BufReader::new(read);
    // Bytes, not a String: a line that is not UTF-8 is a parse error for that message,
    // not the end of the connection.
    let mut line = Vec::new();
    loop {
        while pending.try_join_next().is_some() {}
        line.clear();
        match (&mut reader).take(MAX_LINE as u64).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            // Cut at the limit: the rest of that line would be read as more messages.
            Ok(_) if !line.ends_with(b"\n") && line.len() >= MAX_LINE => {
                let _ = replies_tx
                    .send(error(Value::Null, -32600, format!("a request over {MAX_LINE} bytes")))
                    .await;
                break;
            }
            Ok(_) => {}
        }
        let message: Value = match serde_json::from_slice(line.trim_ascii()) {
            Ok(v) => v,
            Err(e) => {
                let _ = replies_tx.send(error(Value::Null, -32700, format!("parse error: {e}"))).await;
                continue;
            }
        };
        let id = message.get("id").cloned();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            let _ = replies_tx.send(error(id.unwrap_or(Value::Null), -32600, "no method".into())).await;
            continue;
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match session.call(method, params) {
            Handled::Now(result) => {
                if let Some(id) = id {
                    let _ = replies_tx.send(reply(id, result)).await;
                }
            }
            // Notifications (no id) get no reply, but still run.
            Handled::Later(future) => {
                let replies_tx = replies_tx.clone();
                let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                pending.spawn(async move {
                    let _permit = permit;
                    let result = future.await;
                    if let Some(id) = id {
                        let _ = replies_tx.send(reply(id, result)).await;
                    }
                });
            }
        }
    }
    // A client that sent its last request and closed its end still gets the replies.
    while pending.join_next().await.is_some() {}
    drop(session);
    drop(replies_tx);
    let _ = writer.await;
}

/// A notice as a JSON-RPC notification line, serialized straight from the value (a
/// flood is hundreds of thousands of lines a second: no `Value` in between).
fn notification(notice: &crate::api::Notice) -> String {
    let body = serde_json::to_string(notice).expect("plain data always serializes");
    // `body` is `{"method":...,"params":...}`: put the version in front.
    format!("{{\"jsonrpc\":\"2.0\",{}\n", &body[1..])
}

fn reply(id: Value, result: RpcResult) -> Value {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => error(id, code, message),
    }
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}
