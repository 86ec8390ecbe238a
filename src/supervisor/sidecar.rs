//! One task per sidecar, owning its child: the lifecycle state machine. It reacts to
//! operator commands, the child's exit, the backoff timer, the stop grace timer and its
//! dependencies coming up, and publishes [`Status`] and [`Event`]s.

use super::OpError;
use super::exit::ExitInfo;
use super::output::{self, OutputSink};
use super::policy::{Decision, RestartTracker, wants_restart};
use super::reaper::Reaper;
use super::spawn::{self, signal_group};
use super::status::{Event, EventKind, State, Status};
use super::stdin::StdinWriter;
use crate::config::SidecarConfig;
use crate::logs::Stream;
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::process::Child;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::time::sleep_until;

pub type Reply = oneshot::Sender<Result<(), OpError>>;

#[derive(Debug)]
pub enum Command {
    Start(Reply),
    Stop(Reply),
    Restart(Reply),
    Kill(Reply),
    Signal(Signal, Reply),
}

/// Events kept per sidecar for its timeline.
pub const EVENT_HISTORY: usize = 500;

/// Publishes events to the per-sidecar history, the broadcast channel and the log.
pub struct EventSink {
    pub name: Arc<str>,
    pub history: Arc<Mutex<VecDeque<Event>>>,
    pub broadcast: broadcast::Sender<Event>,
    pub changed: Arc<Notify>,
}

impl EventSink {
    fn emit(&self, kind: EventKind) {
        let event = Event {
            sidecar: self.name.clone(),
            at: SystemTime::now(),
            kind,
        };
        tracing::info!("{event}");
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
enum AfterExit {
    Stop,
    Kill,
    Restart,
}

struct Running {
    child: Child,
    pid: u32,
    started: Instant,
}

enum Phase {
    Idle,
    Waiting,
    Backoff(Instant),
    Running(Running),
    Stopping {
        run: Running,
        deadline: Option<Instant>,
        then: AfterExit,
    },
}

enum Wake {
    Command(Option<Command>),
    DepsUp,
    Timer,
    Exited(std::io::Result<std::process::ExitStatus>),
}

pub struct Runner {
    pub config: SidecarConfig,
    pub status: watch::Sender<Status>,
    pub events: EventSink,
    pub output: Arc<OutputSink>,
    pub stdin: Arc<Mutex<Option<StdinWriter>>>,
    pub deps: Vec<(String, watch::Receiver<Status>)>,
    pub reaper: Option<Arc<Reaper>>,
    pub commands: mpsc::Receiver<Command>,
    pub tracker: RestartTracker,
}

impl Runner {
    pub async fn run(mut self) {
        let mut phase = if self.config.autostart {
            self.begin_start()
        } else {
            Phase::Idle
        };
        loop {
            let wake = match &mut phase {
                Phase::Idle => Wake::Command(self.commands.recv().await),
                Phase::Waiting => tokio::select! {
                    biased;
                    c = self.commands.recv() => Wake::Command(c),
                    _ = deps_up(&mut self.deps) => Wake::DepsUp,
                },
                Phase::Backoff(at) => tokio::select! {
                    biased;
                    c = self.commands.recv() => Wake::Command(c),
                    _ = sleep_until((*at).into()) => Wake::Timer,
                },
                Phase::Running(run) => tokio::select! {
                    biased;
                    c = self.commands.recv() => Wake::Command(c),
                    s = run.child.wait() => Wake::Exited(s),
                },
                Phase::Stopping { run, deadline, .. } => {
                    let grace = async {
                        match deadline {
                            Some(at) => sleep_until((*at).into()).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        biased;
                        c = self.commands.recv() => Wake::Command(c),
                        s = run.child.wait() => Wake::Exited(s),
                        _ = grace => Wake::Timer,
                    }
                }
            };
            phase = match wake {
                Wake::Command(None) => {
                    self.abandon(phase).await;
                    return;
                }
                Wake::Command(Some(cmd)) => self.on_command(phase, cmd),
                Wake::DepsUp => self.spawn_now(),
                Wake::Timer => match phase {
                    Phase::Backoff(_) => self.spawn_now(),
                    Phase::Stopping { run, then, .. } => {
                        self.kill_group(&run);
                        self.events.emit(EventKind::StopTimedOut {
                            timeout: self.config.stop_timeout,
                        });
                        Phase::Stopping {
                            run,
                            deadline: None,
                            then,
                        }
                    }
                    other => other,
                },
                Wake::Exited(status) => match phase {
                    Phase::Running(run) => self.on_exit(run, status, None),
                    Phase::Stopping { run, then, .. } => self.on_exit(run, status, Some(then)),
                    other => other,
                },
            };
        }
    }

    fn set(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_modify(f);
        self.output.changed.notify_one();
    }

    fn begin_start(&mut self) -> Phase {
        let waiting: Vec<String> = self
            .deps
            .iter()
            .filter(|(_, rx)| !dep_is_up(&rx.borrow()))
            .map(|(name, _)| name.clone())
            .collect();
        if waiting.is_empty() {
            return self.spawn_now();
        }
        self.set(|s| s.state = State::Waiting);
        self.events.emit(EventKind::WaitingFor(waiting));
        Phase::Waiting
    }

    fn spawn_now(&mut self) -> Phase {
        let first_start =
            self.status.borrow().started_at.is_none() && self.status.borrow().last_exit.is_none();
        self.set(|s| {
            s.state = State::Starting;
            s.next_start = None;
        });
        match spawn::spawn(&self.config) {
            Err(e) => {
                let error = e.to_string();
                self.set(|s| {
                    s.state = State::Failed;
                    s.pid = None;
                    s.error = Some(error.clone());
                });
                self.events.emit(EventKind::SpawnFailed { error });
                Phase::Idle
            }
            Ok(spawned) => {
                let pid = spawned.pid;
                if let Some(reaper) = &self.reaper {
                    reaper.watch(pid);
                }
                let max_line = self.config.output.max_line;
                tokio::spawn(output::pump(
                    spawned.stdout,
                    Stream::Stdout,
                    max_line,
                    self.output.clone(),
                ));
                tokio::spawn(output::pump(
                    spawned.stderr,
                    Stream::Stderr,
                    max_line,
                    self.output.clone(),
                ));
                *self.stdin.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(StdinWriter::start(spawned.stdin));
                let started = Instant::now();
                self.set(|s| {
                    s.state = State::Running;
                    s.pid = Some(pid);
                    s.started_at = Some(started);
                    s.error = None;
                    if !first_start {
                        s.restarts += 1;
                    }
                });
                self.events.emit(EventKind::Started { pid });
                Phase::Running(Running {
                    child: spawned.child,
                    pid,
                    started,
                })
            }
        }
    }

    fn on_exit(
        &mut self,
        mut run: Running,
        status: std::io::Result<std::process::ExitStatus>,
        then: Option<AfterExit>,
    ) -> Phase {
        let exit = match status {
            Ok(status) => ExitInfo::from_status(status),
            Err(e) => {
                tracing::error!("waiting for {} (pid {}): {e}", self.events.name, run.pid);
                let _ = run.child.start_kill();
                ExitInfo::Code(-1)
            }
        };
        // Whatever the leader left behind in its group goes with it: no orphans.
        if spawn::group_alive(run.pid) {
            let _ = signal_group(run.pid, Signal::SIGKILL);
        }
        if let Some(reaper) = &self.reaper {
            reaper.forget(run.pid);
        }
        *self.stdin.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let uptime = run.started.elapsed();
        self.set(|s| {
            s.pid = None;
            s.last_exit = Some(exit);
        });
        self.events.emit(EventKind::Exited { exit, uptime });

        match then {
            Some(AfterExit::Restart) => self.spawn_now(),
            Some(AfterExit::Stop) | Some(AfterExit::Kill) => {
                self.set(|s| s.state = State::Stopped);
                self.events.emit(EventKind::Stopped);
                Phase::Idle
            }
            None if wants_restart(self.config.restart, &exit) => {
                match self.tracker.on_exit(Instant::now(), uptime) {
                    Decision::RestartIn(delay) if delay.is_zero() => {
                        self.events.emit(EventKind::Restarting {
                            delay,
                            restart: self.status.borrow().restarts + 1,
                        });
                        self.spawn_now()
                    }
                    Decision::RestartIn(delay) => {
                        let at = Instant::now() + delay;
                        self.set(|s| {
                            s.state = State::Backoff;
                            s.next_start = Some(at);
                        });
                        self.events.emit(EventKind::Restarting {
                            delay,
                            restart: self.status.borrow().restarts + 1,
                        });
                        Phase::Backoff(at)
                    }
                    Decision::GiveUp { exits, window } => {
                        self.set(|s| s.state = State::CrashLoop);
                        self.events.emit(EventKind::CrashLoop { exits, window });
                        Phase::Idle
                    }
                }
            }
            None => {
                self.set(|s| s.state = State::Exited);
                Phase::Idle
            }
        }
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
                    Phase::Backoff(_) => self.spawn_now(),
                    Phase::Stopping { run, deadline, .. } => Phase::Stopping {
                        run,
                        deadline,
                        then: AfterExit::Restart,
                    },
                    other => other,
                };
                (reply, Ok(()), phase)
            }
            Command::Restart(reply) => {
                self.tracker.reset();
                self.events.emit(EventKind::OperatorRestart);
                let phase = match phase {
                    Phase::Running(run) => self.begin_stop(run, AfterExit::Restart),
                    Phase::Stopping { run, deadline, .. } => Phase::Stopping {
                        run,
                        deadline,
                        then: AfterExit::Restart,
                    },
                    Phase::Idle | Phase::Backoff(_) => self.begin_start(),
                    Phase::Waiting => Phase::Waiting,
                };
                (reply, Ok(()), phase)
            }
            Command::Stop(reply) => {
                let phase = match phase {
                    Phase::Running(run) => self.begin_stop(run, AfterExit::Stop),
                    Phase::Waiting | Phase::Backoff(_) => {
                        self.set(|s| {
                            s.state = State::Stopped;
                            s.next_start = None;
                        });
                        self.events.emit(EventKind::Stopped);
                        Phase::Idle
                    }
                    Phase::Stopping { run, deadline, .. } => Phase::Stopping {
                        run,
                        deadline,
                        then: AfterExit::Stop,
                    },
                    Phase::Idle => Phase::Idle,
                };
                (reply, Ok(()), phase)
            }
            Command::Kill(reply) => match phase {
                Phase::Running(run) | Phase::Stopping { run, .. } => {
                    self.kill_group(&run);
                    self.events.emit(EventKind::KilledByOperator);
                    self.set(|s| s.state = State::Stopping);
                    (
                        reply,
                        Ok(()),
                        Phase::Stopping {
                            run,
                            deadline: None,
                            then: AfterExit::Kill,
                        },
                    )
                }
                other => (
                    reply,
                    Err(OpError::NotRunning(self.events.name.to_string())),
                    other,
                ),
            },
            Command::Signal(signal, reply) => match &phase {
                Phase::Running(run) | Phase::Stopping { run, .. } => {
                    let result =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.pid as i32), signal)
                            .map_err(|e| OpError::Io(e.to_string()));
                    if result.is_ok() {
                        self.events.emit(EventKind::Signalled { signal });
                    }
                    (reply, result, phase)
                }
                _ => (
                    reply,
                    Err(OpError::NotRunning(self.events.name.to_string())),
                    phase,
                ),
            },
        };
        let _ = reply.send(result);
        phase
    }

    /// Stop signal to the whole group, then SIGKILL when the grace period runs out.
    fn begin_stop(&mut self, run: Running, then: AfterExit) -> Phase {
        let (signal, timeout) = (self.config.stop_signal, self.config.stop_timeout);
        if let Err(e) = signal_group(run.pid, signal) {
            tracing::warn!("{}: sending {signal}: {e}", self.events.name);
        }
        self.set(|s| s.state = State::Stopping);
        self.events.emit(EventKind::Stopping { signal, timeout });
        Phase::Stopping {
            run,
            deadline: Some(Instant::now() + timeout),
            then,
        }
    }

    fn kill_group(&self, run: &Running) {
        if let Err(e) = signal_group(run.pid, Signal::SIGKILL) {
            tracing::warn!("{}: SIGKILL to group {}: {e}", self.events.name, run.pid);
        }
    }

    /// The supervisor is gone: leave nothing running.
    async fn abandon(&mut self, phase: Phase) {
        if let Phase::Running(mut run) | Phase::Stopping { mut run, .. } = phase {
            self.kill_group(&run);
            let _ = run.child.wait().await;
            if let Some(reaper) = &self.reaper {
                reaper.forget(run.pid);
            }
        }
    }
}

/// A dependency counts as up while it has a running process.
fn dep_is_up(status: &Status) -> bool {
    status.state == State::Running
}

async fn deps_up(deps: &mut [(String, watch::Receiver<Status>)]) {
    for (_, rx) in deps.iter_mut() {
        if rx.wait_for(dep_is_up).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
