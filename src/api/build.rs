//! The wire types built from the engine's own: the only place that reads a
//! `SidecarHandle` to describe it to a front end.

use super::wire::*;
use crate::config::SidecarConfig;
use crate::ipc::stats::IpcMetrics;
use crate::metrics::latency::{Stats, log_bins};
use crate::supervisor::scrollback::{LogLine, STDERR_QUOTED, Stream, quote_stderr};
use crate::supervisor::{self, Event, EventKind, SidecarHandle};
use std::time::Instant;

/// Log-spaced bins sent with a latency summary (a front end may merge them).
pub const LATENCY_BINS: usize = 16;

pub fn life(state: supervisor::Life) -> Life {
    match state {
        supervisor::Life::Idle => Life::Idle,
        supervisor::Life::Waiting => Life::Waiting,
        supervisor::Life::Starting => Life::Starting,
        supervisor::Life::Running => Life::Running,
        supervisor::Life::Stopping => Life::Stopping,
        supervisor::Life::Stopped => Life::Stopped,
        supervisor::Life::Exited => Life::Exited,
        supervisor::Life::Backoff => Life::Backoff,
        supervisor::Life::CrashLoop => Life::CrashLoop,
        supervisor::Life::Failed => Life::Failed,
    }
}

pub fn setup(config: &SidecarConfig) -> SidecarSetup {
    SidecarSetup {
        name: config.name.clone(),
        command: config.command_line(),
        env: config.shown_env(),
        protocol: config.ipc.as_ref().map(|ipc| ipc.protocol.clone()),
        requests: config.requests.clone(),
        speaks: config.ipc.as_ref().map(|ipc| ipc.speaks).unwrap_or_default(),
        scrollback_lines: config.output.scrollback_lines,
    }
}

pub fn info(handle: &SidecarHandle) -> SidecarInfo {
    let status = handle.status();
    let (lines, lines_dropped) = {
        let logs = handle.logs();
        (logs.total_lines, logs.dropped_lines)
    };
    let now = Instant::now();
    SidecarInfo {
        name: handle.name.to_string(),
        life: life(status.state),
        state: status.label().to_string(),
        pid: status.pid,
        uptime_ms: status.uptime().map(|d| d.as_millis() as u64),
        restarts: status.restarts,
        last_exit: status.last_exit.map(|e| e.to_string()),
        last_exit_ok: status.last_exit.is_some_and(|e| e.is_success()),
        error: status.error.clone(),
        next_start_ms: status.next_start.map(|at| at.saturating_duration_since(now).as_millis() as u64),
        lines,
        lines_dropped,
        log_file_dropped: handle.log_file_counts().map(|c| c.dropped),
        wrapped_by: handle.config.wrapped_by.clone(),
    }
}

pub fn level(kind: &EventKind) -> Level {
    match kind {
        EventKind::Exited { exit, .. } if !exit.is_success() => Level::Bad,
        EventKind::CrashLoop { .. }
        | EventKind::SpawnFailed { .. }
        | EventKind::HandshakeFailed { .. }
        | EventKind::Unhealthy { .. }
        | EventKind::LogFileFailed { .. }
        | EventKind::RecordingFailed { .. }
        | EventKind::ReloadRefused { .. } => Level::Bad,
        EventKind::HealthFailed { .. }
        | EventKind::StopTimedOut { .. }
        | EventKind::Restarting { .. }
        | EventKind::KilledByOperator => Level::Warn,
        EventKind::Started { .. }
        | EventKind::Ready
        | EventKind::Healthy
        | EventKind::LogFileResumed
        | EventKind::RecordingResumed { .. } => Level::Good,
        _ => Level::Info,
    }
}

pub fn event(event: &Event) -> EventInfo {
    EventInfo {
        sidecar: event.sidecar.to_string(),
        at_ms: unix_ms(event.at),
        text: event.kind.to_string(),
        level: level(&event.kind),
    }
}

pub fn log_line(seq: u64, line: &LogLine) -> LogLineInfo {
    LogLineInfo {
        seq,
        at_ms: unix_ms(line.at),
        stderr: line.stream == Stream::Stderr,
        text: crate::text::sanitize::sanitize(&line.bytes),
        cut: line.cut,
    }
}

/// Lines of one sidecar from sequence number `from` on, at most `limit`, optionally
/// stderr only. Returns them, how many lines between `from` and what is still held have
/// left the scrollback, and the sequence number to continue from.
pub fn lines_from(
    handle: &SidecarHandle,
    from: u64,
    limit: usize,
    stderr_only: bool,
) -> (Vec<LogLineInfo>, u64, u64) {
    // Copied out under the lock, sanitized after it: the output pump needs that lock.
    let (raw, gone, next) = {
        let logs = handle.logs();
        let first = logs.first_seq();
        let start = from.max(first);
        let gone = start - from.min(start);
        let mut raw = Vec::new();
        let mut next = start;
        for line in logs.iter().skip((start - first) as usize) {
            if raw.len() == limit {
                break;
            }
            if !stderr_only || line.stream == Stream::Stderr {
                raw.push((next, line.clone()));
            }
            next += 1;
        }
        (raw, gone, next)
    };
    (raw.iter().map(|(seq, line)| log_line(*seq, line)).collect(), gone, next)
}

fn method(name: &str, stats: &Stats, now: Instant) -> MethodLatency {
    MethodLatency {
        method: name.to_string(),
        origin: None,
        all: stats.since_start(now),
        minute: stats.window(now),
    }
}

pub fn latency(m: &IpcMetrics) -> LatencyInfo {
    let now = Instant::now();
    let unix_now = crate::metrics::timeline::unix_now();
    LatencyInfo {
        overall: method("(all)", &m.overall, now),
        methods: m.methods.iter().map(|(name, stats)| method(name, stats, now)).collect(),
        origins: m
            .by_origin
            .iter()
            .map(|((name, origin), stats)| MethodLatency {
                origin: Some(*origin),
                ..method(name, stats, now)
            })
            .collect(),
        late: m.late,
        protocol_errors: m.protocol_errors,
        incoming: m.incoming,
        outliers: m.overall.outliers(),
        bins: log_bins(m.overall.histogram(), LATENCY_BINS),
        timeline: m.timeline.points(unix_now),
        now: unix_now,
        diagnostics: None,
        pushes: m
            .pushes
            .iter()
            .map(|(method, stats)| (method.clone(), stats.total(), stats.window(now).per_second))
            .collect(),
        ping_us: None,
    }
}

/// Why a sidecar could not answer, in its own words: how its last run ended and its last
/// stderr lines, e.g. `the sidecar exited (exit code 1) after 0.3s; its last stderr:
/// ModuleNotFoundError: No module named 'mcp'`. `None` while it runs and never exited.
pub fn explain(handle: &SidecarHandle) -> Option<String> {
    let status = handle.status();
    let exited = handle.events().iter().rev().find_map(|e| match &e.kind {
        EventKind::Exited { exit, uptime } => Some(format!(
            "the sidecar exited ({exit}) after {}",
            crate::text::duration::short_duration(*uptime)
        )),
        EventKind::SpawnFailed { error } => Some(format!("the sidecar failed to start: {error}")),
        _ => None,
    });
    let running = status.state == supervisor::Life::Running && exited.is_none();
    let stderr = handle.logs().stderr_tail(STDERR_QUOTED);
    if running && stderr.is_empty() {
        return None;
    }
    let mut out = exited.unwrap_or_else(|| format!("the sidecar is {}", status.label()));
    out.push_str(&quote_stderr(&stderr));
    Some(out)
}
