//! sidetop's own requests (a test request from a dashboard, `ctl request`) written into
//! the running child's stdin between two of the application's frames, their replies
//! claimed from its stdout (see `own`). The forwarder says after each write whether the
//! application's stream stands between two frames (`boundary`); a request waits for
//! that, for the child to be running, and for its reply, all within its timeout.

use super::WrapIo;
use crate::ipc::inject::{Claimed, InjectFuture, Injector};
use crate::ipc::protocol::{Outcome, encode};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::timeout_at;

/// How often a request waiting for the application to finish a frame looks again (a
/// wake-up can be missed only if the flag is read just as it changes).
const RELOOK: Duration = Duration::from_millis(100);

impl Injector for WrapIo {
    fn call(&self, message: Value, id: String, timeout: Duration) -> InjectFuture<'_> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let bytes = encode(&message, self.framing);
            let (written, reply) = self
                .write_between_frames(&bytes, &id, deadline)
                .await
                .map_err(|why| why.unwrap_or(Outcome::Timeout(timeout)))?;
            match timeout_at(deadline, reply).await {
                Ok(Ok(reply)) => Ok((reply, written)),
                Ok(Err(_)) => Err(Outcome::Exited("the sidecar's process ended before it answered".into())),
                Err(_) => {
                    // A late reply passes on to the application, which ignores an id it
                    // never used.
                    self.claims.forget(&id);
                    Err(Outcome::Timeout(timeout))
                }
            }
        })
    }
}

impl WrapIo {
    /// Writes `bytes` whole into the running child's stdin where the application's stream
    /// stands between two frames; when the write began, and where the reply to `id` will
    /// come (claimed for the run that was given the request). The waits end at
    /// `deadline` (`Err(None)`), a write once begun does not: half a frame would corrupt
    /// the application's stream.
    async fn write_between_frames(
        &self,
        bytes: &[u8],
        id: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(Instant, oneshot::Receiver<Claimed>), Option<Outcome>> {
        let mut runs = self.stdin.subscribe();
        loop {
            let stdin = match timeout_at(deadline, runs.wait_for(Option::is_some)).await {
                Ok(Ok(stdin)) => stdin.clone().expect("waited for"),
                Ok(Err(_)) => return Err(Some(Outcome::Transport("the wrapper ended".into()))),
                Err(_) => return Err(None),
            };
            let mut pipe = timeout_at(deadline, stdin.pipe.lock()).await.map_err(|_| None)?;
            // The forwarder updates the flag while it holds the pipe: read under it, the
            // flag is the truth about what the child has been given.
            if self.app_between_frames.load(Ordering::Acquire) {
                let reply = self.claims.expect(id, stdin.run);
                let at = Instant::now();
                return match pipe.write_all(bytes).await {
                    Ok(()) => Ok((at, reply)),
                    Err(e) => {
                        self.claims.forget(id);
                        Err(Some(Outcome::Transport(format!("writing the child's stdin: {e}"))))
                    }
                };
            }
            let reached = self.frame_ended.notified();
            tokio::pin!(reached);
            reached.as_mut().enable();
            self.frame_wanted.store(true, Ordering::Release);
            drop(pipe);
            // The application may never finish its frame: look again now and then
            // (the caller's deadline bounds the whole wait).
            let _ = timeout_at(deadline.min(tokio::time::Instant::now() + RELOOK), reached).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(None);
            }
        }
    }
}
