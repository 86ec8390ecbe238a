//! Recording traffic: every exchange as one JSON line (time, sidecar, origin, method, the
//! request to send it again, response or error, latency, outcome), for `sidetop replay`.
//!
//! The writer is a thread of its own fed by the exchange broadcast through a queue
//! bounded by bytes, so recording adds nothing to the request path and disk latency
//! never reaches the runtime; what it misses or cannot queue is counted and a
//! `{"lost": N}` line marks the place; a failing disk is reported and retried (see
//! [`Recording`]). Files rotate by size like log files.

use crate::config::ipc::RequestSpec;
use crate::ipc::protocol::{Exchange, Origin};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Size at which a recording rotates, by default.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// Rotated files kept (`FILE.1`, `FILE.2`).
pub const KEEP: usize = 2;

/// One line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When the request was sent, in microseconds since the Unix epoch.
    pub at_us: u64,
    pub sidecar: String,
    pub origin: Origin,
    pub method: String,
    /// What to send again; absent for messages the sidecar sent on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<RequestSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// `ok`, `error`, `timeout`, `transport`, `malformed`, `exited`.
    pub outcome: String,
    /// The outcome in words when it is not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl Record {
    pub fn of(exchange: &Exchange) -> Record {
        let ok = exchange.outcome.is_ok();
        Record {
            at_us: exchange.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64),
            sidecar: exchange.sidecar.to_string(),
            origin: exchange.origin,
            method: exchange.method.clone(),
            spec: exchange.spec.clone(),
            request: exchange.request.clone(),
            response: exchange.response.clone(),
            latency_us: exchange.latency.map(|l| l.as_micros() as u64),
            outcome: exchange.outcome.kind().as_str().to_string(),
            error: (!ok).then(|| exchange.outcome.to_string()),
            status: exchange.status,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.outcome == "ok"
    }

    pub fn latency(&self) -> Option<Duration> {
        self.latency_us.map(Duration::from_micros)
    }
}

/// What a recording wrote so far.
#[derive(Debug, Default)]
pub struct Counts {
    pub written: AtomicU64,
    /// Exchanges the writer fell too far behind to see, or had no room to queue.
    pub lost: AtomicU64,
    pub bytes: AtomicU64,
}

/// Bytes of exchanges queued for the writer at most; past it (a slow or failing disk)
/// they are counted as lost and a `{"lost": N}` line marks the place.
pub const QUEUE_BUDGET: usize = 8 << 20;
/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// What an exchange costs the queue beyond its texts.
const EXCHANGE_COST: usize = 256;

/// What the writer tells its owner: writing failed (with why), or resumed.
pub type OnTrouble = Box<dyn Fn(Result<(), String>) + Send>;

/// A recording in progress; dropping it (or `stop`) ends it after writing what it has.
///
/// Like a log file: the file is written on a thread of its own, fed through a queue
/// bounded by bytes, so disk latency never reaches the runtime. A failing write (disk
/// full, file too large) is reported, kept and retried every second; what arrives
/// meanwhile queues up to the budget, then is counted as lost and marked in the file.
pub struct Recording {
    pub path: PathBuf,
    /// Only this sidecar's exchanges, or every sidecar's.
    pub sidecar: Option<String>,
    pub counts: Arc<Counts>,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    forwarder: tokio::task::JoinHandle<()>,
}

struct Queue {
    queued_bytes: AtomicUsize,
    /// Lost since the last marker line.
    pending_lost: AtomicU64,
    /// Set once stopping: a failing write gives up instead of retrying.
    stopping: AtomicBool,
}

impl Recording {
    /// Opens (appends to) `path` and records what `exchanges` carries from now on.
    pub fn start(
        exchanges: broadcast::Receiver<Arc<Exchange>>,
        path: &Path,
        sidecar: Option<String>,
        max_bytes: u64,
        on_trouble: OnTrouble,
    ) -> io::Result<Recording> {
        let file = crate::os::rotate::open_append(path)?;
        let counts = Arc::new(Counts::default());
        counts.bytes.store(file.metadata()?.len(), Ordering::Relaxed);
        let queue = Arc::new(Queue {
            queued_bytes: AtomicUsize::new(0),
            pending_lost: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = Writer {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(256 << 10),
            done: 0,
            counts: counts.clone(),
            queue: queue.clone(),
            max_bytes: max_bytes.max(4096),
            on_trouble,
            failing: false,
        };
        let writer = std::thread::Builder::new().name("recorder".into()).spawn(move || writer.run(rx))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let forwarder =
            tokio::spawn(forward(exchanges, stopped, tx, sidecar.clone(), queue.clone(), counts.clone()));
        Ok(Recording {
            path: path.to_path_buf(),
            sidecar,
            counts,
            writer: Some(writer),
            stop: Some(stop),
            forwarder,
        })
    }

    /// Ends the recording once what is queued is written; says what it wrote.
    pub async fn stop(mut self) -> io::Result<String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.forwarder).await;
        if let Some(writer) = self.writer.take() {
            match tokio::task::spawn_blocking(move || writer.join()).await {
                Ok(Ok(result)) => result?,
                _ => return Err(io::Error::other("the recorder thread panicked")),
            }
        }
        Ok(self.summary())
    }

    pub fn summary(&self) -> String {
        let (written, lost) =
            (self.counts.written.load(Ordering::Relaxed), self.counts.lost.load(Ordering::Relaxed));
        let whose = self.sidecar.as_deref().map_or("every sidecar".to_string(), |s| s.to_string());
        let lost = if lost > 0 { format!(", {lost} lost (the writer fell behind)") } else { String::new() };
        format!("{written} exchanges of {whose} recorded to {}{lost}", self.path.display())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn cost(exchange: &Exchange) -> usize {
    EXCHANGE_COST
        + exchange.request.as_ref().map_or(0, String::len)
        + exchange.response.as_ref().map_or(0, String::len)
}

/// From the exchange broadcast to the writer's queue, never waiting on the writer.
async fn forward(
    mut exchanges: broadcast::Receiver<Arc<Exchange>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    tx: std::sync::mpsc::Sender<Arc<Exchange>>,
    sidecar: Option<String>,
    queue: Arc<Queue>,
    counts: Arc<Counts>,
) {
    let lose = |n: u64| {
        counts.lost.fetch_add(n, Ordering::Relaxed);
        queue.pending_lost.fetch_add(n, Ordering::Relaxed);
    };
    let offer = |exchange: Arc<Exchange>| {
        if sidecar.as_deref().is_some_and(|s| s != &*exchange.sidecar) {
            return;
        }
        let cost = cost(&exchange);
        let before = queue.queued_bytes.fetch_add(cost, Ordering::AcqRel);
        if before > 0 && before + cost > QUEUE_BUDGET {
            queue.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
            lose(1);
        } else if tx.send(exchange).is_err() {
            queue.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
        }
    };
    loop {
        let received = tokio::select! {
            biased;
            received = exchanges.recv() => received,
            _ = &mut stopped => break,
        };
        match received {
            Ok(exchange) => offer(exchange),
            Err(broadcast::error::RecvError::Lagged(n)) => lose(n),
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    // What was sent before the stop is still written.
    while let Ok(exchange) = exchanges.try_recv() {
        offer(exchange);
    }
    queue.stopping.store(true, Ordering::Release);
}

struct Writer {
    path: PathBuf,
    file: std::fs::File,
    /// Lines not yet in the file; `done` of them written (a write can stop half-way).
    buf: Vec<u8>,
    done: usize,
    counts: Arc<Counts>,
    queue: Arc<Queue>,
    max_bytes: u64,
    on_trouble: OnTrouble,
    failing: bool,
}

impl Writer {
    fn run(mut self, rx: std::sync::mpsc::Receiver<Arc<Exchange>>) -> io::Result<()> {
        while let Ok(exchange) = rx.recv() {
            self.queue.queued_bytes.fetch_sub(cost(&exchange), Ordering::AcqRel);
            self.mark_lost()?;
            self.line(&serde_json::to_vec(&Record::of(&exchange)).map_err(io::Error::other)?)?;
            self.counts.written.fetch_add(1, Ordering::Relaxed);
            // Written whenever the queue is empty: a crash loses at most what was queued.
            if self.queue.queued_bytes.load(Ordering::Acquire) == 0 || self.buf.len() >= 256 << 10 {
                self.flush()?;
            }
        }
        self.mark_lost()?;
        self.flush()
    }

    /// A `{"lost": N}` line where exchanges are missing.
    fn mark_lost(&mut self) -> io::Result<()> {
        let n = self.queue.pending_lost.swap(0, Ordering::AcqRel);
        if n == 0 {
            return Ok(());
        }
        let at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        self.line(format!("{{\"lost\":{n},\"at_us\":{at_us}}}").as_bytes())
    }

    fn line(&mut self, json: &[u8]) -> io::Result<()> {
        let size = (json.len() + 1) as u64;
        let pending = (self.buf.len() - self.done) as u64;
        if self.counts.bytes.load(Ordering::Relaxed) + pending + size > self.max_bytes {
            self.flush()?;
            crate::os::rotate::shift(&self.path, KEEP)?;
            self.file = crate::os::rotate::open_append(&self.path)?;
            self.counts.bytes.store(0, Ordering::Relaxed);
        }
        self.buf.extend_from_slice(json);
        self.buf.push(b'\n');
        Ok(())
    }

    /// Writes what is buffered; a failure is reported once, kept, and retried every
    /// second until it works (or the recording stops, which gives up with the error).
    fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.write_buffered() {
                Ok(()) => {
                    if std::mem::take(&mut self.failing) {
                        (self.on_trouble)(Ok(()));
                    }
                    return Ok(());
                }
                Err(e) => {
                    if !self.failing {
                        self.failing = true;
                        (self.on_trouble)(Err(e.to_string()));
                    }
                    if self.queue.stopping.load(Ordering::Acquire) {
                        return Err(e);
                    }
                    std::thread::sleep(RETRY);
                }
            }
        }
    }

    fn write_buffered(&mut self) -> io::Result<()> {
        while self.done < self.buf.len() {
            match self.file.write(&self.buf[self.done..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.done += n;
                    self.counts.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.done = 0;
        Ok(())
    }
}

/// Reads a recording: its records in order, and how many exchanges it says were lost.
pub fn read(path: &Path) -> Result<(Vec<Record>, u64), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut records = Vec::new();
    let mut lost = 0;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: not JSON: {e}", path.display(), n + 1))?;
        if let Some(n) = value.get("lost").and_then(|v| v.as_u64()) {
            lost += n;
            continue;
        }
        records.push(
            serde_json::from_value(value)
                .map_err(|e| format!("{}:{}: not a recorded exchange: {e}", path.display(), n + 1))?,
        );
    }
    Ok((records, lost))
}
