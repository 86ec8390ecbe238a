//! Writing to a child's stdin (or an IPC socket) without ever blocking the engine: writes
//! are queued to a task that owns the pipe, in order, and each one has a deadline, so a
//! child that stops reading costs a timeout error, not a stuck supervisor.

use bytes::Bytes;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const QUEUE: usize = 1024;

type Job = (Bytes, oneshot::Sender<io::Result<()>>);

#[derive(Clone)]
pub struct StdinWriter {
    jobs: mpsc::Sender<Job>,
}

impl StdinWriter {
    pub fn start<W: AsyncWrite + Unpin + Send + 'static>(mut stdin: W) -> StdinWriter {
        let (jobs, mut rx) = mpsc::channel::<Job>(QUEUE);
        tokio::spawn(async move {
            let mut broken: Option<io::ErrorKind> = None;
            while let Some((bytes, reply)) = rx.recv().await {
                let result = match broken {
                    Some(kind) => Err(io::Error::new(kind, "stdin is no longer writable")),
                    None => match tokio::time::timeout(WRITE_TIMEOUT, async {
                        stdin.write_all(&bytes).await?;
                        stdin.flush().await
                    })
                    .await
                    {
                        Ok(result) => result,
                        // Part of the data may have gone out: later writes could splice
                        // into it, so the pipe is treated as broken from here on.
                        Err(_) => Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the sidecar is not reading its stdin",
                        )),
                    },
                };
                if let Err(e) = &result {
                    broken = Some(e.kind());
                }
                let _ = reply.send(result);
            }
        });
        StdinWriter { jobs }
    }

    /// Queues `bytes` and waits for them to be written (or to fail).
    pub async fn write(&self, bytes: Bytes) -> io::Result<()> {
        let done = self.submit(bytes)?;
        done.await.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin closed")))
    }

    /// Queues `bytes` now (so writes keep the order of `submit` calls); the receiver
    /// says when they were written.
    pub fn submit(&self, bytes: Bytes) -> io::Result<oneshot::Receiver<io::Result<()>>> {
        let (reply, done) = oneshot::channel();
        self.jobs
            .try_send((bytes, reply))
            .map_err(|_| io::Error::new(io::ErrorKind::WouldBlock, "write queue is full"))?;
        Ok(done)
    }
}
