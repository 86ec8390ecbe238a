//! One client connection: requests in, replies and notifications out. Replies wait for
//! the client (it asked); notifications never do: they go through a bounded queue, and
//! what does not fit is counted and said (`skipped`), followed by a fresh `status`.

use super::Shared;
use super::follow::{self, Outbox};
use crate::api::{EventInfo, PROTOCOL_VERSION, SidecarInfo, codes, lines_from};
use crate::cli::RequestArgs;
use crate::supervisor::{OpError, SidecarHandle};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Longest request line accepted from a client.
const MAX_LINE: usize = 1 << 20;

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

struct Session {
    shared: Arc<Shared>,
    outbox: Outbox,
    hello: bool,
    read_only: bool,
    follows: tokio::task::JoinSet<()>,
}

type RpcResult = Result<Value, (i64, String)>;

pub async fn run(stream: UnixStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let (outbox, mut queue) = follow::outbox();
    // The writer holds no sender: the queue closes when the session ends.
    let (skipped, writer_shared) = (outbox.skipped(), shared.clone());
    let writer = tokio::spawn(async move {
        while let Some(line) = queue.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            // Caught up: say what was skipped meanwhile, if anything, then the present.
            if queue.is_empty()
                && let Some(notice) = follow::skipped_notice(&skipped, &writer_shared.supervisor)
                && write.write_all(notice.as_bytes()).await.is_err()
            {
                return;
            }
        }
    });
    let read_only = shared.options.read_only;
    let mut session =
        Session { shared, outbox, hello: false, read_only, follows: tokio::task::JoinSet::new() };
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE as u64).read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let reply = session.handle(&line).await;
        if let Some(reply) = reply
            && !session.outbox.reply(reply).await
        {
            break;
        }
    }
    // A client gone mid-request changes nothing: its follows stop, its actions stand.
    session.follows.abort_all();
    drop(session);
    let _ = writer.await;
}

impl Session {
    async fn handle(&mut self, line: &str) -> Option<Value> {
        let message: Value = match serde_json::from_str(line.trim()) {
            Ok(v) => v,
            Err(e) => return Some(error(Value::Null, -32700, format!("parse error: {e}"))),
        };
        let id = message.get("id").cloned();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            return Some(error(id.unwrap_or(Value::Null), -32600, "no method".into()));
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let result = self.call(method, &params).await;
        // Notifications (no id) get no reply.
        let id = id?;
        Some(match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => error(id, code, message),
        })
    }

    async fn call(&mut self, method: &str, params: &Value) -> RpcResult {
        if method == "hello" {
            return self.hello(params);
        }
        if !self.hello {
            return Err((codes::NO_HELLO, "say hello first (with the protocol version)".into()));
        }
        let sup = self.shared.supervisor.clone();
        match method {
            "status" => {
                Ok(json!({"sidecars": sup.sidecars().iter().map(|h| SidecarInfo::of(h)).collect::<Vec<_>>()}))
            }
            "start" | "stop" | "restart" | "kill" => {
                self.writable()?;
                let handles = self.named(params)?;
                let mut failed = Vec::new();
                for h in handles {
                    let result = match method {
                        "start" => h.start().await,
                        "stop" => h.stop().await,
                        "restart" => h.restart().await,
                        _ => h.kill().await,
                    };
                    if let Err(e) = result {
                        failed.push(e.to_string());
                    }
                }
                if failed.is_empty() { Ok(json!({})) } else { Err((codes::FAILED, failed.join("; "))) }
            }
            "signal" => {
                self.writable()?;
                let h = self.one(params)?;
                let name = params.get("signal").and_then(Value::as_str).unwrap_or("");
                let signal = crate::config::parse_signal(name).map_err(|e| (-32602, e))?;
                h.signal(signal).await.map(|_| json!({})).map_err(op_error)
            }
            "logs" => {
                let h = self.one(params)?;
                let limit = params.get("lines").and_then(Value::as_u64).unwrap_or(100) as usize;
                let stderr = params.get("stderr").and_then(Value::as_bool).unwrap_or(false);
                let total = h.logs().total_lines;
                let from = total.saturating_sub(if stderr { u64::MAX } else { limit as u64 });
                let (mut lines, _, _) = lines_from(&h, from, usize::MAX, stderr);
                let keep = lines.len().saturating_sub(limit);
                lines.drain(..keep);
                Ok(json!({"lines": lines, "next_seq": total}))
            }
            "events" => {
                let events: Vec<EventInfo> = match params.get("sidecar").and_then(Value::as_str) {
                    Some(_) => self.one(params)?.events().iter().map(EventInfo::from).collect(),
                    None => {
                        let mut all: Vec<_> = sup.sidecars().iter().flat_map(|h| h.events()).collect();
                        all.sort_by_key(|e| e.at);
                        all.iter().map(EventInfo::from).collect()
                    }
                };
                let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
                Ok(json!({"events": events[events.len().saturating_sub(limit)..]}))
            }
            "subscribe" => {
                let logs = match params.get("logs") {
                    Some(Value::String(all)) if all == "*" => sup.sidecars().to_vec(),
                    Some(Value::Array(_)) => self.named(&json!({"sidecars": params["logs"]}))?,
                    _ => Vec::new(),
                };
                let options = follow::Follow {
                    events: params.get("events").and_then(Value::as_bool).unwrap_or(false),
                    status: params.get("status").and_then(Value::as_bool).unwrap_or(false),
                    logs,
                    stderr_only: params.get("stderr").and_then(Value::as_bool).unwrap_or(false),
                    from_seq: params.get("from_seq").and_then(Value::as_u64),
                };
                follow::start(&mut self.follows, &sup, &self.outbox, options);
                Ok(json!({}))
            }
            "request" => {
                self.writable()?;
                let h = self.one(params)?;
                let args = request_args(&h.name, params);
                let spec = crate::request_cli::build_spec(&h.config, &args).map_err(|e| (-32602, e))?;
                let exchange = h.request(&spec).await.map_err(op_error)?;
                Ok(json!({
                    "ok": exchange.outcome.is_ok(),
                    "outcome": exchange.outcome.to_string(),
                    "method": exchange.method,
                    "request": exchange.request,
                    "response": exchange.response,
                    "latency_us": exchange.latency.map(|l| l.as_micros() as u64),
                    "status": exchange.status,
                }))
            }
            "shutdown" => {
                self.writable()?;
                self.shared.shutdown.notify_one();
                Ok(json!({}))
            }
            other => Err((-32601, format!("no method {other:?}"))),
        }
    }

    fn hello(&mut self, params: &Value) -> RpcResult {
        let version = params.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version != u64::from(PROTOCOL_VERSION) {
            return Err((
                codes::VERSION,
                format!(
                    "protocol version {version} is not spoken here (this sidetop speaks {PROTOCOL_VERSION})"
                ),
            ));
        }
        self.hello = true;
        self.read_only |= params.get("read_only").and_then(Value::as_bool).unwrap_or(false);
        Ok(json!({
            "version": PROTOCOL_VERSION,
            "sidetop": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "config": self.shared.options.config.display().to_string(),
            "read_only": self.read_only,
        }))
    }

    fn writable(&self) -> Result<(), (i64, String)> {
        if self.read_only { Err((codes::READ_ONLY, "this client is read-only".into())) } else { Ok(()) }
    }

    /// The sidecars named in `params.sidecars` (a list) or `params.sidecar`.
    fn named(&self, params: &Value) -> Result<Vec<Arc<SidecarHandle>>, (i64, String)> {
        let names: Vec<&str> = match (params.get("sidecars"), params.get("sidecar")) {
            (Some(Value::Array(list)), _) => list.iter().filter_map(Value::as_str).collect(),
            (_, Some(Value::String(one))) => vec![one.as_str()],
            _ => return Err((-32602, "name a sidecar (`sidecar`) or several (`sidecars`)".into())),
        };
        names.into_iter().map(|n| self.shared.supervisor.get(n).cloned().map_err(op_error)).collect()
    }

    fn one(&self, params: &Value) -> Result<Arc<SidecarHandle>, (i64, String)> {
        let mut all = self.named(params)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            _ => Err((-32602, "name exactly one sidecar".into())),
        }
    }
}

fn op_error(e: OpError) -> (i64, String) {
    let code = match e {
        OpError::UnknownSidecar(_) | OpError::UnknownTemplate { .. } => codes::UNKNOWN_SIDECAR,
        _ => codes::FAILED,
    };
    (code, e.to_string())
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The `request` method takes the same fields as `sidetop request`'s flags.
fn request_args(sidecar: &str, params: &Value) -> RequestArgs {
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
    let json_text = |key: &str| params.get(key).map(|v| v.to_string());
    RequestArgs {
        sidecar: sidecar.to_string(),
        template: text("template"),
        method: text("method"),
        params: json_text("params"),
        value: json_text("value"),
        path: text("path"),
        body: json_text("body"),
        requests: 1,
        concurrency: 1,
        duration: None,
        ready_timeout: std::time::Duration::from_secs(30),
    }
}
