//! Talking to sidecars in their own protocol (JSON-RPC 2.0, json-lines, HTTP), measuring
//! every exchange. One [`Ipc`] per sidecar lives across restarts (so its histograms do);
//! a connection is attached for each running process. Its own requests are in
//! `request.rs`, what the sidecar sends in `incoming.rs`.

pub mod discovery;
pub mod framing;
#[cfg(feature = "grpc")]
mod grpc;
pub mod http;
mod incoming;
pub mod inject;
pub mod load;
mod mcp_tasks;
pub mod meaning;
pub mod protocol;
pub mod proxy;
pub mod readable;
mod request;
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
    /// A wrapped sidecar: sidetop's own requests go through the wrapper's pipes.
    injector: Mutex<Option<std::sync::Weak<dyn inject::Injector>>>,
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
            injector: Mutex::new(None),
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
}

fn not_connected() -> Outcome {
    Outcome::Transport("not connected".into())
}
