//! Draining a child's stdout/stderr: large reads, split into lines (or protocol frames),
//! delivered in batches to the bounded ring (never blocks), an optional log file, and an
//! optional lossless subscriber (headless mode), the only thing allowed to slow the
//! child down. On stdio IPC sidecars, stdout frames that parse as the protocol go to IPC
//! and everything else to the log.

use super::health::ReadySignal;
use crate::ipc::Ipc;
use crate::ipc::framing::{Decoder, Piece};
use crate::logs::{LogBuffer, LogLine, Stream};
use bytes::BytesMut;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{Notify, mpsc};

/// Read size; pipes are enlarged to 1 MiB so a flood arrives in few, large reads.
const READ_SIZE: usize = 256 << 10;

/// Lines from one read of one sidecar, for subscribers that must see every line.
#[derive(Debug, Clone)]
pub struct LineBatch {
    pub sidecar: usize,
    pub lines: Vec<LogLine>,
}

/// Where one sidecar's lines go. Lives as long as the sidecar, across restarts.
pub struct OutputSink {
    pub sidecar: usize,
    pub max_line: usize,
    pub logs: Arc<Mutex<LogBuffer>>,
    pub subscriber: Option<mpsc::Sender<LineBatch>>,
    pub log_file: Option<mpsc::Sender<Vec<LogLine>>>,
    pub changed: Arc<Notify>,
    /// Stdout carries protocol frames for this sidecar's IPC.
    pub ipc: Option<Arc<Ipc>>,
    pub ready_log: Option<(regex::Regex, Arc<ReadySignal>)>,
}

impl OutputSink {
    async fn deliver(&self, lines: Vec<LogLine>) {
        if lines.is_empty() {
            return;
        }
        if let Some((regex, signal)) = &self.ready_log
            && signal.is_armed()
            && lines.iter().any(|l| regex.is_match(&crate::sanitize::sanitize(&l.bytes)))
        {
            signal.fire();
        }
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).extend(&lines);
        self.changed.notify_one();
        if let Some(file) = &self.log_file {
            // A stalled disk must not stall the child: drop the batch for the file and
            // say so in sidetop's log rather than wait.
            if file.try_send(lines.clone()).is_err() {
                tracing::warn!(
                    "sidecar {}: log file writer is behind; {} lines not written to the file",
                    self.sidecar,
                    lines.len()
                );
            }
        }
        if let Some(subscriber) = &self.subscriber {
            let _ = subscriber.send(LineBatch { sidecar: self.sidecar, lines }).await;
        }
    }

    /// Sorts decoded pieces into IPC frames and log lines.
    fn to_lines(&self, pieces: &mut Vec<Piece>, stream: Stream, read_at: Instant) -> Vec<LogLine> {
        let at = SystemTime::now();
        let mut lines = Vec::with_capacity(pieces.len());
        let ipc = if stream == Stream::Stdout { self.ipc.as_ref() } else { None };
        for piece in pieces.drain(..) {
            let (mut bytes, mut cut) = match piece {
                Piece::Oversize(len) => {
                    if let Some(ipc) = ipc {
                        ipc.on_oversize(len);
                    }
                    continue;
                }
                Piece::Frame(bytes) => (bytes, false),
                Piece::Line(bytes, cut) => (bytes, cut),
            };
            if let Some(ipc) = ipc {
                if !cut && ipc.on_frame(&bytes, read_at) {
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

/// Reads until end of stream. Returns when the last process holding the pipe closed it.
pub async fn pump<R: AsyncRead + Unpin>(mut reader: R, stream: Stream, sink: Arc<OutputSink>) {
    let framing = match (&sink.ipc, stream) {
        (Some(ipc), Stream::Stdout) => Some(ipc.config.framing),
        _ => None,
    };
    let mut decoder = Decoder::new(framing, sink.max_line);
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut pieces = Vec::new();
    loop {
        if buf.capacity() - buf.len() < READ_SIZE / 4 {
            buf.reserve(READ_SIZE);
        }
        let n = match reader.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!("sidecar {} {stream:?} read error: {e}", sink.sidecar);
                0
            }
        };
        let read_at = Instant::now();
        decoder.decode(&mut buf, &mut pieces, n == 0);
        let lines = sink.to_lines(&mut pieces, stream, read_at);
        sink.deliver(lines).await;
        if n == 0 {
            return;
        }
    }
}
