//! The engine API's wire types: what a front end sees of each sidecar, its events and its
//! log lines, as plain serde data. Every front end that is not in the engine's process
//! (`ctl`, `attach`, scripts) speaks these over the control socket (see `server`), as
//! JSON-RPC 2.0, one message per line. Times are Unix milliseconds; text is UTF-8 with
//! invalid bytes replaced and terminal escapes removed (SGR colour kept).

pub mod socket_path;

use crate::logs::{LogLine, Stream};
use crate::supervisor::{Event, SidecarHandle};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bumped on any incompatible change of methods or types; `hello` refuses a mismatch.
pub const PROTOCOL_VERSION: u32 = 1;

/// JSON-RPC error codes of the control protocol (besides the standard ones).
pub mod codes {
    pub const UNKNOWN_SIDECAR: i64 = -32001;
    /// The operation was refused or failed (not running, no IPC, I/O error).
    pub const FAILED: i64 = -32002;
    pub const READ_ONLY: i64 = -32003;
    pub const VERSION: i64 = -32004;
    pub const NO_HELLO: i64 = -32005;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SidecarInfo {
    pub name: String,
    /// As operators read it: `ready`, `unhealthy`, `running`, `backoff`, `crash-loop`, ...
    pub state: String,
    pub pid: Option<u32>,
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    /// `exit code 1`, `SIGSEGV (core dumped)`, ...
    pub last_exit: Option<String>,
    /// Why it failed to start.
    pub error: Option<String>,
    pub lines: u64,
    /// Lines that left the scrollback to respect its bounds.
    pub lines_dropped: u64,
    /// Lines that never reached the log file (non-blocking mode), when it has one.
    pub log_file_dropped: Option<u64>,
}

impl SidecarInfo {
    pub fn of(handle: &SidecarHandle) -> SidecarInfo {
        let status = handle.status();
        let (lines, lines_dropped) = {
            let logs = handle.logs();
            (logs.total_lines, logs.dropped_lines)
        };
        SidecarInfo {
            name: handle.name.to_string(),
            state: status.label().to_string(),
            pid: status.pid,
            uptime_ms: status.uptime().map(|d| d.as_millis() as u64),
            restarts: status.restarts,
            last_exit: status.last_exit.map(|e| e.to_string()),
            error: status.error.clone(),
            lines,
            lines_dropped,
            log_file_dropped: handle.log_file_counts().map(|c| c.dropped),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventInfo {
    pub sidecar: String,
    pub at_ms: u64,
    pub text: String,
}

impl From<&Event> for EventInfo {
    fn from(event: &Event) -> EventInfo {
        EventInfo {
            sidecar: event.sidecar.to_string(),
            at_ms: unix_ms(event.at),
            text: event.kind.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLineInfo {
    pub sidecar: String,
    /// Position since the sidecar's first line: follow from `seq + 1`.
    pub seq: u64,
    pub at_ms: u64,
    pub stderr: bool,
    pub text: String,
    /// Cut at `max_line`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

impl LogLineInfo {
    pub fn of(sidecar: &str, seq: u64, line: &LogLine) -> LogLineInfo {
        LogLineInfo {
            sidecar: sidecar.to_string(),
            seq,
            at_ms: unix_ms(line.at),
            stderr: line.stream == Stream::Stderr,
            text: crate::sanitize::sanitize(&line.bytes),
            cut: line.cut,
        }
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
    let logs = handle.logs();
    let first = logs.first_seq();
    let start = from.max(first);
    let gone = start - from.min(start);
    let mut out = Vec::new();
    let mut next = start;
    for line in logs.iter().skip((start - first) as usize) {
        if out.len() == limit {
            break;
        }
        if !stderr_only || line.stream == Stream::Stderr {
            out.push(LogLineInfo::of(&handle.name, next, line));
        }
        next += 1;
    }
    (out, gone, next)
}

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
