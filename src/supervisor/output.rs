//! Draining a child's stdout/stderr: large reads, split into lines (or protocol frames),
//! delivered in batches to the bounded ring (never blocks), an optional log file (may
//! wait, so it loses nothing), and an optional line feed (headless mode; never blocks,
//! counts what it skips). On
//! stdio IPC sidecars, stdout frames that parse as the protocol go to the connection of
//! the run that produced them, everything else to the log.

use super::health::ReadySignal;
use super::logfile::LogFile;
use super::pipe_reader::PipeReader;
use crate::ipc::Ipc;
use crate::ipc::framing::{Decoder, Piece};
use crate::ipc::rpc::RpcConn;
use crate::supervisor::scrollback::{LogBuffer, LogLine, Stream};
use bytes::BytesMut;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// Read size. Pipes are enlarged to 1 MiB so a flood waits there and arrives in full
/// reads; a read of 256 KiB is large enough that syscalls do not matter (800 for 200 MB)
/// and small enough that the batch is still in cache when the log file and the printer
/// copy it, and that the lines the scrollback keeps pin little of the buffers they share.
const READ_SIZE: usize = 256 << 10;
/// A read smaller than this means the child writes in small pieces: let them gather for
/// a moment instead of waking for every few lines (log text only, never IPC replies).
const SMALL_READ: usize = 64 << 10;
const GATHER: Duration = Duration::from_millis(1);

/// Lines from one read of one sidecar, for subscribers that must see every line.
#[derive(Debug, Clone)]
pub struct LineBatch {
    pub sidecar: Arc<str>,
    pub lines: Arc<Vec<LogLine>>,
}

/// Where one sidecar's lines go. Lives as long as the sidecar, across restarts.
pub struct OutputSink {
    pub sidecar: Arc<str>,
    pub max_line: usize,
    pub logs: Arc<Mutex<LogBuffer>>,
    pub subscriber: Option<super::LineFeed>,
    pub log_file: Option<LogFile>,
    pub changed: Arc<Notify>,
    /// Stdout carries protocol frames for this sidecar's IPC.
    pub ipc: Option<Arc<Ipc>>,
    pub ready_log: Option<regex::Regex>,
    /// `sidetop wrap`: stderr is also passed on to the wrapper's own stderr, as read.
    pub mirror_stderr: bool,
    /// Lines captured so far (the scrollback's `total_lines`), for followers: a watch
    /// wakes every one of them, coalesced, without a message per batch.
    pub lines_seen: tokio::sync::watch::Sender<u64>,
}

/// What belongs to one run of the sidecar and its output readers: frames go to this
/// run's connection, a `ready_log` match readies this run. Nothing of run N reaches N+1.
#[derive(Default)]
pub struct RunLink {
    pub conn: Option<Arc<RpcConn>>,
    pub ready: Option<Arc<ReadySignal>>,
}

impl OutputSink {
    async fn deliver(&self, lines: Vec<LogLine>, link: &RunLink) {
        if lines.is_empty() {
            return;
        }
        if let (Some(regex), Some(signal)) = (&self.ready_log, &link.ready)
            && signal.is_armed()
            && lines.iter().any(|l| regex.is_match(&crate::text::sanitize::sanitize(&l.bytes)))
        {
            signal.fire();
        }
        let total = {
            let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
            logs.extend(&lines);
            logs.total_lines
        };
        self.lines_seen.send_replace(total);
        self.changed.notify_one();
        let lines = Arc::new(lines);
        if let Some(file) = &self.log_file {
            file.write(&lines).await;
        }
        if let Some(subscriber) = &self.subscriber {
            subscriber.offer(LineBatch { sidecar: self.sidecar.clone(), lines });
        }
    }

    /// Sorts decoded pieces into IPC frames and log lines. Every line of one read shares
    /// its arrival time, so it is formatted once per batch downstream.
    fn to_lines(
        &self,
        pieces: &mut Vec<Piece>,
        stream: Stream,
        conn: Option<&Arc<RpcConn>>,
        read_at: Instant,
    ) -> Vec<LogLine> {
        let at = SystemTime::now();
        let mut lines = Vec::with_capacity(pieces.len());
        let ipc = self.ipc.as_ref().zip(conn);
        for piece in pieces.drain(..) {
            let (mut bytes, mut cut) = match piece {
                Piece::Oversize(len) => {
                    if let Some((ipc, _)) = ipc {
                        ipc.on_oversize(len);
                    }
                    continue;
                }
                Piece::Frame(bytes) => (bytes, false),
                Piece::Line(bytes, cut) => (bytes, cut),
            };
            if let Some((ipc, conn)) = ipc {
                if !cut && ipc.on_frame(conn, &bytes, read_at) {
                    continue;
                }
                // A frame past the IPC cap arrives cut: a protocol error, and log text.
                if cut && matches!(bytes.trim_ascii_start().first(), Some(b'{') | Some(b'[')) {
                    ipc.on_oversize(bytes.len());
                }
            }
            // Frames may be longer than log lines are allowed to be.
            if bytes.len() > self.max_line {
                bytes.truncate(self.max_line);
                cut = true;
            }
            lines.push(LogLine { at, stream, cut, bytes });
        }
        lines
    }
}

/// Server log messages (MCP `notifications/message`, LSP `window/logMessage`, …) as
/// lines of the sidecar's log, like its own output, until the run ends.
/// Messages that came faster than the log took them are counted and said in the log.
pub async fn drain_notes(mut notes: crate::ipc::Notes, sink: Arc<OutputSink>) {
    let line = |text: String| LogLine {
        at: SystemTime::now(),
        stream: Stream::Stdout,
        cut: false,
        bytes: text.into(),
    };
    while let Some(text) = notes.rx.recv().await {
        let mut lines = vec![line(text)];
        while let Ok(more) = notes.rx.try_recv() {
            lines.push(line(more));
        }
        let dropped = notes.take_dropped();
        if dropped > 0 {
            lines.push(line(format!(
                "[sidetop] {dropped} server log messages not shown: they came faster than the log took them"
            )));
        }
        sink.deliver(lines, &RunLink::default()).await;
    }
}

/// Reads until end of stream. Returns when the last process holding the pipe closed it.
pub async fn pump(pipe: OwnedFd, stream: Stream, sink: Arc<OutputSink>, link: Arc<RunLink>) {
    let conn = if stream == Stream::Stdout { link.conn.as_ref() } else { None };
    let mut reader = match PipeReader::new(pipe, conn.is_none()) {
        Ok(reader) => reader,
        Err(e) => {
            tracing::error!("sidecar {} {stream:?}: cannot read its output: {e}", sink.sidecar);
            return;
        }
    };
    let framing = match (&sink.ipc, conn) {
        (Some(ipc), Some(_)) => Some(ipc.config.framing),
        _ => None,
    };
    let mut decoder = Decoder::new(framing, sink.max_line);
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut pieces = Vec::new();
    loop {
        if buf.capacity() - buf.len() < READ_SIZE / 4 {
            buf.reserve(READ_SIZE);
        }
        let before = buf.len();
        let n = match reader.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!("sidecar {} {stream:?} read error: {e}", sink.sidecar);
                0
            }
        };
        if sink.mirror_stderr && stream == Stream::Stderr && n > 0 {
            super::passthrough::mirror_stderr(&buf[before..before + n]).await;
        }
        let read_at = Instant::now();
        decoder.decode(&mut buf, &mut pieces, n == 0);
        let lines = sink.to_lines(&mut pieces, stream, conn, read_at);
        sink.deliver(lines, &link).await;
        if n == 0 {
            return;
        }
        if n < SMALL_READ && conn.is_none() {
            tokio::time::sleep(GATHER).await;
        }
    }
}
