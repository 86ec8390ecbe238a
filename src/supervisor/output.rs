//! Draining a child's stdout/stderr: large reads, split into lines, delivered in batches
//! to the bounded ring (never blocks), an optional log file, and an optional lossless
//! subscriber (headless mode), which is the only thing allowed to slow the child down.

use super::splitter::LineSplitter;
use crate::logs::{LogBuffer, LogLine, Stream};
use bytes::BytesMut;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
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
    pub logs: Arc<Mutex<LogBuffer>>,
    pub subscriber: Option<mpsc::Sender<LineBatch>>,
    pub log_file: Option<mpsc::Sender<Vec<LogLine>>>,
    pub changed: Arc<Notify>,
}

impl OutputSink {
    async fn deliver(&self, lines: Vec<LogLine>) {
        if lines.is_empty() {
            return;
        }
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(&lines);
        self.changed.notify_one();
        if let Some(file) = &self.log_file {
            // A full disk must not stop the child: the writer reports, we move on.
            let _ = file.send(lines.clone()).await;
        }
        if let Some(subscriber) = &self.subscriber {
            let _ = subscriber
                .send(LineBatch {
                    sidecar: self.sidecar,
                    lines,
                })
                .await;
        }
    }
}

/// Reads until end of stream. Returns when the last process holding the pipe closed it.
pub async fn pump<R: AsyncRead + Unpin>(
    mut reader: R,
    stream: Stream,
    max_line: usize,
    sink: Arc<OutputSink>,
) {
    let mut splitter = LineSplitter::new(max_line);
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
        if n == 0 {
            splitter.finish(&mut buf, &mut pieces);
        } else {
            splitter.split(&mut buf, &mut pieces);
        }
        let at = SystemTime::now();
        let lines = pieces
            .drain(..)
            .map(|(bytes, cut)| LogLine {
                at,
                stream,
                cut,
                bytes,
            })
            .collect();
        sink.deliver(lines).await;
        if n == 0 {
            return;
        }
    }
}
