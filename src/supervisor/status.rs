//! What the engine tells the outside: each sidecar's current [`Status`] and the
//! timestamped [`Event`]s of every state change an operator cares about.

use super::exit::ExitInfo;
use nix::sys::signal::Signal;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Life {
    /// Not started yet (autostart = false) or never asked to run.
    Idle,
    /// Waiting for the sidecars it depends on.
    Waiting,
    Starting,
    Running,
    /// Stop signal sent; waiting for the grace period.
    Stopping,
    /// Stopped by an operator or by shutdown.
    Stopped,
    /// Exited on its own and its policy does not restart it.
    Exited,
    /// Exited; the next start is scheduled (`Status::next_start`).
    Backoff,
    /// Too many exits in the window: left alone until an operator starts it.
    CrashLoop,
    /// Could not be spawned (`Status::error` has the OS error).
    Failed,
}

impl Life {
    pub fn as_str(&self) -> &'static str {
        match self {
            Life::Idle => "idle",
            Life::Waiting => "waiting",
            Life::Starting => "starting",
            Life::Running => "running",
            Life::Stopping => "stopping",
            Life::Stopped => "stopped",
            Life::Exited => "exited",
            Life::Backoff => "backoff",
            Life::CrashLoop => "crash-loop",
            Life::Failed => "failed",
        }
    }

    /// A process of this sidecar exists.
    pub fn has_process(&self) -> bool {
        matches!(self, Life::Starting | Life::Running | Life::Stopping)
    }

    /// Nothing more will happen without an operator.
    pub fn is_settled(&self) -> bool {
        matches!(self, Life::Idle | Life::Stopped | Life::Exited | Life::CrashLoop | Life::Failed)
    }
}

impl fmt::Display for Life {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Status {
    pub state: Life,
    pub pid: Option<u32>,
    /// Which run the pid belongs to (counts spawns).
    pub generation: u64,
    /// When the current process started (monotonic, for uptime).
    pub started_at: Option<Instant>,
    /// Starts after the first one, automatic or by an operator.
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    /// In `Backoff`: when the next start is due.
    pub next_start: Option<Instant>,
    /// In `Failed`: why the spawn failed.
    pub error: Option<String>,
    /// The current process passed its handshake and readiness check.
    pub ready: bool,
    /// The current process failed its health check `failures` times in a row.
    pub unhealthy: bool,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            state: Life::Idle,
            pid: None,
            generation: 0,
            started_at: None,
            restarts: 0,
            last_exit: None,
            next_start: None,
            error: None,
            ready: false,
            unhealthy: false,
        }
    }
}

impl Status {
    /// The state as operators read it: a running process is `starting` until its
    /// readiness is known, then `ready` or `unhealthy`.
    pub fn label(&self) -> &'static str {
        match self.state {
            Life::Running if self.unhealthy => "unhealthy",
            Life::Running if self.ready => "ready",
            // Its handshake or first passing check is still to come.
            Life::Running => "starting",
            other => other.as_str(),
        }
    }

    pub fn uptime(&self) -> Option<Duration> {
        self.started_at.filter(|_| self.state.has_process()).map(|t| t.elapsed())
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub sidecar: Arc<str>,
    pub at: SystemTime,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    WaitingFor(Vec<String>),
    Started {
        pid: u32,
    },
    SpawnFailed {
        error: String,
    },
    /// Its `needs` check failed: left idle (`reason`: the hint and what the check said).
    NotStarted {
        reason: String,
    },
    Exited {
        exit: ExitInfo,
        uptime: Duration,
    },
    Restarting {
        delay: Duration,
        restart: u32,
    },
    CrashLoop {
        exits: u32,
        window: Duration,
    },
    Stopping {
        signal: Signal,
        timeout: Duration,
    },
    /// Asked to stop through its protocol first (`how`: what was sent or done).
    StoppingPolitely {
        how: String,
        signal: Signal,
        timeout: Duration,
    },
    /// The grace period ran out: SIGKILL went to the process group.
    StopTimedOut {
        timeout: Duration,
    },
    Stopped,
    KilledByOperator,
    Signalled {
        signal: Signal,
    },
    OperatorRestart,
    OperatorStart,
    Ready,
    HandshakeDone {
        steps: usize,
    },
    HandshakeFailed {
        error: String,
    },
    HealthFailed {
        failures: u32,
        threshold: u32,
        reason: String,
    },
    Unhealthy {
        failures: u32,
    },
    Healthy,
    RestartUnhealthy,
    /// Writing the log file failed (disk full, file too large, ...); retried every second.
    LogFileFailed {
        error: String,
    },
    LogFileResumed,
    /// Writing the recording failed; retried every second, exchanges queued meanwhile
    /// (past the queue's budget they are counted as lost and marked in the file).
    RecordingFailed {
        path: String,
        error: String,
    },
    RecordingResumed {
        path: String,
    },
    /// The sidecar's address accepted a connection (HTTP and socket sidecars).
    Listening,
    /// A reload was refused (the file is invalid): nothing changed.
    ReloadRefused {
        error: String,
    },
    /// A reload changed these keys of its config; `restart`: it restarts for them.
    Reconfigured {
        keys: Vec<String>,
        restart: bool,
    },
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::WaitingFor(deps) => write!(f, "waiting for {}", deps.join(", ")),
            EventKind::Started { pid } => write!(f, "started (pid {pid})"),
            EventKind::SpawnFailed { error } => write!(f, "failed to start: {error}"),
            EventKind::NotStarted { reason } => write!(f, "not started: {reason}"),
            EventKind::Exited { exit, uptime } => {
                write!(f, "exited: {exit} after {}", short_duration(*uptime))
            }
            EventKind::Restarting { delay, restart } => {
                write!(f, "restarting in {} (restart {restart})", short_duration(*delay))
            }
            EventKind::CrashLoop { exits, window } => {
                write!(f, "crash loop: gave up after {exits} exits in {}", short_duration(*window))
            }
            EventKind::StoppingPolitely { how, signal, timeout } => {
                write!(f, "stopping: {how} ({} in {})", signal.as_str(), short_duration(*timeout))
            }
            EventKind::Stopping { signal, timeout } => {
                write!(f, "stopping: sent {} (SIGKILL in {})", signal.as_str(), short_duration(*timeout))
            }
            EventKind::StopTimedOut { timeout } => {
                write!(
                    f,
                    "still running {} after stop: sent SIGKILL to its process group",
                    short_duration(*timeout)
                )
            }
            EventKind::Stopped => write!(f, "stopped"),
            EventKind::KilledByOperator => {
                write!(f, "killed by operator (SIGKILL to its process group)")
            }
            EventKind::Signalled { signal } => write!(f, "sent {}", signal.as_str()),
            EventKind::OperatorRestart => write!(f, "restart requested"),
            EventKind::OperatorStart => write!(f, "start requested"),
            EventKind::Ready => write!(f, "ready"),
            EventKind::HandshakeDone { steps } => write!(f, "handshake done ({steps} steps)"),
            EventKind::HandshakeFailed { error } => write!(f, "handshake failed: {error}"),
            EventKind::HealthFailed { failures, threshold, reason } => {
                write!(f, "health check failed {failures}/{threshold}: {reason}")
            }
            EventKind::Unhealthy { failures } => {
                write!(f, "unhealthy: {failures} health checks failed in a row")
            }
            EventKind::Healthy => write!(f, "healthy again"),
            EventKind::RestartUnhealthy => write!(f, "restarting because it is unhealthy"),
            EventKind::LogFileFailed { error } => {
                write!(f, "log file write failed: {error} (retrying every second)")
            }
            EventKind::LogFileResumed => write!(f, "log file writing resumed"),
            EventKind::RecordingFailed { path, error } => {
                write!(f, "recording to {path} failed: {error} (retrying every second)")
            }
            EventKind::RecordingResumed { path } => write!(f, "recording to {path} resumed"),
            EventKind::Listening => write!(f, "listening"),
            EventKind::ReloadRefused { error } => write!(f, "{error}"),
            EventKind::Reconfigured { keys, restart: true } => {
                write!(f, "reload: restarting for {}", keys.join(", "))
            }
            EventKind::Reconfigured { keys, restart: false } => {
                write!(f, "reload: {} applied in place", keys.join(", "))
            }
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.sidecar, self.kind)
    }
}

pub use crate::text::duration::short_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(short_duration(Duration::from_millis(400)), "400ms");
        assert_eq!(short_duration(Duration::from_millis(2310)), "2.31s");
        assert_eq!(short_duration(Duration::from_secs(60)), "60s");
        assert_eq!(short_duration(Duration::from_millis(90_500)), "1m30s");
        assert_eq!(short_duration(Duration::from_secs(5)), "5s");
    }

    #[test]
    fn events_read_like_the_docs() {
        let e = EventKind::Exited {
            exit: ExitInfo::Signal { signal: 11, core_dumped: true },
            uptime: Duration::from_millis(2310),
        };
        assert_eq!(e.to_string(), "exited: SIGSEGV (core dumped) after 2.31s");
        let e = EventKind::CrashLoop { exits: 5, window: Duration::from_secs(60) };
        assert_eq!(e.to_string(), "crash loop: gave up after 5 exits in 60s");
    }
}
