//! `sidetop wrap`'s pipes: the application's stdin goes to the child's stdin and the
//! child's stdout to the application, byte for byte and as the bytes arrive (a read is
//! written on at once, whole, never re-encoded or held for a frame to complete). Each
//! read is offered to the [`Tap`] before it is written, so the observer always sees a
//! request before its reply; offering copies and never waits.
//!
//! Back-pressure is the application's and the child's, as it would be without sidetop:
//! a child that does not read its stdin makes the forwarder wait (no write deadline), an
//! application that does not read its stdout makes the child wait.

mod fds;

use super::pipe_reader::PipeReader;
use crate::ipc::tap::{Side, Tap};
use bytes::BytesMut;
use fds::{Input, Output};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::{Mutex, watch};

const READ_SIZE: usize = 256 << 10;

/// What a wrapped sidecar shares with the wrapper's stdin forwarder.
pub struct WrapIo {
    pub tap: Option<Arc<Tap>>,
    /// The running child's stdin (none between runs).
    stdin: watch::Sender<Option<Arc<Mutex<ChildStdin>>>>,
    /// The application closed our stdin: each new run's stdin is closed at once too.
    stdin_closed: AtomicBool,
    /// The child's outputs still being passed on (stdout and stderr of each run).
    open_outputs: watch::Sender<usize>,
}

impl WrapIo {
    pub fn new(tap: Option<Arc<Tap>>) -> WrapIo {
        WrapIo {
            tap,
            stdin: watch::channel(None).0,
            stdin_closed: AtomicBool::new(false),
            open_outputs: watch::channel(0).0,
        }
    }

    /// A run started: its stdin is where the application's bytes go now.
    pub fn run_started(&self, stdin: ChildStdin) {
        if self.stdin_closed.load(Ordering::Acquire) {
            drop(stdin);
            return;
        }
        self.stdin.send_replace(Some(Arc::new(Mutex::new(stdin))));
    }

    /// The run ended: the application's bytes wait for the next one.
    pub fn run_ended(&self) {
        self.stdin.send_replace(None);
    }

    /// A run's stdout and stderr are being passed on (called at spawn, before either
    /// reader starts, so a wait for the end cannot slip between them).
    pub fn outputs_opened(&self) {
        self.open_outputs.send_modify(|n| *n += 2);
    }

    pub fn output_closed(&self) {
        self.open_outputs.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Waits until every output of the child has been passed on to its end, at most
    /// `timeout` (a grandchild may hold a pipe open forever).
    pub async fn drained(&self, timeout: std::time::Duration) -> bool {
        let mut rx = self.open_outputs.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await.is_ok()
    }

    fn offer(&self, side: Side, bytes: &[u8], at: Instant) {
        if let Some(tap) = &self.tap {
            tap.offer(side, bytes, at);
        }
    }
}

/// Copies the wrapper's stdin to the running child's stdin until the application closes
/// it; then the child reads end of file.
pub async fn forward_stdin(io: Arc<WrapIo>) {
    let mut input = match Input::stdin() {
        Ok(input) => input,
        Err(e) => {
            tracing::error!("wrap: cannot read stdin: {e}");
            return;
        }
    };
    let mut runs = io.stdin.subscribe();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    loop {
        buf.clear();
        let n = match input.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
        io.offer(Side::App, &buf, at);
        // Between runs (a restart) the bytes wait for the next child.
        let Ok(stdin) = runs.wait_for(Option::is_some).await.map(|s| s.clone()) else { return };
        let Some(stdin) = stdin else { continue };
        if let Err(e) = stdin.lock().await.write_all(&buf).await {
            // The child closed its stdin or exited; what it did not take is lost to it,
            // as it would be without sidetop.
            tracing::debug!("wrap: writing the child's stdin: {e}");
        }
    }
}

/// Copies the child's stdout to the wrapper's stdout until the child closes it. When the
/// application stops reading for good (EPIPE), the child's stdout is closed too, so the
/// child sees what it would have seen.
pub async fn pass_stdout(pipe: OwnedFd, io: Arc<WrapIo>) {
    pass(pipe, &io).await;
    io.output_closed();
}

async fn pass(pipe: OwnedFd, io: &WrapIo) {
    let (side, to) = (Side::Child, 1);
    let out = match Output::of(to) {
        Ok(out) => out,
        Err(e) => {
            tracing::error!("wrap: cannot write descriptor {to}: {e}");
            return;
        }
    };
    let mut reader = match PipeReader::new(pipe, false) {
        Ok(reader) => reader,
        Err(e) => {
            tracing::error!("wrap: cannot read the child's output: {e}");
            return;
        }
    };
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    loop {
        buf.clear();
        let n = match reader.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        if n == 0 {
            if let Some(tap) = &io.tap {
                tap.closed(side);
            }
            return;
        }
        io.offer(side, &buf, Instant::now());
        if let Err(e) = out.write_all(&buf).await {
            tracing::info!("wrap: the application stopped reading ({e}); closing the child's output");
            return;
        }
    }
}

/// Copies the child's stderr to the wrapper's stderr (the engine's log reader gets its
/// own copy, see `OutputSink::mirror`).
pub async fn mirror_stderr(bytes: &[u8]) {
    static STDERR: tokio::sync::OnceCell<Option<Output>> = tokio::sync::OnceCell::const_new();
    let out = STDERR.get_or_init(|| async { Output::of(2).ok() }).await;
    if let Some(out) = out {
        let _ = out.write_all(bytes).await;
    }
}
