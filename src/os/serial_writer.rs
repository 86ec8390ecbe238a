//! Writing to a child's stdin (or an IPC socket) without ever blocking the engine: the
//! engine task never writes; callers do, one at a time (a fair async lock keeps their
//! order), each write with a deadline, so a child that stops reading costs the caller a
//! timeout error, not a stuck supervisor. Writing in the caller's task, not a writer
//! task, saves a thread hop on every IPC request.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Sink {
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    /// After a failed or timed-out write the stream is not trusted again: part of the
    /// data may have gone out, and later writes would splice into it.
    broken: Option<io::ErrorKind>,
}

impl Sink {
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(kind) = self.broken {
            return Err(io::Error::new(kind, "stdin is no longer writable"));
        }
        // If this future is dropped half-way through (a caller's timeout, a cancelled
        // task), part of `bytes` may be in the pipe: the mark stays and the stream is
        // not used again. A write that completes clears it.
        self.broken = Some(io::ErrorKind::Interrupted);
        let result = match tokio::time::timeout(WRITE_TIMEOUT, async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "the sidecar is not reading its input")),
        };
        self.broken = result.as_ref().err().map(|e| e.kind());
        result
    }
}

#[derive(Clone)]
pub struct StdinWriter {
    sink: Arc<Mutex<Sink>>,
}

impl StdinWriter {
    pub fn start<W: AsyncWrite + Send + 'static>(writer: W) -> StdinWriter {
        StdinWriter { sink: Arc::new(Mutex::new(Sink { writer: Box::pin(writer), broken: None })) }
    }

    /// Exclusive access, in the order asked for: what is registered and written while
    /// holding it keeps that order.
    pub async fn lock(&self) -> MutexGuard<'_, Sink> {
        self.sink.lock().await
    }

    /// Like `lock`, for a write that must be able to outlive its caller.
    pub async fn lock_owned(&self) -> OwnedMutexGuard<Sink> {
        self.sink.clone().lock_owned().await
    }

    /// Closes the stream after the writes already waiting: the child reads end of file,
    /// and later writes fail.
    pub async fn close(&self) {
        let mut sink = self.lock().await;
        let _ = sink.writer.shutdown().await;
        // Dropping the writer closes the descriptor.
        sink.writer = Box::pin(tokio::io::sink());
        sink.broken = Some(io::ErrorKind::BrokenPipe);
    }

    /// Writes `bytes` whole, after any writes already waiting.
    pub async fn write(&self, bytes: &[u8]) -> io::Result<()> {
        self.lock().await.write(bytes).await
    }
}
