//! One task per sidecar, owning its current [`Run`]: the lifecycle state machine. It
//! reacts to operator commands, the child's exit, the backoff timer, the stop grace timer
//! and its dependencies coming up, and publishes [`Status`] and [`Event`]s. What happens
//! to the process itself (spawn, exit, stop) is in `lifecycle.rs`; what one run owns is
//! in `run.rs`.

use super::OpError;
use super::output::OutputSink;
use super::policy::RestartTracker;
use super::process::Spawner;
use super::run::{Draining, Run};
use super::status::{Event, EventKind, Life, Status};
use crate::config::SidecarConfig;
use crate::ipc::Ipc;
use crate::os::serial_writer::StdinWriter;
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
// The runner's clock is tokio's, so the lifecycle tests can run it under paused time.
use tokio::time::{Instant, sleep_until};

/// How long the output readers of ended runs may go on once the runner itself ends
/// (a descendant that escaped the group may hold a pipe open for ever).
const READERS_LINGER: Duration = Duration::from_secs(1);

pub type Reply = oneshot::Sender<Result<(), OpError>>;

#[derive(Debug)]
pub enum Command {
    Start(Reply),
    Stop(Reply),
    Restart(Reply),
    Kill(Reply),
    Signal(Signal, Reply),
    /// From the health checker: run `generation` is unhealthy and should be restarted.
    Unhealthy(u64),
    /// A reload replaced some of the sidecars this one depends on.
    Deps(Vec<(String, watch::Receiver<Status>)>),
    /// A reload removed or replaced this sidecar: stop (gracefully), then end the task.
    Retire(Reply),
}

/// Events kept per sidecar for its timeline.
pub const EVENT_HISTORY: usize = 500;

/// Counts kept for the metrics exporter: they must never go down, so they are counted
/// as events happen rather than from the (bounded) history.
#[derive(Debug, Default, Clone)]
pub struct Tallies {
    /// Exits by reason: the exit code (`"1"`) or the signal's name (`"SIGSEGV"`).
    pub exits: std::collections::BTreeMap<String, u64>,
    pub health_failures: u64,
}

/// Publishes events to the per-sidecar history, the broadcast channel and the log.
pub struct EventSink {
    pub name: Arc<str>,
    pub history: Arc<Mutex<VecDeque<Event>>>,
    pub tallies: Arc<Mutex<Tallies>>,
    pub broadcast: broadcast::Sender<Event>,
    pub changed: Arc<Notify>,
}

impl EventSink {
    pub fn emit(&self, kind: EventKind) {
        let event = Event { sidecar: self.name.clone(), at: SystemTime::now(), kind };
        tracing::info!("{event}");
        match &event.kind {
            EventKind::Exited { exit, .. } => {
                let reason = exit.signal_name().unwrap_or_else(|| match exit {
                    super::exit::ExitInfo::Code(code) => code.to_string(),
                    other => other.to_string(),
                });
                *self.tallies.lock().unwrap_or_else(|e| e.into_inner()).exits.entry(reason).or_default() += 1;
            }
            EventKind::HealthFailed { .. } => {
                self.tallies.lock().unwrap_or_else(|e| e.into_inner()).health_failures += 1;
            }
            _ => {}
        }
        {
            let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if history.len() == EVENT_HISTORY {
                history.pop_front();
            }
            history.push_back(event.clone());
        }
        let _ = self.broadcast.send(event);
        self.changed.notify_one();
    }
}

/// What to do once the child, already signalled, has exited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum AfterExit {
    Stop,
    Kill,
    Restart,
    /// Stopped for failing its health checks: restart as after a crash (backoff, crash loop).
    Unhealthy,
}

pub(super) enum Phase {
    Idle,
    Waiting,
    Backoff(Instant),
    Running(Run),
    Stopping { run: Run, deadline: Option<Instant>, then: AfterExit },
}

enum Wake {
    Command(Option<Command>),
    DepsUp,
    Timer,
    Exited(std::io::Result<std::process::ExitStatus>),
}

pub struct Runner {
    pub config: SidecarConfig,
    pub status: Arc<super::status_tx::StatusTx>,
    pub events: Arc<EventSink>,
    pub output: Arc<OutputSink>,
    pub stdin: Arc<Mutex<Option<StdinWriter>>>,
    pub deps: Vec<(String, watch::Receiver<Status>)>,
    /// Starts the child: real processes, or a fake one in the lifecycle tests.
    pub spawner: Arc<dyn Spawner>,
    pub commands: mpsc::Receiver<Command>,
    /// For the health checker to ask for a restart; weak so the channel still closes
    /// when the supervisor is dropped.
    pub self_commands: mpsc::WeakSender<Command>,
    pub tracker: RestartTracker,
    pub ipc: Option<Arc<Ipc>>,
    /// Spawns so far.
    pub generation: u64,
    /// `sidetop wrap`'s pipes, for a wrapped sidecar.
    pub wrap: Option<Arc<super::passthrough::WrapIo>>,
    pub draining: Draining,
    /// The measuring proxy at `[sidecar.ipc] listen`, bound at the first start and kept
    /// across restarts (the application's address never goes away); closed when the
    /// runner ends.
    pub proxy: Option<super::proxy_link::ProxyLink>,
}

impl Runner {
    pub async fn run(mut self) {
        let mut phase = if self.config.autostart { self.first_start().await } else { Phase::Idle };
        loop {
            let wake = match &mut phase {
                Phase::Idle => Wake::Command(self.commands.recv().await),
                Phase::Waiting => tokio::select! {
                    biased;
                    c = self.commands.recv() => Wake::Command(c),
                    _ = deps_up(&self.deps) => Wake::DepsUp,
                },
                Phase::Backoff(at) => tokio::select! {
                    biased;
                    c = self.commands.recv() => Wake::Command(c),
                    _ = sleep_until(*at) => Wake::Timer,
                },
                Phase::Running(run) => tokio::select! {
                    biased;
                    c = self.commands.recv() => Wake::Command(c),
                    s = run.process.wait() => Wake::Exited(s),
                },
                Phase::Stopping { run, deadline, .. } => {
                    let grace = async {
                        match deadline {
                            Some(at) => sleep_until(*at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        biased;
                        c = self.commands.recv() => Wake::Command(c),
                        s = run.process.wait() => Wake::Exited(s),
                        _ = grace => Wake::Timer,
                    }
                }
            };
            phase = match wake {
                Wake::Command(None) => {
                    self.abandon(phase).await;
                    self.draining.finish(READERS_LINGER).await;
                    return;
                }
                Wake::Command(Some(Command::Retire(reply))) => {
                    self.retire(phase).await;
                    let _ = reply.send(Ok(()));
                    self.draining.finish(READERS_LINGER).await;
                    return;
                }
                Wake::Command(Some(cmd)) => self.on_command(phase, cmd),
                Wake::DepsUp => self.spawn_now(),
                Wake::Timer => match phase {
                    // Dependencies may have gone down while we waited.
                    Phase::Backoff(_) => self.begin_start(),
                    Phase::Stopping { run, then, .. } => self.stop_timed_out(run, then),
                    other => other,
                },
                Wake::Exited(status) => match phase {
                    Phase::Running(mut run) => {
                        self.report_handshake_exit(&mut run, &status).await;
                        self.on_exit(run, status, None)
                    }
                    Phase::Stopping { run, then, .. } => self.on_exit(run, status, Some(then)),
                    other => other,
                },
            };
        }
    }

    pub(super) fn set(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_modify(f);
        self.output.changed.notify_one();
    }

    /// Starting on its own: a sidecar whose `needs` check fails stays idle and says what
    /// to do (the check's own words after the hint).
    async fn first_start(&mut self) -> Phase {
        if let Some(needs) = &self.config.needs
            && let Err(why) = super::needs::check(needs, &self.config).await
        {
            let reason = format!("{} ({why})", needs.hint);
            self.set(|s| {
                s.state = Life::Idle;
                s.error = Some(format!("not started: {reason}"));
            });
            self.events.emit(EventKind::NotStarted { reason });
            return Phase::Idle;
        }
        self.begin_start()
    }

    /// Starts now if every dependency is up, else waits for them.
    pub(super) fn begin_start(&mut self) -> Phase {
        let waiting: Vec<String> = self
            .deps
            .iter()
            .filter(|(_, rx)| !dep_is_up(&rx.borrow()))
            .map(|(name, _)| name.clone())
            .collect();
        if waiting.is_empty() {
            return self.spawn_now();
        }
        self.set(|s| {
            s.state = Life::Waiting;
            s.next_start = None;
        });
        self.events.emit(EventKind::WaitingFor(waiting));
        Phase::Waiting
    }

    /// Removed or replaced by a reload: a graceful stop (signal, grace, SIGKILL), then the
    /// task ends.
    async fn retire(&mut self, phase: Phase) {
        let mut phase = match phase {
            Phase::Running(run) => self.begin_stop(run, AfterExit::Stop),
            Phase::Waiting | Phase::Backoff(_) => self.settle_stopped(),
            other => other,
        };
        while let Phase::Stopping { mut run, deadline, then } = phase {
            let exited = match deadline {
                Some(at) => tokio::time::timeout_at(at, run.process.wait()).await.ok(),
                None => Some(run.process.wait().await),
            };
            phase = match exited {
                Some(status) => self.on_exit(run, status, Some(AfterExit::Stop)),
                None => self.stop_timed_out(run, then),
            };
        }
    }

    fn not_running(&self) -> Result<(), OpError> {
        Err(OpError::NotRunning(self.events.name.to_string()))
    }

    /// Leaves a phase without a process (waiting, backoff) for `stopped`.
    fn settle_stopped(&mut self) -> Phase {
        self.events.emit(EventKind::Stopped);
        self.set(|s| {
            s.state = Life::Stopped;
            s.next_start = None;
        });
        Phase::Idle
    }

    fn on_command(&mut self, phase: Phase, cmd: Command) -> Phase {
        let (reply, result, phase) = match cmd {
            Command::Start(reply) => {
                let phase = match phase {
                    Phase::Idle => {
                        self.tracker.reset();
                        self.events.emit(EventKind::OperatorStart);
                        self.begin_start()
                    }
                    Phase::Backoff(_) => self.begin_start(),
                    Phase::Stopping { run, deadline, .. } => {
                        Phase::Stopping { run, deadline, then: AfterExit::Restart }
                    }
                    other => other,
                };
                (reply, Ok(()), phase)
            }
            Command::Restart(reply) => {
                self.tracker.reset();
                self.events.emit(EventKind::OperatorRestart);
                let phase = match phase {
                    Phase::Running(run) => self.begin_stop(run, AfterExit::Restart),
                    Phase::Stopping { run, deadline, .. } => {
                        Phase::Stopping { run, deadline, then: AfterExit::Restart }
                    }
                    Phase::Idle | Phase::Backoff(_) => self.begin_start(),
                    Phase::Waiting => Phase::Waiting,
                };
                (reply, Ok(()), phase)
            }
            Command::Stop(reply) => {
                let phase = match phase {
                    Phase::Running(run) => self.begin_stop(run, AfterExit::Stop),
                    Phase::Waiting | Phase::Backoff(_) => self.settle_stopped(),
                    Phase::Stopping { run, deadline, .. } => {
                        Phase::Stopping { run, deadline, then: AfterExit::Stop }
                    }
                    Phase::Idle => Phase::Idle,
                };
                (reply, Ok(()), phase)
            }
            Command::Kill(reply) => match phase {
                Phase::Running(run) | Phase::Stopping { run, .. } => {
                    self.kill_group(&run);
                    self.events.emit(EventKind::KilledByOperator);
                    self.set(|s| s.state = Life::Stopping);
                    (reply, Ok(()), Phase::Stopping { run, deadline: None, then: AfterExit::Kill })
                }
                // A flapping sidecar between runs: kill means "stay down".
                Phase::Waiting | Phase::Backoff(_) => (reply, Ok(()), self.settle_stopped()),
                Phase::Idle => (reply, self.not_running(), Phase::Idle),
            },
            Command::Signal(signal, reply) => match &phase {
                Phase::Running(run) | Phase::Stopping { run, .. } => {
                    let result = run.process.signal_leader(signal).map_err(|e| OpError::Io(e.to_string()));
                    if result.is_ok() {
                        self.events.emit(EventKind::Signalled { signal });
                    }
                    (reply, result, phase)
                }
                _ => (reply, self.not_running(), phase),
            },
            Command::Deps(deps) => {
                self.deps = deps;
                return phase;
            }
            Command::Retire(_) => unreachable!("handled by the loop"),
            Command::Unhealthy(generation) => {
                return match phase {
                    Phase::Running(run) if run.generation == generation => {
                        self.events.emit(EventKind::RestartUnhealthy);
                        self.begin_stop(run, AfterExit::Unhealthy)
                    }
                    other => other,
                };
            }
        };
        let _ = reply.send(result);
        phase
    }
}

/// A dependency counts as up while its process runs and is ready.
fn dep_is_up(status: &Status) -> bool {
    status.state == Life::Running && status.ready
}

/// Resolves once every dependency is up at the same moment.
async fn deps_up(deps: &[(String, watch::Receiver<Status>)]) {
    let mut deps: Vec<watch::Receiver<Status>> = deps.iter().map(|(_, rx)| rx.clone()).collect();
    loop {
        if deps.iter().all(|rx| dep_is_up(&rx.borrow())) {
            return;
        }
        let changes: Vec<_> = deps.iter_mut().map(|rx| Box::pin(rx.changed())).collect();
        if crate::os::wait::first_of(changes).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
