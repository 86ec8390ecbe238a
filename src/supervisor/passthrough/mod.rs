//! `sidetop wrap`'s pipes: the application's stdin goes to the child's stdin and the
//! child's stdout to the application, byte for byte and as the bytes arrive (a read is
//! written on at once, whole, never re-encoded or held for a frame to complete). Each
//! read is offered to the [`Tap`] before it is written, so the observer always sees a
//! request before its reply; offering copies and never waits.
//!
//! Back-pressure is the application's and the child's, as it would be without sidetop:
//! a child that does not read its stdin makes the forwarder wait (no write deadline), an
//! application that does not read its stdout makes the child wait.
//!
//! A restart keeps the application's pipes open: the requests the old child left
//! unanswered get an error reply at once (`-32050`), bytes that arrive meanwhile wait for
//! the new child (at most [`RESTART_WAIT`], then `-32051`), and the new child is brought
//! into the application's session before it gets them (`rejoin`).

mod blocking;
mod boundary;
mod fds;
mod forward;
mod frames;
mod inject;
mod own;
mod pass;
mod rejoin;

pub use forward::forward_stdin;

use super::pipe_reader::PipeReader;
use crate::config::ipc::{Framing, HandshakeStep, IpcConfig, Speaks};
use crate::ipc::protocol::encode;
use crate::ipc::tap::{Abandoned, Side, Tap};
use bytes::BytesMut;
use fds::Output;
use serde_json::{Value, json};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::{Mutex, Notify, OnceCell, watch};
use tokio::task::JoinHandle;

const READ_SIZE: usize = 256 << 10;
/// How long the application's bytes wait for a restarting child before its requests get
/// an error.
pub const RESTART_WAIT: Duration = Duration::from_secs(10);
/// How long a new run waits for the old one's last output and abandoned requests.
const OLD_RUN_DRAIN: Duration = Duration::from_secs(2);

/// The stdin of the run that takes the application's bytes now.
#[derive(Clone)]
struct RunStdin {
    run: u64,
    pipe: Arc<Mutex<ChildStdin>>,
}

/// What a wrapped sidecar shares with the wrapper's stdin forwarder.
pub struct WrapIo {
    pub tap: Option<Arc<Tap>>,
    speaks: Speaks,
    framing: Framing,
    /// The running child's stdin (none between runs, and while a new run joins in).
    stdin: watch::Sender<Option<RunStdin>>,
    /// The application closed our stdin: each new run's stdin is closed at once too.
    stdin_closed: AtomicBool,
    /// The child's outputs still being passed on (stdout and stderr of each run).
    open_outputs: watch::Sender<usize>,
    /// The wrapper's stdout, shared by the runs' stdout and the wrapper's own replies.
    stdout: std::sync::OnceLock<Option<Mutex<Output>>>,
    /// The last run whose stdout was passed on to its end.
    stdout_ended: watch::Sender<u64>,
    /// The last run whose abandoned requests were answered: the next run's output
    /// waits for it, so the answers never land inside a frame of the new child's.
    settled: watch::Sender<u64>,
    /// Replies the child owes sidetop itself, kept from the application.
    claims: own::Claims,
    /// The application's bytes so far end between two frames: sidetop's own request may
    /// go in (set by the forwarder while it holds the child's stdin).
    app_between_frames: AtomicBool,
    /// A request of sidetop's waits for the application to finish a frame.
    frame_wanted: AtomicBool,
    frame_ended: Notify,
}

impl WrapIo {
    pub fn new(tap: Option<Arc<Tap>>, ipc: Option<&IpcConfig>) -> WrapIo {
        WrapIo {
            tap,
            speaks: ipc.map_or(Speaks::Plain, |i| i.speaks),
            framing: ipc.map_or(Framing::Newline, |i| i.framing),
            stdin: watch::channel(None).0,
            stdin_closed: AtomicBool::new(false),
            open_outputs: watch::channel(0).0,
            stdout: std::sync::OnceLock::new(),
            stdout_ended: watch::channel(0).0,
            settled: watch::channel(0).0,
            claims: own::Claims::default(),
            app_between_frames: AtomicBool::new(true),
            frame_wanted: AtomicBool::new(false),
            frame_ended: Notify::new(),
        }
    }

    /// Run `run` started: once the previous run has settled and this one has joined the
    /// application's session, its stdin is where the application's bytes go and its
    /// stdout is passed on. Call at spawn, before the stderr reader starts, so a wait for
    /// the end of the outputs cannot slip between them. The task that passes the child's
    /// stdout on is the run's own reader: it is returned for the run to own.
    pub fn run_started(self: &Arc<Self>, run: u64, stdin: ChildStdin, stdout: OwnedFd) -> JoinHandle<()> {
        self.open_outputs.send_modify(|n| *n += 2);
        tokio::spawn(run_pipes(self.clone(), run, stdin, stdout))
    }

    /// Run `run` is ending (stopping or exited): the application's bytes wait for the
    /// next one. Dropping the handle closes the child's stdin (MCP: how a server is told
    /// to exit).
    pub fn detach(&self, run: u64) {
        self.take_stdin(run);
    }

    fn take_stdin(&self, run: u64) -> Option<RunStdin> {
        let mut taken = None;
        self.stdin.send_if_modified(|current| {
            let ours = current.as_ref().is_some_and(|s| s.run == run);
            if ours {
                taken = current.take();
            }
            ours
        });
        taken
    }

    /// Stops run `run` through its protocol (LSP: the `shutdown` request, its reply kept
    /// from the application, then the `exit` notification) with the application's bytes
    /// held for the next run meanwhile. Returns the task that tells it, for the run to
    /// own; `None` when the run has no stdin to be told on.
    pub fn stop_politely(
        self: &Arc<Self>,
        run: u64,
        steps: Vec<HandshakeStep>,
        timeout: Duration,
    ) -> Option<JoinHandle<()>> {
        let stdin = self.take_stdin(run)?;
        let io = self.clone();
        Some(tokio::spawn(async move {
            for (i, step) in steps.iter().enumerate() {
                let mut message = json!({"jsonrpc": "2.0", "method": step.method});
                if let Some(params) = &step.params {
                    message["params"] = params.clone();
                }
                let id = format!("{}stop-{run}-{i}", own::ID_PREFIX);
                let reply = (!step.notification).then(|| {
                    message["id"] = Value::from(id.as_str());
                    io.claims.expect(&id, run)
                });
                let bytes = encode(&message, io.framing);
                if stdin.pipe.lock().await.write_all(&bytes).await.is_err() {
                    io.claims.forget(&id);
                    return;
                }
                let Some(reply) = reply else { continue };
                match tokio::time::timeout(timeout, reply).await {
                    Ok(Ok(reply)) if reply.message.get("error").is_none() => {}
                    // The stop signal follows when the run does not end.
                    _ => {
                        io.claims.forget(&id);
                        tracing::info!("wrap: {} during stop got no reply", step.method);
                        return;
                    }
                }
            }
        }))
    }

    /// Run `run` exited. When another run follows, the application's requests it left
    /// unanswered get an error reply (once its last output is passed on); either way the
    /// next run may then begin.
    pub fn run_ended(self: &Arc<Self>, run: u64, restarting: bool) {
        self.detach(run);
        let io = self.clone();
        tokio::spawn(async move {
            let mut ended = io.stdout_ended.subscribe();
            let _ = tokio::time::timeout(OLD_RUN_DRAIN, ended.wait_for(|e| *e >= run)).await;
            if restarting
                && let Some(tap) = &io.tap
                && let Some(frames) = tap.abandon(Some(run), Abandoned::Restarted).await
                && !frames.is_empty()
            {
                let _ = io.write_stdout(&frames).await;
            }
            io.claims.end_run(run);
            io.settled.send_modify(|s| *s = (*s).max(run));
        });
    }

    pub fn output_closed(&self) {
        self.open_outputs.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Waits until every output of the child has been passed on to its end, at most
    /// `timeout` (a grandchild may hold a pipe open forever).
    pub async fn drained(&self, timeout: Duration) -> bool {
        let mut rx = self.open_outputs.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await.is_ok()
    }

    fn offer(&self, side: Side, run: Option<u64>, bytes: &[u8], at: Instant) {
        if let Some(tap) = &self.tap {
            tap.offer(side, run, bytes, at);
        }
    }

    /// The wrapper's stdout (registered with the runtime at the first call, which must
    /// be made on the runtime's side).
    fn stdout(&self) -> Option<&Mutex<Output>> {
        self.stdout.get_or_init(|| Output::of(1).ok().map(Mutex::new)).as_ref()
    }

    /// Writes to the application (the wrapper's stdout), whole.
    async fn write_stdout(&self, bytes: &[u8]) -> io::Result<()> {
        match self.stdout() {
            Some(out) => out.lock().await.write_all(bytes).await,
            None => Err(io::Error::other("the wrapper's stdout cannot be written")),
        }
    }

    /// The same from one of the pass-through's threads.
    fn write_stdout_blocking(&self, bytes: &[u8]) -> io::Result<()> {
        match self.stdout() {
            Some(out) => out.blocking_lock().write_all_blocking(bytes),
            None => Err(io::Error::other("the wrapper's stdout cannot be written")),
        }
    }
}

/// One run's stdin and stdout: waits for the previous run to settle, brings the child
/// into the application's session, then takes the application's bytes and passes the
/// child's stdout on until it ends. When the application stops reading for good (EPIPE),
/// the child's stdout is closed too, so the child sees what it would have seen.
async fn run_pipes(io: Arc<WrapIo>, run: u64, stdin: ChildStdin, stdout: OwnedFd) {
    let mut reader = match PipeReader::new(stdout, false) {
        Ok(reader) => Some(reader),
        Err(e) => {
            tracing::error!("wrap: cannot read the child's output: {e}");
            None
        }
    };
    let mut settled = io.settled.subscribe();
    if tokio::time::timeout(OLD_RUN_DRAIN, settled.wait_for(|s| s + 1 >= run)).await.is_err() {
        tracing::warn!("wrap: run {run} starts before the last one settled");
    }
    if let Some(tap) = &io.tap {
        tap.new_run();
    }
    let stdin = Arc::new(Mutex::new(stdin));
    let mut pending = BytesMut::with_capacity(READ_SIZE);
    if let Some(reader) = reader.as_mut() {
        rejoin::rejoin(&io, run, &stdin, reader, &mut pending).await;
    }
    if !io.stdin_closed.load(Ordering::Acquire) {
        io.stdin.send_replace(Some(RunStdin { run, pipe: stdin }));
    } else {
        drop(stdin);
    }
    if let Some(fd) = reader.and_then(PipeReader::into_fd) {
        pass::pass(io.clone(), run, fd, pending).await;
    }
    io.stdout_ended.send_modify(|e| *e = (*e).max(run));
    io.output_closed();
}

/// Copies the child's stderr to the wrapper's stderr (the engine's log reader gets its
/// own copy, see `OutputSink::mirror`).
pub async fn mirror_stderr(bytes: &[u8]) {
    static STDERR: OnceCell<Option<Output>> = OnceCell::const_new();
    let out = STDERR.get_or_init(|| async { Output::of(2).ok() }).await;
    if let Some(out) = out {
        let _ = out.write_all(bytes).await;
    }
}
