//! One run's output to the application: a thread of its own reads the child's stdout
//! and writes each read to the wrapper's stdout at once (see `blocking` for why a
//! thread), a copy to the tap first. While sidetop awaits a reply of its own, the output
//! goes frame by frame and that reply is taken out (`own`). The run's task waits for the
//! thread; when the task is dropped (the run is ended), the thread is told to stop.

use super::{READ_SIZE, WrapIo, blocking, frames};
use crate::ipc::tap::Side;
use bytes::BytesMut;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

/// Passes run `run`'s stdout (`fd`, what was read of it already in `pending`) on until
/// it ends, the application stops reading, or this future is dropped.
pub(super) async fn pass(io: Arc<WrapIo>, run: u64, fd: OwnedFd, pending: BytesMut) {
    let cancel = match blocking::Cancel::new() {
        Ok(cancel) => Arc::new(cancel),
        Err(e) => {
            tracing::error!("wrap: cannot pass the child's output on: {e}");
            return;
        }
    };
    // The wrapper's stdout is registered with the runtime here, on its side.
    io.stdout();
    let (done, ended) = tokio::sync::oneshot::channel();
    let told = cancel.clone();
    let spawned = std::thread::Builder::new().name(format!("wrap-stdout-{run}")).spawn(move || {
        pass_until_end(&io, run, &fd, pending, &told);
        let _ = done.send(());
    });
    if let Err(e) = spawned {
        tracing::error!("wrap: cannot start the output thread: {e}");
        return;
    }
    struct TellOnDrop(Arc<blocking::Cancel>);
    impl Drop for TellOnDrop {
        fn drop(&mut self) {
            self.0.trip();
        }
    }
    let _stop = TellOnDrop(cancel);
    let _ = ended.await;
}

fn pass_until_end(io: &WrapIo, run: u64, fd: &OwnedFd, mut buf: BytesMut, cancel: &blocking::Cancel) {
    // Output held back while replies of sidetop's own are awaited (see `own`).
    let mut held = BytesMut::new();
    if !buf.is_empty() && !pass_on(io, run, &buf, &mut held) {
        return;
    }
    loop {
        buf.clear();
        buf.reserve(READ_SIZE);
        let n = blocking::read_some(fd.as_raw_fd(), &mut buf, Some(cancel)).unwrap_or(0);
        if n == 0 {
            if !held.is_empty() {
                let rest = held.split();
                io.offer(Side::Child, Some(run), &rest, Instant::now());
                let _ = io.write_stdout_blocking(&rest);
            }
            if let Some(tap) = &io.tap {
                tap.closed(Side::Child);
            }
            return;
        }
        if !pass_on(io, run, &buf, &mut held) {
            return;
        }
    }
}

/// Offers and writes one read of the child's output to the application; false when the
/// application stopped reading (the child's stdout is then closed, so the child sees
/// what it would have seen).
fn pass_on(io: &WrapIo, run: u64, read: &[u8], held: &mut BytesMut) -> bool {
    let mut framed = BytesMut::new();
    let out: &[u8] = if io.claims.active() || !held.is_empty() {
        held.extend_from_slice(read);
        while let Some((len, body)) = frames::next_frame(held, io.framing) {
            let frame = held.split_to(len);
            if !io.claims.claim(&frame[body]) {
                framed.extend_from_slice(&frame);
            }
        }
        &framed
    } else {
        read
    };
    if out.is_empty() {
        return true;
    }
    io.offer(Side::Child, Some(run), out, Instant::now());
    if let Err(e) = io.write_stdout_blocking(out) {
        tracing::info!("wrap: the application stopped reading ({e}); closing the child's output");
        return false;
    }
    true
}
