//! A sidecar's optional log file: every line with its time and stream, in order, rotated
//! by size (`name.1` is the newest rotated file), created 0600 (logs can hold secrets).
//!
//! Written on its own thread so disk latency never reaches the output readers. Between
//! them sits a queue bounded by bytes (`log_file_buffer`). When it is full, the mode
//! decides, as Docker's json-file driver does: `blocking` (the default) makes the reader
//! wait, so the child waits on its pipe and no line is lost; `non-blocking` drops the
//! batch, counts it, and writes a marker line into the file saying how many lines are
//! missing and when. A failing disk (full, file too large) is an event; the writer keeps
//! the unwritten text, retries every second, and says when writing resumes.

use super::sidecar::EventSink;
use super::status::EventKind;
use crate::config::{LogFileConfig, LogFileMode};
use crate::os::rotate::open_append;
use crate::supervisor::scrollback::{LogLine, Stream};
use crate::text::stamp::Stamp;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc};

/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// Lines formatted per write: about 128 KiB of text for lines of a hundred bytes.
const WRITE_LINES: usize = 1024;
/// Bytes a line costs in the queue beyond its text (time, stream tag, bookkeeping).
const LINE_COST: usize = 48;

/// Counters an operator sees (dashboard, status, metrics).
#[derive(Debug, Default)]
pub struct LogFileStats {
    pub written_lines: AtomicU64,
    /// Lines that never reached the file (non-blocking mode, queue full).
    pub dropped_lines: AtomicU64,
    /// Dropped since the last marker line, and when the first and last of them came.
    pending_gap: AtomicU64,
    gap_from_ns: AtomicU64,
    gap_to_ns: AtomicU64,
}

enum Queued {
    Lines {
        lines: Arc<Vec<LogLine>>,
        permits: u32,
    },
    /// Lines start being dropped here: the marker goes at this place in the file, with
    /// the count known once the next batch gets through.
    GapStart,
}

/// The reader's side: hands batches to the writer thread.
pub struct LogFile {
    queue: mpsc::UnboundedSender<Queued>,
    budget: Arc<Semaphore>,
    capacity: u32,
    /// Dropping (a `GapStart` is queued and no batch has got through since).
    in_gap: std::sync::atomic::AtomicBool,
    mode: LogFileMode,
    pub stats: Arc<LogFileStats>,
}

impl LogFile {
    pub fn start(config: &LogFileConfig, events: Arc<EventSink>) -> io::Result<LogFile> {
        let file = RotatingFile::open(config.clone())?;
        let capacity = config.buffer.clamp(64 << 10, u32::MAX as u64) as u32;
        let budget = Arc::new(Semaphore::new(capacity as usize));
        let stats = Arc::new(LogFileStats::default());
        let (queue, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            file,
            rx,
            budget: budget.clone(),
            stats: stats.clone(),
            events,
            stamp: Stamp::new(crate::text::stamp::FILE),
        };
        std::thread::Builder::new()
            .name(format!("log-{}", writer.events.name))
            .spawn(move || writer.run())?;
        Ok(LogFile { queue, budget, capacity, in_gap: Default::default(), mode: config.mode, stats })
    }

    /// Queues a batch. In blocking mode waits while the queue is full; in non-blocking
    /// mode drops the batch instead (counted, and marked in the file).
    pub async fn write(&self, lines: &Arc<Vec<LogLine>>) {
        let bytes: usize = lines.iter().map(|l| l.bytes.len() + LINE_COST).sum();
        let permits = bytes.min(self.capacity as usize) as u32;
        let acquired = match self.mode {
            LogFileMode::Blocking => self.budget.acquire_many(permits).await.ok(),
            LogFileMode::NonBlocking => self.budget.try_acquire_many(permits).ok(),
        };
        match acquired {
            Some(permit) => {
                permit.forget();
                self.in_gap.store(false, Ordering::Relaxed);
                let _ = self.queue.send(Queued::Lines { lines: lines.clone(), permits });
            }
            None => {
                self.stats.note_gap(lines);
                if !self.in_gap.swap(true, Ordering::Relaxed) {
                    let _ = self.queue.send(Queued::GapStart);
                }
            }
        }
    }
}

impl LogFileStats {
    fn note_gap(&self, lines: &[LogLine]) {
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else { return };
        self.dropped_lines.fetch_add(lines.len() as u64, Ordering::Relaxed);
        // The first drop of a gap sets its start; every drop moves its end.
        let _ = self.gap_from_ns.compare_exchange(0, nanos(first.at), Ordering::Relaxed, Ordering::Relaxed);
        self.gap_to_ns.store(nanos(last.at), Ordering::Relaxed);
        self.pending_gap.fetch_add(lines.len() as u64, Ordering::Release);
    }

    /// Takes the gap to report, if lines were dropped since the last marker.
    fn take_gap(&self) -> Option<(u64, SystemTime, SystemTime)> {
        let count = self.pending_gap.swap(0, Ordering::Acquire);
        if count == 0 {
            return None;
        }
        let from = self.gap_from_ns.swap(0, Ordering::Relaxed);
        let to = self.gap_to_ns.load(Ordering::Relaxed).max(from);
        Some((count, UNIX_EPOCH + Duration::from_nanos(from), UNIX_EPOCH + Duration::from_nanos(to)))
    }
}

fn nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64).max(1)
}

struct Writer {
    file: RotatingFile,
    rx: mpsc::UnboundedReceiver<Queued>,
    budget: Arc<Semaphore>,
    stats: Arc<LogFileStats>,
    events: Arc<EventSink>,
    stamp: Stamp,
}

impl Writer {
    fn run(mut self) {
        let mut failing: Option<io::ErrorKind> = None;
        let mut gap_open = false;
        while let Some(item) = self.rx.blocking_recv() {
            let (lines, permits) = match item {
                Queued::GapStart => {
                    gap_open = true;
                    continue;
                }
                Queued::Lines { lines, permits } => (lines, permits),
            };
            if std::mem::take(&mut gap_open) {
                self.mark_gap();
            }
            // Formatted and written a slice at a time, so the text is still in cache when
            // the kernel copies it. Until it is on disk the batch's budget stays taken: a
            // failing disk fills the queue, and then the output waits (or drops).
            for chunk in lines.chunks(WRITE_LINES) {
                self.file.queue(&mut self.stamp, chunk);
                while let Err(e) = self.file.write_out() {
                    if failing != Some(e.kind()) {
                        failing = Some(e.kind());
                        self.events.emit(EventKind::LogFileFailed {
                            error: format!("{}: {e}", self.file.path().display()),
                        });
                    }
                    std::thread::sleep(RETRY);
                }
            }
            if failing.take().is_some() {
                self.events.emit(EventKind::LogFileResumed);
            }
            self.stats.written_lines.fetch_add(lines.len() as u64, Ordering::Relaxed);
            self.budget.add_permits(permits as usize);
        }
        // The sidecar is gone for good: a gap not yet marked is marked now.
        self.mark_gap();
        let _ = self.file.write_out();
    }

    /// Writes the marker line for lines dropped since the last one, if any.
    fn mark_gap(&mut self) {
        let Some((count, from, to)) = self.stats.take_gap() else { return };
        let from = self.stamp.text(from).to_string();
        let marker = format!(
            "[sidetop] {count} lines missing here, from {from} to {}: the log file could not keep up (log_file_mode = \"non-blocking\")",
            self.stamp.text(to)
        );
        let line = LogLine { at: to, stream: Stream::Stderr, cut: false, bytes: marker.into() };
        self.file.queue(&mut self.stamp, std::slice::from_ref(&line));
    }
}

/// The file and the formatted text not yet written to it (kept across failed writes).
struct RotatingFile {
    config: LogFileConfig,
    file: File,
    size: u64,
    out: Vec<u8>,
    /// How much of `out` is already in the file (a write that failed half-way).
    written: usize,
    /// Offsets in `out` where the file must rotate before writing on.
    rotate_at: Vec<usize>,
}

impl RotatingFile {
    fn open(config: LogFileConfig) -> io::Result<Self> {
        if let Some(dir) = config.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(&config.path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            config,
            file,
            size,
            out: Vec::with_capacity(256 << 10),
            written: 0,
            rotate_at: Vec::new(),
        })
    }

    fn path(&self) -> &Path {
        &self.config.path
    }

    /// Formats lines into the pending text, noting where rotations fall.
    fn queue(&mut self, stamp: &mut Stamp, lines: &[LogLine]) {
        let mut size = self.size + (self.out.len() - self.written) as u64;
        if let Some(&last) = self.rotate_at.last() {
            size = (self.out.len() - last) as u64;
        }
        for line in lines {
            let stamp = stamp.text(line.at);
            let tag: &[u8] = match line.stream {
                Stream::Stdout => b" out| ",
                Stream::Stderr => b" err| ",
            };
            let cut: &[u8] = if line.cut { b" [cut]" } else { b"" };
            let len = (stamp.len() + tag.len() + line.bytes.len() + cut.len() + 1) as u64;
            if size > 0 && size + len > self.config.max_size {
                self.rotate_at.push(self.out.len());
                size = 0;
            }
            self.out.extend_from_slice(stamp.as_bytes());
            self.out.extend_from_slice(tag);
            self.out.extend_from_slice(&line.bytes);
            self.out.extend_from_slice(cut);
            self.out.push(b'\n');
            size += len;
        }
    }

    /// Writes all pending text, rotating where noted. On error, what was written stays
    /// written and the rest is tried again next time.
    fn write_out(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            let end = self.rotate_at.first().copied().unwrap_or(self.out.len());
            if self.written == end {
                self.rotate()?;
                self.rotate_at.remove(0);
                continue;
            }
            match self.file.write(&self.out[self.written..end]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    self.written += n;
                    self.size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        // A flood's buffer is not kept for a quiet sidecar.
        if self.out.capacity() > 1 << 20 {
            self.out.shrink_to(256 << 10);
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        crate::os::rotate::shift(&self.config.path, self.config.keep)?;
        self.file = open_append(&self.config.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
