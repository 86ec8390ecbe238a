//! The application's bytes to the running child: a thread of its own reads the wrapper's
//! stdin and writes each read on to the child's stdin at once, whole (see `blocking` for
//! why a thread). Between runs the bytes wait for the next child (the runtime is asked
//! only then); a copy goes to the tap before the write, so the observer sees a request
//! before its reply; after each write the thread says whether the application's stream
//! stands between two frames, for sidetop's own requests (`inject`).

use super::{READ_SIZE, RESTART_WAIT, WrapIo, blocking, boundary::Boundary};
use crate::ipc::tap::{Abandoned, Side};
use bytes::BytesMut;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::runtime::Handle;

/// Copies the wrapper's stdin to the running child's stdin until the application closes
/// it; then the child reads end of file.
pub async fn forward_stdin(io: Arc<WrapIo>) {
    let runtime = Handle::current();
    let (done, ended) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("wrap-stdin".into()).spawn(move || {
        forward(&io, &runtime);
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => {
            let _ = ended.await;
        }
        Err(e) => tracing::error!("wrap: cannot start the stdin thread: {e}"),
    }
}

fn forward(io: &WrapIo, runtime: &Handle) {
    let mut runs = io.stdin.subscribe();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut boundary = Boundary::new(io.framing);
    loop {
        buf.clear();
        let n = match blocking::read_some(0, &mut buf, None) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("wrap: reading stdin: {e}");
                0
            }
        };
        if n == 0 {
            io.stdin_closed.store(true, Ordering::Release);
            if let Some(tap) = &io.tap {
                tap.closed(Side::App);
            }
            // Dropping the last handle on the child's stdin closes it.
            io.stdin.send_replace(None);
            return;
        }
        let at = Instant::now();
        let current = io.stdin.borrow().clone();
        let stdin = match current {
            Some(stdin) => stdin,
            // Between runs (a restart) the bytes wait for the next child, for a while.
            None => {
                let waited = runtime.block_on(async {
                    tokio::time::timeout(RESTART_WAIT, runs.wait_for(Option::is_some))
                        .await
                        .map(|stdin| stdin.map(|s| s.clone()))
                });
                match waited {
                    Ok(Ok(Some(stdin))) => stdin,
                    Ok(Ok(None)) => continue,
                    Ok(Err(_)) => return,
                    Err(_) => {
                        io.followed(&mut boundary, &buf);
                        runtime.block_on(refuse(io, &buf, at));
                        continue;
                    }
                }
            }
        };
        io.offer(Side::App, Some(stdin.run), &buf, at);
        let pipe = stdin.pipe.blocking_lock();
        if let Err(e) = blocking::write_all(pipe.as_raw_fd(), &buf) {
            // The child closed its stdin or exited; what it did not take is lost to it,
            // as it would be without sidetop.
            tracing::debug!("wrap: writing the child's stdin: {e}");
        }
        let between = io.followed(&mut boundary, &buf);
        drop(pipe);
        if between && io.frame_wanted.swap(false, Ordering::AcqRel) {
            io.frame_ended.notify_waiters();
        }
    }
}

impl WrapIo {
    /// The application's stream went on by `bytes`: says whether it now stands between
    /// two frames (for sidetop's own requests), and returns that.
    fn followed(&self, boundary: &mut Boundary, bytes: &[u8]) -> bool {
        boundary.feed(bytes);
        let between = boundary.at();
        self.app_between_frames.store(between, Ordering::Release);
        between
    }
}

/// No child came back to take these bytes: their requests are answered with an error.
async fn refuse(io: &WrapIo, bytes: &[u8], at: Instant) {
    tracing::warn!(
        "wrap: the sidecar did not come back within {RESTART_WAIT:?}; refusing {} bytes",
        bytes.len()
    );
    io.offer(Side::App, None, bytes, at);
    if let Some(tap) = &io.tap
        && let Some(frames) = tap.abandon(None, Abandoned::NotBack(RESTART_WAIT)).await
        && !frames.is_empty()
    {
        let _ = io.write_stdout(&frames).await;
    }
}
