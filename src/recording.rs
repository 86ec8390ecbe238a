//! Recording traffic: every exchange as one JSON line (time, sidecar, origin, method, the
//! request to send it again, response or error, latency, outcome), for `sidetop replay`.
//!
//! The writer is a task of its own fed by the exchange broadcast, so recording adds
//! nothing to the request path; if it falls behind, the exchanges it missed are counted
//! and a `{"lost": N}` line marks the place. Files rotate by size like log files.

use crate::config::ipc::RequestSpec;
use crate::ipc::protocol::{Exchange, Origin};
use serde::{Deserialize, Serialize};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Exchanges the writer fell too far behind to see.
    pub lost: AtomicU64,
    pub bytes: AtomicU64,
}

/// A recording in progress; dropping it (or `stop`) ends it after writing what it has.
pub struct Recording {
    pub path: PathBuf,
    /// Only this sidecar's exchanges, or every sidecar's.
    pub sidecar: Option<String>,
    pub counts: Arc<Counts>,
    task: tokio::task::JoinHandle<io::Result<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Recording {
    /// Opens (appends to) `path` and records what `exchanges` carries from now on.
    pub fn start(
        exchanges: broadcast::Receiver<Arc<Exchange>>,
        path: &Path,
        sidecar: Option<String>,
        max_bytes: u64,
    ) -> io::Result<Recording> {
        let file = crate::rotate::open_append(path)?;
        let counts = Arc::new(Counts::default());
        counts.bytes.store(file.metadata()?.len(), Ordering::Relaxed);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let writer = Writer {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 << 10, file),
            counts: counts.clone(),
            max_bytes: max_bytes.max(4096),
            sidecar: sidecar.clone(),
        };
        let task = tokio::spawn(writer.run(exchanges, stopped));
        Ok(Recording { path: path.to_path_buf(), sidecar, counts, task, stop: Some(stop) })
    }

    /// Ends the recording once what is queued is written; says what it wrote.
    pub async fn stop(mut self) -> io::Result<String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result?,
            Err(e) => return Err(io::Error::other(e.to_string())),
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

struct Writer {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    counts: Arc<Counts>,
    max_bytes: u64,
    sidecar: Option<String>,
}

impl Writer {
    async fn run(
        mut self,
        mut exchanges: broadcast::Receiver<Arc<Exchange>>,
        mut stopped: tokio::sync::oneshot::Receiver<()>,
    ) -> io::Result<()> {
        loop {
            let received = tokio::select! {
                biased;
                received = exchanges.recv() => received,
                _ = &mut stopped => break,
            };
            match received {
                Ok(exchange) => self.write(&exchange)?,
                Err(broadcast::error::RecvError::Lagged(n)) => self.lost(n)?,
                Err(broadcast::error::RecvError::Closed) => break,
            }
            // Flushed whenever the queue is empty: a crash loses at most what was queued.
            if exchanges.is_empty() {
                self.out.flush()?;
            }
        }
        // What was sent before the stop is still written.
        while let Ok(exchange) = exchanges.try_recv() {
            self.write(&exchange)?;
        }
        self.out.flush()
    }

    fn write(&mut self, exchange: &Exchange) -> io::Result<()> {
        if self.sidecar.as_deref().is_some_and(|s| s != &*exchange.sidecar) {
            return Ok(());
        }
        self.line(&serde_json::to_vec(&Record::of(exchange)).map_err(io::Error::other)?)?;
        self.counts.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn lost(&mut self, n: u64) -> io::Result<()> {
        self.counts.lost.fetch_add(n, Ordering::Relaxed);
        let at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        self.line(format!("{{\"lost\":{n},\"at_us\":{at_us}}}").as_bytes())
    }

    fn line(&mut self, json: &[u8]) -> io::Result<()> {
        let size = json.len() as u64 + 1;
        if self.counts.bytes.load(Ordering::Relaxed) + size > self.max_bytes {
            self.out.flush()?;
            crate::rotate::shift(&self.path, KEEP)?;
            self.out = BufWriter::with_capacity(256 << 10, crate::rotate::open_append(&self.path)?);
            self.counts.bytes.store(0, Ordering::Relaxed);
        }
        self.out.write_all(json)?;
        self.out.write_all(b"\n")?;
        self.counts.bytes.fetch_add(size, Ordering::Relaxed);
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
