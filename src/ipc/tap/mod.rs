//! Watching a conversation sidetop is not part of: `sidetop wrap` passes the bytes
//! between an application and its sidecar untouched, and hands a copy of each read to a
//! [`Tap`]. The tap's own task splits the copies into frames, matches requests with their
//! replies in both directions (the application's calls, and the calls the sidecar makes
//! of the application: LSP `workspace/configuration`, MCP `sampling/createMessage`), and
//! records them as exchanges like sidetop's own, with origin `application` (or `sidecar`
//! for the sidecar's calls).
//!
//! The tap is beside the pass-through, never in front of it: `offer` copies and queues
//! without waiting, and a queue that is full drops the copy, counts it, and tells the
//! decoder of that direction to start over, so a stalled observer costs observations,
//! never the application's bytes or time.
//!
//! Long because the frame matching of both directions shares one state (`Direction`) that
//! reads best beside the code that fills it; the session replay lives in `session.rs`.

mod session;

pub use session::Session;

use super::Ipc;
use super::framing::{Decoder, Piece};
use super::protocol::{Exchange, Origin, Outcome, cap_text, capped_text};
use crate::config::ipc::{Protocol, RequestSpec, Speaks};
use bytes::{Bytes, BytesMut};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// Bytes queued for the observer, at most (copies of reads): what a stalled observer
/// may hold. A read that finds the queue this full is not copied at all.
const QUEUED_BYTES: usize = 512 << 10;
/// A side's copies are cut from buffers of at least this size (see `Tap::arenas`).
const ARENA_SIZE: usize = 64 << 10;
/// What the traffic keeps of each side of one of the application's exchanges: less than
/// of sidetop's own, so a wrapper under bulk traffic stays small (README).
const TAP_TEXT_CAP: usize = 4 << 10;
/// Requests waiting for a reply, per direction, at most: the oldest is forgotten first.
const PENDING: usize = 10_000;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// From the application to the sidecar (the wrapper's stdin).
    App,
    /// From the sidecar to the application (the child's stdout).
    Child,
}

struct Chunk {
    side: Side,
    /// The run of the child the bytes went to or came from; `None` for the
    /// application's bytes that no child took (it did not come back in time).
    run: Option<u64>,
    bytes: Bytes,
    at: Instant,
    eof: bool,
    /// Reads of this side were dropped just before this one: the decoder starts over
    /// here, at the next frame.
    after_loss: bool,
}

/// What the pass-through tells the observer, in order with the copies.
enum Message {
    Chunk(Chunk),
    /// Answer the application's requests still waiting on runs up to `upto` (or those
    /// no run took, `None`) with this error; the reply gets the frames to write.
    Abandon {
        upto: Option<u64>,
        error: Abandoned,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// The child's stdout starts over (a new run): its decoder too.
    NewRun,
    /// Everything offered before this was observed.
    Barrier(oneshot::Sender<()>),
}

/// Why the wrapper answers an application's request itself (the codes are in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// The child exited (a restart) while the request was in flight.
    Restarted,
    /// The request arrived while the child was restarting, and no new child took it in
    /// time.
    NotBack(Duration),
}

impl Abandoned {
    pub const RESTARTED: i64 = -32050;
    pub const NOT_BACK: i64 = -32051;

    pub fn code(self) -> i64 {
        match self {
            Abandoned::Restarted => Abandoned::RESTARTED,
            Abandoned::NotBack(_) => Abandoned::NOT_BACK,
        }
    }

    pub fn message(self) -> String {
        match self {
            Abandoned::Restarted => {
                "the sidecar restarted while this request was in flight (sidetop wrap)".into()
            }
            Abandoned::NotBack(after) => format!(
                "the sidecar was restarting and did not come back within {} (sidetop wrap)",
                crate::text::duration::short_duration(after)
            ),
        }
    }
}

/// The pass-through's handle on the observer.
pub struct Tap {
    tx: mpsc::UnboundedSender<Message>,
    /// Bytes of copies queued and not yet observed: about [`QUEUED_BYTES`] at most.
    queued: Arc<AtomicUsize>,
    /// Reads not observed because the observer was behind.
    pub dropped: AtomicU64,
    /// A read of that side was dropped: its decoder must start over.
    lost: [AtomicBool; 2],
    /// Where each side's copies are made: one large buffer cut into pieces, so a read is
    /// not an allocation of its own (a 256 KiB one is an mmap, and its free an munmap
    /// with a TLB flush on every CPU).
    arenas: [std::sync::Mutex<BytesMut>; 2],
    /// What the application set up with the sidecar, for a new child to join in.
    pub session: Arc<Mutex<Session>>,
}

impl Tap {
    /// Starts the observer task, which records into `ipc`.
    pub fn start(ipc: Arc<Ipc>) -> Arc<Tap> {
        let (tx, rx) = mpsc::unbounded_channel();
        let tap = Arc::new(Tap {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            dropped: AtomicU64::new(0),
            lost: Default::default(),
            arenas: Default::default(),
            session: Arc::default(),
        });
        tokio::spawn(observe(ipc, rx, tap.queued.clone(), tap.session.clone()));
        tap
    }

    /// A copy of bytes that just went `side`'s way, to or from run `run`; never waits.
    pub fn offer(&self, side: Side, run: Option<u64>, bytes: &[u8], at: Instant) {
        // An empty queue takes any read, however large; a full one is not copied into.
        if self.queued.load(Ordering::Acquire) >= QUEUED_BYTES {
            self.lose(side);
            return;
        }
        let after_loss = self.take_loss(side);
        let copy = {
            let mut arena = self.arenas[side as usize].lock().unwrap_or_else(|e| e.into_inner());
            if arena.capacity() < bytes.len() {
                // Reuses the buffer once the observer has dropped every piece of it.
                arena.reserve(bytes.len().max(ARENA_SIZE));
            }
            arena.extend_from_slice(bytes);
            arena.split().freeze()
        };
        self.queue(Chunk { side, run, bytes: copy, at, eof: false, after_loss });
    }

    /// That side closed (end of file): a partial frame left is a frame or text.
    pub fn closed(&self, side: Side) {
        let after_loss = self.take_loss(side);
        self.queue(Chunk { side, run: None, bytes: Bytes::new(), at: Instant::now(), eof: true, after_loss });
    }

    /// A new child's stdout begins.
    pub fn new_run(&self) {
        let _ = self.tx.send(Message::NewRun);
    }

    /// The frames that answer the application's requests abandoned this way (empty for
    /// json-lines, which has no ids to answer); `None` if the observer is gone or stuck.
    pub async fn abandon(&self, upto: Option<u64>, error: Abandoned) -> Option<Vec<u8>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Message::Abandon { upto, error, reply }).ok()?;
        tokio::time::timeout(OBSERVER_WAIT, answer).await.ok()?.ok()
    }

    /// Waits until everything offered so far was observed (at most a moment: a stuck
    /// observer must not hold the pipes).
    pub async fn barrier(&self) -> bool {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Message::Barrier(reply)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(OBSERVER_WAIT, done).await, Ok(Ok(())))
    }

    fn queue(&self, chunk: Chunk) {
        let (side, len) = (chunk.side, chunk.bytes.len());
        self.queued.fetch_add(len, Ordering::AcqRel);
        if self.tx.send(Message::Chunk(chunk)).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            self.lose(side);
        }
    }

    /// Whether reads of `side` were dropped since its last copy (read first: the flag
    /// is rarely set, and a swap on every read would write its cache line each time).
    fn take_loss(&self, side: Side) -> bool {
        let lost = &self.lost[side as usize];
        lost.load(Ordering::Relaxed) && lost.swap(false, Ordering::AcqRel)
    }

    /// A copy not made: counted, and that side's decoder resyncs at the next frame.
    fn lose(&self, side: Side) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.lost[side as usize].store(true, Ordering::Release);
    }
}

/// How often a busy observer takes what was queued (see `observe`): what a dashboard's
/// traffic lags behind at most, on top of the queue.
const OBSERVER_TICK: Duration = Duration::from_millis(5);

/// How long the pass-through waits for the observer when it needs it (a restart).
const OBSERVER_WAIT: Duration = Duration::from_secs(1);

/// A request waiting for its reply.
struct Asked {
    /// The run the request went to (`None`: none took it).
    run: Option<u64>,
    label: String,
    /// What was asked, to replay it (`sidetop replay` on a recording of the wrapper).
    spec: Option<RequestSpec>,
    text: String,
    at: Instant,
    when: SystemTime,
}

/// One direction's decoding state, and the requests that side made.
struct Direction {
    decoder: Decoder,
    buf: BytesMut,
    asked: HashMap<String, Asked>,
    /// Ids in the order asked, to forget the oldest first.
    order: VecDeque<String>,
    /// json-lines: requests are answered in order, without ids.
    in_order: VecDeque<Asked>,
    /// Reads were lost: the bytes until the next frame begins are a piece of one.
    resync: bool,
    /// Reads of this side were lost at some point: a reply to a request of its that the
    /// tap never saw is no fault of the other side's.
    missed: bool,
}

impl Direction {
    fn new(ipc: &Ipc) -> Direction {
        let decoder = match ipc.config.transport {
            // The measuring proxy's tunnel: the bytes are WebSocket frames.
            crate::config::ipc::Transport::WebSocket(_) => {
                Decoder::WebSocket(super::ws_frames::WsDecoder::new(super::framing::MAX_FRAME))
            }
            _ => Decoder::new(Some(ipc.config.framing), super::framing::MAX_FRAME),
        };
        Direction {
            decoder,
            buf: BytesMut::new(),
            asked: HashMap::new(),
            order: VecDeque::new(),
            in_order: VecDeque::new(),
            resync: false,
            missed: false,
        }
    }

    fn remember(&mut self, id: String, asked: Asked) {
        if self.asked.len() >= PENDING
            && let Some(oldest) = self.order.pop_front()
        {
            self.asked.remove(&oldest);
        }
        self.order.push_back(id.clone());
        self.asked.insert(id, asked);
    }

    fn answered(&mut self, id: &str) -> Option<Asked> {
        let asked = self.asked.remove(id)?;
        if let Some(i) = self.order.iter().position(|o| o == id) {
            self.order.remove(i);
        }
        Some(asked)
    }
}

async fn observe(
    ipc: Arc<Ipc>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
    session: Arc<Mutex<Session>>,
) {
    let json_lines = matches!(ipc.config.protocol, Protocol::JsonLines);
    let mut sides = [Direction::new(&ipc), Direction::new(&ipc)];
    let mut pieces = Vec::new();
    let mut busy = false;
    loop {
        let message = match rx.try_recv() {
            Ok(message) => message,
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            // While traffic flows the observer looks again after a tick instead of being
            // woken by each read: a wake-up per read would sit on the pass-through's path
            // (a futex call and a thread switch each way). Idle, it waits to be woken.
            Err(mpsc::error::TryRecvError::Empty) if busy => {
                busy = false;
                tokio::time::sleep(OBSERVER_TICK).await;
                continue;
            }
            Err(mpsc::error::TryRecvError::Empty) => match rx.recv().await {
                Some(message) => message,
                None => return,
            },
        };
        busy = true;
        let chunk = match message {
            Message::Chunk(chunk) => {
                queued.fetch_sub(chunk.bytes.len(), Ordering::AcqRel);
                chunk
            }
            Message::Abandon { upto, error, reply } => {
                let frames = session::abandon(&ipc, &mut sides[Side::App as usize], upto, error);
                let _ = reply.send(frames);
                continue;
            }
            Message::NewRun => {
                let child = &mut sides[Side::Child as usize];
                *child = Direction { asked: std::mem::take(&mut child.asked), ..Direction::new(&ipc) };
                continue;
            }
            Message::Barrier(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let side = chunk.side as usize;
        let mut bytes = &chunk.bytes[..];
        if chunk.after_loss {
            // Bytes were skipped: what is buffered cannot be completed, and this read
            // may begin inside a frame, which is no fault of the sidecar's.
            sides[side] = Direction { asked: std::mem::take(&mut sides[side].asked), ..Direction::new(&ipc) };
            sides[side].resync = true;
            sides[side].missed = true;
            if chunk.side == Side::App {
                session.lock().unwrap_or_else(|e| e.into_inner()).missed_some = true;
            }
        }
        if sides[side].resync {
            match next_frame_start(&sides[side].decoder, bytes) {
                Some(start) => {
                    bytes = &bytes[start..];
                    sides[side].resync = false;
                }
                None => continue,
            }
        }
        sides[side].buf.extend_from_slice(bytes);
        let dir = &mut sides[side];
        dir.decoder.decode(&mut dir.buf, &mut pieces, chunk.eof);
        for piece in pieces.drain(..) {
            let bytes = match piece {
                Piece::Frame(bytes) | Piece::Line(bytes, _) => bytes,
                Piece::Oversize(len) => {
                    ipc.on_oversize(len);
                    continue;
                }
            };
            if bytes.trim_ascii().is_empty() {
                continue;
            }
            let seen = Seen { side: chunk.side, run: chunk.run, at: chunk.at };
            if json_lines {
                on_line(&ipc, &mut sides, seen, &bytes);
            } else {
                on_frame(&ipc, &mut sides, &session, seen, &bytes);
            }
        }
    }
}

/// Where the next frame begins in `bytes`, read after a loss: after the next newline, at
/// the next `Content-Length` header; a WebSocket frame cannot be found that way, so its
/// decoder starts where it is.
fn next_frame_start(decoder: &Decoder, bytes: &[u8]) -> Option<usize> {
    match decoder {
        Decoder::Lines(_) => memchr::memchr(b'\n', bytes).map(|i| i + 1),
        Decoder::ContentLength(_) => memchr::memmem::find(bytes, b"Content-Length:"),
        Decoder::WebSocket(_) => Some(0),
    }
}

/// Where and when a frame was seen.
#[derive(Clone, Copy)]
struct Seen {
    side: Side,
    run: Option<u64>,
    at: Instant,
}

/// json-lines: every line from the application is a request, answered by the next line
/// from the sidecar.
fn on_line(ipc: &Ipc, sides: &mut [Direction; 2], seen: Seen, bytes: &[u8]) {
    let text = capped_text(bytes, TAP_TEXT_CAP);
    let at = seen.at;
    match seen.side {
        Side::App => {
            let spec = replayable(bytes)
                .then(|| serde_json::from_slice(bytes).ok().map(|value| RequestSpec::Line { value }))
                .flatten();
            let asked =
                Asked { run: seen.run, label: "line".into(), spec, text, at, when: SystemTime::now() };
            let queue = &mut sides[Side::App as usize].in_order;
            if queue.len() >= PENDING {
                queue.pop_front();
            }
            queue.push_back(asked);
        }
        Side::Child => match sides[Side::App as usize].in_order.pop_front() {
            Some(asked) => {
                let outcome = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Ok(_) => Outcome::Ok,
                    Err(e) => Outcome::Malformed(e.to_string()),
                };
                record(ipc, asked, Origin::Application, text, outcome, at);
            }
            None => ipc.record_unsolicited_cut("line".into(), bytes, Outcome::Ok, TAP_TEXT_CAP),
        },
    }
}

/// JSON-RPC: a frame is one message or a batch of them.
fn on_frame(ipc: &Ipc, sides: &mut [Direction; 2], session: &Mutex<Session>, seen: Seen, bytes: &[u8]) {
    let message = if head_will_do(ipc, bytes) { head(bytes) } else { serde_json::from_slice(bytes) };
    let message: Value = match message {
        Ok(message) => message,
        Err(e) => {
            let from = if seen.side == Side::App { "(frame from the application)" } else { "(frame)" };
            ipc.record_unsolicited_cut(from.into(), bytes, Outcome::Malformed(e.to_string()), TAP_TEXT_CAP);
            return;
        }
    };
    match message {
        Value::Array(items) => {
            for item in items {
                let text = item.to_string();
                on_message(ipc, sides, session, seen, item, text.as_bytes());
            }
        }
        message => on_message(ipc, sides, session, seen, message, bytes),
    }
}

fn on_message(
    ipc: &Ipc,
    sides: &mut [Direction; 2],
    session: &Mutex<Session>,
    seen: Seen,
    message: Value,
    bytes: &[u8],
) {
    let (side, at) = (seen.side, seen.at);
    if side == Side::App {
        session.lock().unwrap_or_else(|e| e.into_inner()).app_said(ipc.config.speaks, &message);
    }
    let other = match side {
        Side::App => Side::Child,
        Side::Child => Side::App,
    };
    let id = message.get("id").filter(|id| !id.is_null()).map(Value::to_string);
    let method = message.get("method").and_then(Value::as_str);
    match (method, id) {
        (Some(method), Some(id)) => {
            let params = message.get("params").cloned();
            let label = label(ipc.config.speaks, method, params.as_ref());
            let text = capped_text(bytes, TAP_TEXT_CAP);
            let spec = replayable(bytes).then(|| RequestSpec::Rpc { method: method.to_string(), params });
            let asked = Asked { run: seen.run, label, spec, text, at, when: SystemTime::now() };
            sides[side as usize].remember(id, asked);
        }
        (Some(method), None) => match side {
            // The sidecar's notifications: counted and understood as for sidetop's own.
            Side::Child => {
                let params = message.get("params").cloned().unwrap_or(Value::Null);
                ipc.heard(method, &params);
                ipc.record_unsolicited_cut(method.to_string(), bytes, Outcome::Ok, TAP_TEXT_CAP);
            }
            Side::App => ipc.record_told(method, bytes),
        },
        (None, Some(id)) => {
            let Some(asked) = sides[other as usize].answered(&id) else {
                if sides[other as usize].missed {
                    // Its request was among the reads the observer dropped.
                    return;
                }
                let what = if side == Side::App { "(reply from the application)" } else { "(reply)" };
                ipc.record_unsolicited_cut(
                    what.into(),
                    bytes,
                    Outcome::Malformed(format!("reply with unknown id {id}")),
                    TAP_TEXT_CAP,
                );
                return;
            };
            let whole = std::str::from_utf8(bytes).unwrap_or_default();
            let outcome = match message.get("error") {
                Some(error) => Outcome::RpcError {
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: error.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
                },
                None => match super::meaning::tool_error(ipc.config.speaks, whole) {
                    Some(text) if asked.label.starts_with("tools/call") => Outcome::ToolError(text),
                    _ => Outcome::Ok,
                },
            };
            // The application's calls are its own; the sidecar's calls of the
            // application keep the sidecar as their origin.
            let origin = if other == Side::App { Origin::Application } else { Origin::Sidecar };
            if origin == Origin::Application && outcome.is_ok() {
                learn(ipc, session, asked.spec.as_ref(), whole);
            }
            record(ipc, asked, origin, capped_text(bytes, TAP_TEXT_CAP), outcome, at);
        }
        (None, None) => ipc.record_unsolicited_cut(
            "(frame)".into(),
            bytes,
            Outcome::Malformed("neither a request, a notification nor a reply".into()),
            TAP_TEXT_CAP,
        ),
    }
}

fn record(ipc: &Ipc, asked: Asked, origin: Origin, response: String, outcome: Outcome, at: Instant) {
    let latency: Duration = at.saturating_duration_since(asked.at);
    ipc.record(&Arc::new(Exchange {
        sidecar: ipc.name.clone(),
        at: asked.when,
        method: asked.label,
        origin,
        request: Some(asked.text),
        response: Some(response),
        latency: Some(latency),
        outcome,
        status: None,
        spec: asked.spec,
    }));
}

/// A large frame of plain JSON-RPC that is not kept for replay: only its id, method and
/// error matter, so its params and result are skipped rather than built (the parse of a
/// 64 KiB body as a `Value` would cost the wrapper more than passing it on). MCP and LSP
/// frames are read whole: the session and what the server offers are learnt from them.
fn head_will_do(ipc: &Ipc, bytes: &[u8]) -> bool {
    ipc.config.speaks == Speaks::Plain
        && !replayable(bytes)
        && bytes.trim_ascii_start().first() == Some(&b'{')
}

fn head(bytes: &[u8]) -> serde_json::Result<Value> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<Value>,
        method: Option<Value>,
        error: Option<Value>,
    }
    let head: Head = serde_json::from_slice(bytes)?;
    let mut message = serde_json::Map::new();
    for (key, value) in [("id", head.id), ("method", head.method), ("error", head.error)] {
        if let Some(value) = value {
            message.insert(key.into(), value);
        }
    }
    Ok(Value::Object(message))
}

/// What the server said about itself in the application's own handshake, and the tools
/// it listed to the application (MCP), as sidetop learns them from its own.
/// Requests are kept whole for replay up to the size the traffic tab shows of them; a
/// larger one is measured and shown cut, not kept (a bulk transfer would hold megabytes).
fn replayable(bytes: &[u8]) -> bool {
    bytes.len() <= crate::ipc::protocol::TRAFFIC_TEXT_CAP
}

fn learn(ipc: &Ipc, session: &Mutex<Session>, spec: Option<&RequestSpec>, response: &str) {
    let Some(RequestSpec::Rpc { method, params }) = spec else { return };
    match method.as_str() {
        "initialize" => {
            if let Some(server) = super::discovery::ServerInfo::from_reply(response) {
                let mut found = ipc.discovery();
                found.server = Some(server);
                ipc.set_discovery(found);
            }
        }
        "tools/list" if ipc.config.speaks == Speaks::Mcp => {
            let Some(listed) = serde_json::from_str::<Value>(response)
                .ok()
                .and_then(|r| r.pointer("/result/tools").cloned())
            else {
                return;
            };
            // A later page adds to the first.
            let first_page = params.as_ref().and_then(|p| p.get("cursor")).is_none();
            session.lock().unwrap_or_else(|e| e.into_inner()).listed_tools(&listed, first_page);
            let Ok(tools) = serde_json::from_value::<Vec<super::discovery::Tool>>(listed) else { return };
            let mut found = ipc.discovery();
            if first_page {
                found.tools.clear();
            }
            found.tools.extend(tools);
            ipc.set_discovery(found);
        }
        _ => {}
    }
}

/// The name a call is measured under: MCP tool calls and prompts per tool.
fn label(speaks: Speaks, method: &str, params: Option<&Value>) -> String {
    if speaks == Speaks::Mcp
        && (method == "tools/call" || method == "prompts/get")
        && let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str)
    {
        return format!("{method} {name}");
    }
    method.to_string()
}

impl Ipc {
    /// A notification from the application (LSP `didChange`, MCP `initialized`): in the
    /// traffic, not in the sidecar's counts.
    fn record_told(&self, method: &str, bytes: &[u8]) {
        let exchange = Arc::new(Exchange {
            sidecar: self.name.clone(),
            at: SystemTime::now(),
            method: method.to_string(),
            origin: Origin::Application,
            request: Some(cap_text(String::from_utf8_lossy(bytes).into_owned())),
            response: None,
            latency: None,
            outcome: Outcome::Ok,
            status: None,
            spec: None,
        });
        {
            let mut metrics = self.metrics();
            if metrics.traffic.len() == super::stats::TRAFFIC {
                metrics.traffic.pop_front();
            }
            metrics.traffic.push_back(exchange.clone());
        }
        let _ = self.exchanges.send(exchange);
        self.changed.notify_one();
    }
}
