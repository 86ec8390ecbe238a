//! Per-process readiness and health: the handshake (LSP/MCP `initialize` and friends),
//! then ready on the first passing check, a `ready_log` match, or at once; unhealthy after
//! N failures in a row, with an optional restart through the normal restart path.

use super::sidecar::{Command, EventSink};
use super::status::{EventKind, Status};
use crate::config::SidecarConfig;
use crate::config::ipc::{HealthCheck, HealthConfig, RequestSpec, Speaks};
use crate::ipc::Ipc;
use crate::ipc::protocol::{Origin, Outcome};
use crate::supervisor::scrollback::{LogBuffer, STDERR_QUOTED, quote_stderr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// How long a socket sidecar may take to accept the first connection.
const CONNECT_GRACE: Duration = Duration::from_secs(30);
/// How long a failed handshake waits before it is reported (see `handshake`).
const HANDSHAKE_FAILURE_DELAY: Duration = Duration::from_millis(300);
/// The step of a network sidecar before its address accepts a connection.
const WAITING_TO_LISTEN: &str = "waiting for it to listen";

/// The step a run starts in, before the health task enters it (`handshake_steps`'s
/// order): waiting to listen for a network sidecar, else its first handshake request.
pub(super) fn first_step(ipc: &crate::ipc::Ipc) -> Option<String> {
    match ipc.uses_stdio() {
        false => Some(WAITING_TO_LISTEN.to_string()),
        true => ipc.config.handshake.first().map(|step| step.method.clone()),
    }
}

/// Within the start window, checks come at least this often, so a sidecar is ready soon
/// after it can answer even with a long `interval`.
const START_INTERVAL: Duration = Duration::from_millis(500);

/// Where a run is in its handshake: the step it waits on (`None` once done or failed), so the runner can
/// tell, when the process exits, that it died in the middle of it.
pub type HandshakeAt = Arc<Mutex<Option<String>>>;

/// Raised by the output reader when a line matches `ready_log`. One per run, created at
/// spawn: a match in one run can never ready the next.
#[derive(Default)]
pub struct ReadySignal {
    fired: AtomicBool,
    notify: Notify,
}

impl ReadySignal {
    /// Still waiting for its line (the reader skips the regex once it fired).
    pub fn is_armed(&self) -> bool {
        !self.fired.load(Ordering::Relaxed)
    }
    /// Called by the reader on a matching line.
    pub fn fire(&self) {
        if !self.fired.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }
    async fn wait(&self) {
        if !self.is_armed() {
            return;
        }
        self.notify.notified().await
    }
}

pub struct HealthTask {
    /// The run this task checks; it never touches another run's status.
    pub generation: u64,
    pub config: SidecarConfig,
    pub ipc: Option<Arc<Ipc>>,
    /// A wrapped sidecar (`sidetop wrap`): its handshake and what the server offers are
    /// the application's (the tap learns them); only the checks are sidetop's, sent
    /// through the wrapper like any request of its own.
    pub wrapped: bool,
    pub status: Arc<super::status_tx::StatusTx>,
    pub events: Arc<EventSink>,
    pub ready_signal: Option<Arc<ReadySignal>>,
    pub commands: mpsc::WeakSender<Command>,
    pub logs: Arc<Mutex<LogBuffer>>,
    pub step: HandshakeAt,
}

impl HealthTask {
    /// Runs for the life of one process; its `Run` ends it at the exit.
    pub async fn run(self) {
        if !self.handshake().await {
            return;
        }
        let discovering = self.ipc.as_ref().filter(|_| !self.wrapped);
        if let Some(ipc) = discovering {
            // Before ready: a client that waits for ready finds the tools listed.
            crate::ipc::discovery::learn(ipc).await;
        }
        let relist = async {
            match discovering {
                Some(ipc) => crate::ipc::discovery::keep_current(ipc).await,
                None => std::future::pending().await,
            }
        };
        // Both for the life of the run (which aborts this task when it ends).
        tokio::join!(self.readiness(), relist);
    }

    /// Ready on the first passing check, a `ready_log` line, or at once; then health
    /// checks for the life of the run.
    async fn readiness(&self) {
        let health = self.config.health.clone();
        let check = health.as_ref().and_then(|h| h.check.clone());
        let signal = self.ready_signal.clone();
        let ready_by_log = async move {
            match signal {
                Some(s) => s.wait().await,
                None => std::future::pending().await,
            }
        };
        match (check, health) {
            (Some(check), Some(health)) => {
                tokio::select! {
                    _ = self.check_loop(&check, &health) => {}
                    _ = async { ready_by_log.await; self.mark_ready(); std::future::pending::<()>().await } => {}
                }
            }
            _ if self.ready_signal.is_some() => {
                ready_by_log.await;
                self.mark_ready();
            }
            _ => self.mark_ready(),
        }
    }

    fn mine(&self, s: &Status) -> bool {
        s.generation == self.generation && s.pid.is_some()
    }

    fn mark_ready(&self) {
        // The event goes out before the status wakes anyone: a dependent started by this
        // readiness must not have its `started` event ahead of this `ready`.
        self.status.send_if_modified(|s| {
            let change = self.mine(s) && !s.ready;
            if change {
                self.events.emit(EventKind::Ready);
            }
            s.ready |= change;
            change
        });
    }

    fn set_unhealthy(&self, unhealthy: bool) -> bool {
        self.status.send_if_modified(|s| {
            let change = self.mine(s) && s.unhealthy != unhealthy;
            if change {
                s.unhealthy = unhealthy;
            }
            change
        })
    }

    /// Sends the configured handshake in order; false (with an event) when it fails.
    async fn handshake(&self) -> bool {
        let done = self.handshake_steps().await;
        if done.is_err() {
            // A failure is often the process dying (a broken pipe, a closed connection):
            // if it exits meanwhile, the runner reports that, with its exit (this task
            // ends with the run); if not, its stderr reader has caught up by then.
            tokio::time::sleep(HANDSHAKE_FAILURE_DELAY).await;
        }
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(error) = done {
            let tail = self.logs.lock().unwrap_or_else(|e| e.into_inner()).stderr_tail(STDERR_QUOTED);
            self.events.emit(EventKind::HandshakeFailed { error: format!("{error}{}", quote_stderr(&tail)) });
            // Running but never able to answer: not ready, and flagged.
            self.set_unhealthy(true);
            return false;
        }
        true
    }

    fn enter_step(&self, step: &str) {
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = Some(step.to_string());
    }

    async fn handshake_steps(&self) -> Result<(), String> {
        let Some(ipc) = self.ipc.as_ref().filter(|_| !self.wrapped) else { return Ok(()) };
        // HTTP and socket sidecars are ready to be asked once their address accepts a
        // connection; requests and dependants wait for that, not for the spawn.
        if !ipc.uses_stdio() {
            self.enter_step(WAITING_TO_LISTEN);
            if !ipc.wait_connected(CONNECT_GRACE).await {
                return Err(format!("not listening after {}s", CONNECT_GRACE.as_secs()));
            }
            self.events.emit(EventKind::Listening);
        }
        if ipc.config.handshake.is_empty() {
            return Ok(());
        }
        ipc.metrics().start_handshake();
        for step in &ipc.config.handshake {
            self.enter_step(&step.method);
            let result = if step.notification {
                ipc.notify(&step.method, step.params.as_ref()).await.map_err(|o| o.to_string())
            } else {
                let mut params = step.params.clone();
                loop {
                    let spec = RequestSpec::Rpc { method: step.method.clone(), params: params.clone() };
                    let exchange = ipc.request(&spec, Origin::Handshake).await;
                    if exchange.outcome.is_ok() {
                        break Ok(());
                    }
                    // An MCP server that refuses the version offered gets an older one.
                    let older = (ipc.config.speaks == Speaks::Mcp && step.method == "initialize")
                        .then_some(params.as_ref())
                        .flatten()
                        .and_then(|p| {
                            crate::config::handshakes::mcp_older_offer(p, exchange.response.as_deref())
                        });
                    match older {
                        Some(offer) if matches!(exchange.outcome, Outcome::RpcError { .. }) => {
                            params = Some(offer)
                        }
                        _ => break Err(exchange.outcome.to_string()),
                    }
                }
            };
            result.map_err(|error| format!("{}: {error}", step.method))?;
        }
        self.events.emit(EventKind::HandshakeDone { steps: ipc.config.handshake.len() });
        Ok(())
    }

    async fn check_loop(&self, check: &HealthCheck, health: &HealthConfig) {
        tokio::time::sleep(health.grace).await;
        let started = tokio::time::Instant::now();
        let mut failures = 0u32;
        // Like a startup probe: until the first check passes, failures within the start
        // window are the sidecar still starting, not failures.
        let mut passed_once = false;
        loop {
            let starting = !passed_once && started.elapsed() < health.start_period;
            match self.check_once(check, health.timeout).await {
                Err(reason) if starting => {
                    tracing::debug!("{}: not ready yet (start window): {reason}", self.config.name);
                }
                Ok(()) => {
                    passed_once = true;
                    failures = 0;
                    if self.set_unhealthy(false) {
                        self.events.emit(EventKind::Healthy);
                    }
                    self.mark_ready();
                }
                Err(reason) => {
                    failures += 1;
                    self.events.emit(EventKind::HealthFailed {
                        failures,
                        threshold: health.failures,
                        reason,
                    });
                    if failures >= health.failures && self.set_unhealthy(true) {
                        self.events.emit(EventKind::Unhealthy { failures });
                        if health.restart_on_unhealthy {
                            if let Some(commands) = self.commands.upgrade() {
                                let _ = commands.send(Command::Unhealthy(self.generation)).await;
                            }
                            return;
                        }
                    }
                }
            }
            let starting = !passed_once && started.elapsed() < health.start_period;
            tokio::time::sleep(if starting { health.interval.min(START_INTERVAL) } else { health.interval })
                .await;
        }
    }

    async fn check_once(&self, check: &HealthCheck, timeout: Duration) -> Result<(), String> {
        match check {
            HealthCheck::Request { spec, status } => {
                let Some(ipc) = &self.ipc else { return Err("no IPC configured".into()) };
                let exchange = ipc.request_with_timeout(spec, Origin::Health, timeout).await;
                match (status, exchange.status) {
                    (Some(want), Some(got)) if *want == got => Ok(()),
                    (Some(want), Some(got)) => Err(format!("HTTP {got} (expected {want})")),
                    _ if exchange.outcome.is_ok() => Ok(()),
                    _ => Err(exchange.outcome.to_string()),
                }
            }
            HealthCheck::Grpc { service } => {
                let Some(ipc) = &self.ipc else { return Err("no IPC configured".into()) };
                ipc.grpc_health(service, timeout).await
            }
            HealthCheck::Exec(argv) => {
                let mut cmd = tokio::process::Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .current_dir(&self.config.cwd)
                    .envs(self.config.env.iter().map(|(k, v)| (k, v)))
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true);
                let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", argv[0]))?;
                match tokio::time::timeout(timeout, child.wait()).await {
                    Ok(Ok(status)) if status.success() => Ok(()),
                    Ok(Ok(status)) => Err(super::exit::ExitInfo::from_status(status).to_string()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("timeout after {}", super::status::short_duration(timeout))),
                }
            }
        }
    }
}
