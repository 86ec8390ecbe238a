//! Talking to sidecars in their own protocol (JSON-RPC 2.0, json-lines, HTTP), measuring
//! every exchange. One [`Ipc`] per sidecar lives across restarts (so its histograms do);
//! a connection is attached for each running process.
//!
//! Long because the per-run connection, the transports and the protocol meaning still meet
//! here; splitting them into `ipc/transport/` and protocol profiles is the open part of
//! issue 19.

pub mod discovery;
pub mod framing;
#[cfg(feature = "grpc")]
mod grpc;
pub mod http;
pub mod load;
mod mcp_tasks;
pub mod meaning;
pub mod protocol;
pub mod proxy;
pub mod readable;
pub mod rpc;
mod socket;
pub mod stats;
mod streamable;
pub mod tap;
mod websocket;
mod ws_frames;

use crate::config::ipc::{IpcConfig, Protocol, RequestSpec, Speaks, Transport};
use crate::os::serial_writer::StdinWriter;
use discovery::Discovery;
use http::HttpClient;
use protocol::{Exchange, Origin, Outcome, cap_text, describe_request, rpc_message};
use rpc::{Dialect, Routed, RpcConn};
use serde_json::Value;
pub use stats::IpcMetrics;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use streamable::Streamable;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};

pub struct Ipc {
    pub name: Arc<str>,
    pub config: IpcConfig,
    metrics: Mutex<IpcMetrics>,
    conn: Mutex<Option<Arc<RpcConn>>>,
    connected: watch::Sender<bool>,
    http: Option<HttpClient>,
    permits: Semaphore,
    /// Answers to requests the sidecar sends us, being written; bounded so a sidecar
    /// that floods requests cannot make us queue without end.
    answering: Arc<Semaphore>,
    /// Request ids, shared by every connection so they never repeat across runs.
    next_id: Arc<AtomicU64>,
    exchanges: broadcast::Sender<Arc<Exchange>>,
    changed: Arc<Notify>,
    /// A process is attached (between `attach` and `detach`): requests made while it
    /// starts wait for it to listen instead of failing.
    attached: std::sync::atomic::AtomicBool,
    /// MCP over Streamable HTTP.
    streamable: Option<Streamable>,
    /// What the server said about itself and offers (MCP, LSP).
    discovery: Mutex<Discovery>,
    /// Moves on each time `discovery` changes, for front ends to pick it up.
    pub discovery_version: watch::Sender<u64>,
    /// Raised when the server says its lists changed (`notifications/tools/list_changed`).
    pub relist: Notify,
    /// Server messages that belong in the sidecar's log (log and progress notifications),
    /// to the current run's receiver, which appends them to the scrollback.
    notes: Mutex<Option<(mpsc::Sender<String>, Arc<AtomicU64>)>>,
    /// LSP: diagnostics per document, from `textDocument/publishDiagnostics`.
    diagnostics: Mutex<std::collections::BTreeMap<String, usize>>,
    /// WebSocket: the last ping's round trip.
    ping: Mutex<Option<Duration>>,
    #[cfg(feature = "grpc")]
    grpc: Option<grpc::GrpcClient>,
}

/// What [`Ipc::attach`] made for one run: its stdio connection, or the task that
/// connects to (and reconnects to) its socket or address while it lives.
#[derive(Default)]
pub struct Attachment {
    pub conn: Option<Arc<RpcConn>>,
    pub connector: Option<tokio::task::JoinHandle<()>>,
}

/// One run's server log messages (see `open_notes`), and how many did not fit the queue.
pub struct Notes {
    pub rx: mpsc::Receiver<String>,
    pub dropped: Arc<AtomicU64>,
}

impl Notes {
    /// Messages not queued since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// LSP documents whose diagnostics are counted, at most.
const MAX_DIAGNOSED: usize = 10_000;

/// Server log notifications queued for the scrollback at most (more are counted, and the
/// count is said in the log).
const NOTES_QUEUED: usize = 1024;

/// Answers to the sidecar's own requests being written at once, at most.
const MAX_ANSWERING: usize = 64;

impl Ipc {
    pub fn new(
        name: Arc<str>,
        config: IpcConfig,
        exchanges: broadcast::Sender<Arc<Exchange>>,
        changed: Arc<Notify>,
    ) -> Ipc {
        let http = match &config.protocol {
            Protocol::Http { url } => Some(HttpClient::new(url)),
            _ => None,
        };
        let streamable = match &config.transport {
            Transport::Http(url) => Some(Streamable::new(url)),
            _ => None,
        };
        Ipc {
            streamable,
            discovery: Mutex::new(Discovery::default()),
            discovery_version: watch::channel(0).0,
            relist: Notify::new(),
            notes: Mutex::new(None),
            diagnostics: Mutex::new(Default::default()),
            ping: Mutex::new(None),
            #[cfg(feature = "grpc")]
            grpc: match &config.protocol {
                Protocol::Grpc { address } => {
                    grpc::GrpcClient::new(address).map_err(|e| tracing::warn!("{name}: {e}")).ok()
                }
                _ => None,
            },
            name,
            permits: Semaphore::new(config.max_in_flight),
            answering: Arc::new(Semaphore::new(MAX_ANSWERING)),
            next_id: Arc::new(AtomicU64::new(1)),
            attached: Default::default(),
            config,
            metrics: Mutex::new(IpcMetrics::new(Instant::now())),
            conn: Mutex::new(None),
            connected: watch::channel(false).0,
            http,
            exchanges,
            changed,
        }
    }

    fn dialect(&self) -> Option<Dialect> {
        match self.config.protocol {
            Protocol::JsonRpc => Some(Dialect::JsonRpc),
            Protocol::JsonLines => Some(Dialect::JsonLines),
            Protocol::Http { .. } | Protocol::Grpc { .. } => None,
        }
    }

    /// The messages its server sends to be logged, from now on, for one run (the next
    /// call ends this receiver's stream).
    pub fn open_notes(&self) -> Notes {
        let (tx, rx) = mpsc::channel(NOTES_QUEUED);
        let dropped = Arc::new(AtomicU64::new(0));
        *self.notes.lock().unwrap_or_else(|e| e.into_inner()) = Some((tx, dropped.clone()));
        Notes { rx, dropped }
    }

    /// What the server said about itself and offers.
    pub fn discovery(&self) -> Discovery {
        self.discovery.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_discovery(&self, found: Discovery) {
        *self.discovery.lock().unwrap_or_else(|e| e.into_inner()) = found;
        self.discovery_version.send_modify(|v| *v += 1);
        self.changed.notify_one();
    }

    /// WebSocket: the last ping's round trip (`None` while not connected).
    pub fn ping(&self) -> Option<Duration> {
        *self.ping.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_ping(&self, rtt: Option<Duration>) {
        *self.ping.lock().unwrap_or_else(|e| e.into_inner()) = rtt;
    }

    /// gRPC: the standard health check for `service`.
    pub async fn grpc_health(&self, service: &str, timeout: Duration) -> Result<(), String> {
        #[cfg(feature = "grpc")]
        if let Some(grpc) = &self.grpc {
            return grpc.health(service, timeout).await;
        }
        let _ = (service, timeout);
        Err("not a gRPC sidecar".into())
    }

    /// LSP: documents with diagnostics, and their count in all.
    pub fn diagnostics(&self) -> (usize, usize) {
        let d = self.diagnostics.lock().unwrap_or_else(|e| e.into_inner());
        (d.values().filter(|n| **n > 0).count(), d.values().sum())
    }

    /// Whether the sidecar's stdout carries protocol frames.
    pub fn uses_stdio(&self) -> bool {
        self.dialect().is_some() && self.config.transport == Transport::Stdio
    }

    pub fn metrics(&self) -> MutexGuard<'_, IpcMetrics> {
        self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection of the run attached now (`None` between runs, and over HTTP).
    pub(crate) fn current(&self) -> Option<Arc<RpcConn>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_connection(&self, conn: Option<Arc<RpcConn>>) {
        let connected = conn.is_some();
        if let Some(old) = std::mem::replace(&mut *self.conn.lock().unwrap_or_else(|e| e.into_inner()), conn)
        {
            old.close(Outcome::Transport("connection replaced".into()));
        }
        self.connected.send_replace(connected);
    }

    /// A connection for one run of the sidecar (ids continue across runs).
    pub(crate) fn new_connection(&self, dialect: Dialect, writer: StdinWriter) -> Arc<RpcConn> {
        Arc::new(RpcConn::new(
            dialect,
            self.config.framing,
            writer,
            self.next_id.clone(),
            self.config.reply_has.clone(),
            self.config.max_timeout,
        ))
    }

    /// A process started: talk to it over its stdin/stdout (the connection is returned,
    /// for this run's stdout reader), or connect to its socket or HTTP address (the task
    /// that does is returned: it belongs to the run, which ends it at exit).
    pub fn attach(self: &Arc<Self>, stdin: &StdinWriter) -> Attachment {
        self.attached.store(true, Ordering::Release);
        // A new process knows nothing of the last one's documents.
        self.diagnostics.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let connector = match (self.dialect(), &self.config.transport) {
            (Some(dialect), Transport::Stdio) => {
                let conn = self.new_connection(dialect, stdin.clone());
                self.set_connection(Some(conn.clone()));
                return Attachment { conn: Some(conn), connector: None };
            }
            (Some(dialect), Transport::Tcp(_) | Transport::Unix(_)) => {
                tokio::spawn(socket::connect_loop(self.clone(), dialect))
            }
            (Some(dialect), Transport::WebSocket(url)) => {
                tokio::spawn(websocket::connect_loop(self.clone(), dialect, url.clone()))
            }
            (Some(_), Transport::Http(url)) => {
                if let Some(streamable) = &self.streamable {
                    streamable.reset();
                }
                tokio::spawn(socket::probe_http(self.clone(), url.clone()))
            }
            (None, _) => match &self.config.protocol {
                Protocol::Http { url } => tokio::spawn(socket::probe_http(self.clone(), url.clone())),
                Protocol::Grpc { address } => {
                    #[cfg(feature = "grpc")]
                    if let Some(grpc) = &self.grpc {
                        grpc.reset();
                    }
                    tokio::spawn(socket::probe_http(self.clone(), format!("http://{address}")))
                }
                _ => return Attachment::default(),
            },
        };
        Attachment { conn: None, connector: Some(connector) }
    }

    /// HTTP sidecars: their address accepts connections (or not any more).
    pub(crate) fn set_listening(&self, listening: bool) {
        self.connected.send_replace(listening);
    }

    /// The process is gone (its run has ended its connector): every request in flight
    /// fails now, with `reason`.
    pub fn detach(&self, reason: &str) {
        self.attached.store(false, Ordering::Release);
        if let Some(conn) = self.conn.lock().unwrap_or_else(|e| e.into_inner()).take() {
            conn.close(Outcome::Exited(reason.to_string()));
        }
        self.connected.send_replace(false);
    }

    /// Waits until a connection exists (sockets connect after the process starts; an
    /// HTTP sidecar's address accepts connections).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.connected.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c)).await.is_ok_and(|r| r.is_ok())
    }

    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight - self.permits.available_permits()
    }

    /// Sends one request and records the exchange (histograms, traffic, subscribers).
    pub async fn request(&self, spec: &RequestSpec, origin: Origin) -> Arc<Exchange> {
        self.request_with_timeout(spec, origin, self.config.timeout).await
    }

    pub async fn request_with_timeout(
        &self,
        spec: &RequestSpec,
        origin: Origin,
        timeout: Duration,
    ) -> Arc<Exchange> {
        self.request_via(None, spec, origin, timeout).await
    }

    /// A request to one run only (its stop steps): on that run's connection, which fails
    /// once the run has ended, never on the next run's.
    pub(crate) async fn request_on(
        &self,
        run: &Arc<RpcConn>,
        spec: &RequestSpec,
        origin: Origin,
        timeout: Duration,
    ) -> Arc<Exchange> {
        self.request_via(Some(run), spec, origin, timeout).await
    }

    async fn request_via(
        &self,
        run: Option<&Arc<RpcConn>>,
        spec: &RequestSpec,
        origin: Origin,
        timeout: Duration,
    ) -> Arc<Exchange> {
        let at = SystemTime::now();
        let deadline = tokio::time::Instant::now() + timeout;
        // A sidecar that is still starting gets the request once it listens.
        if run.is_none() && !self.is_connected() && self.attached.load(Ordering::Acquire) {
            let _ = self.wait_connected(timeout).await;
        }
        let permit = tokio::time::timeout_at(deadline, self.permits.acquire()).await;
        let (request, outcome, response, latency, status) = match permit {
            Err(_) => (describe_request(spec), Outcome::Timeout(timeout), None, None, None),
            Ok(Err(_)) => unreachable!("the semaphore is never closed"),
            Ok(Ok(_permit)) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let augmented = mcp_tasks::augment(self, spec);
                let sent = self
                    .send(augmented.as_ref().unwrap_or(spec), left.max(Duration::from_millis(1)), run)
                    .await;
                let mut sent = mcp_tasks::follow(self, run, sent, timeout).await;
                // Reported against the timeout asked for, however it was spent.
                if let Outcome::Timeout(_) = sent.1 {
                    sent.1 = Outcome::Timeout(timeout);
                }
                sent
            }
        };
        let (mut outcome, response) = (outcome, response);
        if outcome.is_ok()
            && let Some(error) = response.as_deref().and_then(|r| meaning::tool_error(self.config.speaks, r))
        {
            outcome = Outcome::ToolError(error);
        }
        let exchange = Arc::new(Exchange {
            sidecar: self.name.clone(),
            at,
            method: meaning::label(self.config.speaks, spec),
            origin,
            request: Some(cap_text(request)),
            response: response.map(cap_text),
            latency,
            outcome,
            status,
            spec: Some(spec.clone()),
        });
        self.record(&exchange);
        exchange
    }

    pub(super) async fn send(
        &self,
        spec: &RequestSpec,
        timeout: Duration,
        run: Option<&Arc<RpcConn>>,
    ) -> (String, Outcome, Option<String>, Option<Duration>, Option<u16>) {
        let connection = || run.cloned().or_else(|| self.current());
        match (spec, &self.http) {
            (RequestSpec::Http { method, path, body }, Some(http)) => {
                let call = http.send(method, path, body.as_ref(), timeout).await;
                (describe_request(spec), call.outcome, call.response, call.latency, call.status)
            }
            (RequestSpec::Http { .. }, None) | (_, Some(_)) => (
                describe_request(spec),
                Outcome::Transport("request does not match the sidecar's protocol".into()),
                None,
                None,
                None,
            ),
            #[cfg(feature = "grpc")]
            (RequestSpec::Rpc { method, params }, None) if self.grpc.is_some() => {
                let grpc = self.grpc.as_ref().expect("checked");
                let call = grpc.call(method, params.as_ref(), timeout).await;
                (call.request, call.outcome, call.response, call.latency, None)
            }
            (RequestSpec::Rpc { method, params }, None) => {
                let speaks = self.config.speaks;
                let message = |id| {
                    let mut message = rpc_message(Some(id), method, params.as_ref());
                    meaning::add_progress_token(speaks, &mut message, id);
                    message
                };
                let call = if let Some(streamable) = &self.streamable {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let on_message = |bytes: &[u8]| self.on_http_message(bytes);
                    streamable.call(message(id), id, timeout, self.config.max_timeout, &on_message).await
                } else {
                    let Some(conn) = connection() else {
                        return (describe_request(spec), not_connected(), None, None, None);
                    };
                    conn.call(message, timeout).await
                };
                (call.request, call.outcome, call.response, call.latency, None)
            }
            (RequestSpec::Line { value }, None) => {
                let Some(conn) = connection() else {
                    return (describe_request(spec), not_connected(), None, None, None);
                };
                let call = conn.call(|_| value.clone(), timeout).await;
                (call.request, call.outcome, call.response, call.latency, None)
            }
        }
    }

    /// A JSON-RPC notification (no reply), as handshakes send.
    pub async fn notify(&self, method: &str, params: Option<&Value>) -> Result<(), Outcome> {
        self.notify_via(None, method, params).await
    }

    /// A notification to one run only (see `request_on`).
    pub(crate) async fn notify_via(
        &self,
        run: Option<&Arc<RpcConn>>,
        method: &str,
        params: Option<&Value>,
    ) -> Result<(), Outcome> {
        if let Some(streamable) = &self.streamable {
            return streamable.notify(&rpc_message(None, method, params)).await;
        }
        let conn = run.cloned().or_else(|| self.current()).ok_or_else(not_connected)?;
        conn.send_only(&rpc_message(None, method, params)).await
    }

    /// A message on a Streamable HTTP event stream that is not the awaited reply: like a
    /// frame on stdout. Returns the progress token it is about, if any.
    fn on_http_message(&self, bytes: &[u8]) -> Option<u64> {
        let message: Value = serde_json::from_slice(bytes).ok()?;
        let method = message.get("method").and_then(Value::as_str)?.to_string();
        self.record_unsolicited(method.clone(), bytes, Outcome::Ok);
        let params = message.get("params").cloned().unwrap_or_default();
        self.heard(&method, &params);
        // A request from the server (`roots/list`, `sampling/createMessage`, `ping`) is
        // answered with a POST of its own, as over stdio: never left waiting.
        if let Some(id) = message.get("id").filter(|id| !id.is_null())
            && let Some(streamable) = &self.streamable
        {
            streamable.answer_in_background(&meaning::answer_message(
                self.config.speaks,
                id.clone(),
                &method,
                &params,
            ));
        }
        (method == "notifications/progress").then(|| meaning::progress_token(&params)).flatten()
    }

    /// A line for the sidecar's log from sidetop's side of the protocol (a server's log
    /// message, a task's status). A server that floods its log loses lines here, not the
    /// reader's time: counted, and said in the log by its reader.
    pub(crate) fn log_line(&self, line: String) {
        if let Some((notes, dropped)) = &*self.notes.lock().unwrap_or_else(|e| e.into_inner())
            && let Err(mpsc::error::TrySendError::Full(_)) = notes.try_send(line)
        {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A notification or request from the server: what it means for sidetop (a log line,
    /// lists to fetch again, diagnostics to count).
    fn heard(&self, method: &str, params: &Value) {
        let speaks = self.config.speaks;
        if let Some(line) = meaning::log_line(speaks, method, params) {
            self.log_line(line);
        }
        match method {
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed"
                if speaks == Speaks::Mcp =>
            {
                self.relist.notify_one()
            }
            "textDocument/publishDiagnostics" if speaks == Speaks::Lsp => {
                if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                    let count = params.get("diagnostics").and_then(Value::as_array).map_or(0, Vec::len);
                    let mut documents = self.diagnostics.lock().unwrap_or_else(|e| e.into_inner());
                    // A document without diagnostics counts for nothing: not kept, so
                    // the map holds only documents with something to say, at most
                    // MAX_DIAGNOSED of them.
                    if count == 0 {
                        documents.remove(uri);
                    } else if documents.len() < MAX_DIAGNOSED || documents.contains_key(uri) {
                        documents.insert(uri.to_string(), count);
                    } else {
                        tracing::debug!(
                            "{}: diagnostics of {uri} not counted: {MAX_DIAGNOSED} documents already are",
                            self.name
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn record(&self, exchange: &Arc<Exchange>) {
        self.metrics().record(exchange, Instant::now());
        let _ = self.exchanges.send(exchange.clone());
        self.changed.notify_one();
    }

    fn record_unsolicited(&self, method: String, text: &[u8], outcome: Outcome) {
        let exchange = Arc::new(Exchange {
            sidecar: self.name.clone(),
            at: SystemTime::now(),
            method,
            origin: Origin::Sidecar,
            request: None,
            response: Some(cap_text(String::from_utf8_lossy(text).into_owned())),
            latency: None,
            outcome,
            status: None,
            spec: None,
        });
        self.metrics().record_unsolicited(&exchange);
        let _ = self.exchanges.send(exchange);
        self.changed.notify_one();
    }

    /// A frame from the sidecar, read from `conn` (the connection of the run that sent
    /// it); returns whether it was protocol (else it is log text).
    pub fn on_frame(&self, conn: &Arc<RpcConn>, bytes: &[u8], at: Instant) -> bool {
        let routed = conn.route(bytes, at);
        let mut answers = Vec::new();
        let protocol = self.account(conn, routed, bytes, &mut answers);
        match answers.len() {
            0 => {}
            // A batch is answered with a batch (JSON-RPC 2.0, section 6).
            1 if !matches!(bytes.trim_ascii_start().first(), Some(b'[')) => {
                self.answer(conn, answers.pop().expect("one"))
            }
            _ => self.answer(conn, Value::Array(answers)),
        }
        protocol
    }

    /// Counts and records one routed frame (or every item of a batch); collects the
    /// answers owed to requests from the sidecar.
    fn account(&self, conn: &RpcConn, routed: Routed, bytes: &[u8], answers: &mut Vec<Value>) -> bool {
        match routed {
            Routed::Delivered => true,
            Routed::NotProtocol => false,
            Routed::Late => {
                self.metrics().late += 1;
                true
            }
            Routed::UnknownId(id) => {
                self.record_unsolicited(
                    "(reply)".into(),
                    bytes,
                    Outcome::Malformed(format!("reply with unknown id {id}")),
                );
                true
            }
            Routed::Malformed(why) => {
                self.record_unsolicited("(frame)".into(), bytes, Outcome::Malformed(why));
                // Keep the text in the log too: nothing is lost.
                false
            }
            Routed::Incoming { method, request_id, params } => {
                if method == "notifications/progress"
                    && let Some(token) = meaning::progress_token(&params)
                {
                    conn.touch(token);
                }
                self.heard(&method, &params);
                if let Some(id) = request_id {
                    // Answer so the sidecar is not left waiting on us.
                    answers.push(meaning::answer_message(self.config.speaks, id, &method, &params));
                }
                self.record_unsolicited(method, bytes, Outcome::Ok);
                true
            }
            Routed::Batch(items) => {
                let mut protocol = false;
                for item in items {
                    protocol |= self.account(conn, item, bytes, answers);
                }
                protocol
            }
        }
    }

    /// Writes an answer without holding up the reader; at most `MAX_ANSWERING` at once,
    /// the rest are counted as protocol errors and not answered.
    fn answer(&self, conn: &Arc<RpcConn>, answer: Value) {
        match self.answering.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = conn.clone();
                tokio::spawn(async move {
                    let _ = conn.send_only(&answer).await;
                    drop(permit);
                });
            }
            Err(_) => self.record_unsolicited(
                "(request)".into(),
                b"",
                Outcome::Malformed(format!(
                    "the sidecar sent requests faster than it reads answers; {MAX_ANSWERING} answers pending, this one dropped"
                )),
            ),
        }
    }

    /// A frame larger than sidetop accepts (at least `len` bytes) was skipped.
    pub fn on_oversize(&self, len: usize) {
        let size = if len > framing::MAX_FRAME { format!("{len} bytes") } else { "over the cap".to_string() };
        self.record_unsolicited(
            "(frame)".into(),
            b"",
            Outcome::Malformed(format!("frame of {size} exceeds the {} byte cap", framing::MAX_FRAME)),
        );
    }
}

fn not_connected() -> Outcome {
    Outcome::Transport("not connected".into())
}
