//! The engine API's data: what a front end sees of each sidecar, as plain serde values.
//! The same types travel through the in-process channel (as values) and the control
//! socket (as JSON). Times are Unix milliseconds; text is UTF-8 with invalid bytes
//! replaced and terminal escapes removed (SGR colour kept).

use crate::config::ipc::{Protocol, RequestTemplate};
use crate::ipc::protocol::Exchange;
use crate::metrics::latency::Summary;
use crate::metrics::resources::Sample;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A sidecar's lifecycle state, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Life {
    #[default]
    Idle,
    Waiting,
    Starting,
    Running,
    Stopping,
    Stopped,
    Exited,
    Backoff,
    CrashLoop,
    Failed,
}

impl Life {
    /// A process of this sidecar exists.
    pub fn has_process(&self) -> bool {
        matches!(self, Life::Starting | Life::Running | Life::Stopping)
    }
}

/// What does not change while the engine runs: from the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SidecarSetup {
    pub name: String,
    /// The command as a person would type it.
    pub command: String,
    /// `NAME=value`, secrets masked.
    pub env: Vec<String>,
    /// `None`: sidetop does not talk to it.
    pub protocol: Option<Protocol>,
    /// Named test requests; the first is the default.
    pub requests: Vec<RequestTemplate>,
    /// MCP or LSP on top of JSON-RPC (their handshake, tools, shutdown are built in).
    #[serde(default)]
    pub speaks: crate::config::ipc::Speaks,
    /// Lines the engine keeps: a front end need not keep more.
    pub scrollback_lines: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SidecarInfo {
    pub name: String,
    pub life: Life,
    /// As operators read it: `ready`, `unhealthy`, `running`, `backoff`, `crash-loop`, ...
    pub state: String,
    pub pid: Option<u32>,
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    /// `exit code 1`, `SIGSEGV (core dumped)`, ...
    pub last_exit: Option<String>,
    /// The last exit was a clean `exit code 0`.
    #[serde(default)]
    pub last_exit_ok: bool,
    /// Why it failed to start.
    pub error: Option<String>,
    /// In backoff: milliseconds until the next start.
    #[serde(default)]
    pub next_start_ms: Option<u64>,
    pub lines: u64,
    /// Lines that left the scrollback to respect its bounds.
    pub lines_dropped: u64,
    /// Lines that never reached the log file (non-blocking mode), when it has one.
    pub log_file_dropped: Option<u64>,
    /// Run through `sidetop wrap` by this application (`pid 812: nvim app.py`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_by: Option<String>,
}

impl SidecarInfo {
    pub fn uptime(&self) -> Option<Duration> {
        self.uptime_ms.map(Duration::from_millis)
    }

    /// The same status, whatever the clocks say (uptime and the backoff countdown move on
    /// by themselves; a front end counts them from what it was sent).
    pub fn same_apart_from_clocks(&self, other: &SidecarInfo) -> bool {
        let clocks = |s: &SidecarInfo| (s.uptime_ms.is_some(), s.next_start_ms.is_some());
        if clocks(self) != clocks(other) {
            return false;
        }
        let mut other = other.clone();
        other.uptime_ms = self.uptime_ms;
        other.next_start_ms = self.next_start_ms;
        *self == other
    }
}

/// How an event reads at a glance (its colour in the dashboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Info,
    Good,
    Warn,
    Bad,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventInfo {
    pub sidecar: String,
    pub at_ms: u64,
    pub text: String,
    #[serde(default)]
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLineInfo {
    /// Position since the sidecar's first line: follow from `seq + 1`.
    pub seq: u64,
    pub at_ms: u64,
    pub stderr: bool,
    pub text: String,
    /// Cut at `max_line`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

/// Latency of one method (or of all), since start and over the last minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MethodLatency {
    pub method: String,
    /// Who asked, where the figures are for one origin only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<crate::ipc::protocol::Origin>,
    pub all: Summary,
    pub minute: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LatencyInfo {
    pub overall: MethodLatency,
    pub methods: Vec<MethodLatency>,
    /// Per method and origin.
    #[serde(default)]
    pub origins: Vec<MethodLatency>,
    /// Replies that came after their request timed out.
    pub late: u64,
    pub protocol_errors: u64,
    /// Messages the sidecar sent on its own.
    pub incoming: u64,
    /// Latencies beyond the histogram's range.
    pub outliers: u64,
    /// Every exchange since start in log-spaced bins: (upper bound µs, count).
    pub bins: Vec<(u64, u64)>,
    /// Per second with traffic, the last five minutes, oldest first.
    #[serde(default)]
    pub timeline: Vec<crate::metrics::timeline::SecondPoint>,
    /// The engine's clock (unix seconds) when this was taken: the chart's right edge.
    #[serde(default)]
    pub now: u64,
    /// A language server's diagnostics: (documents with some, total).
    #[serde(default)]
    pub diagnostics: Option<(usize, usize)>,
    /// What the sidecar sent on its own, per method: (method, count, per second over
    /// the last minute).
    #[serde(default)]
    pub pushes: Vec<(String, u64, f64)>,
    /// WebSocket: the last ping's round trip, in microseconds.
    #[serde(default)]
    pub ping_us: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Host {
    pub cpu: f32,
    pub mem_used: u64,
    pub mem_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResourceInfo {
    /// Oldest first.
    pub samples: Vec<Sample>,
    /// The main process's soft limits that are set.
    pub limits: Vec<(String, String)>,
}

/// One sampling round: the newest sample of every sidecar (config order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Samples {
    /// Samples taken so far (a follower skips one it already has).
    pub taken: u64,
    pub host: Host,
    /// Each sidecar's newest sample, by name.
    pub sidecars: Vec<(String, Sample)>,
    /// Limits of sidecars whose process changed since the last round.
    #[serde(default)]
    pub limits: Vec<(String, Vec<(String, String)>)>,
    /// Only the samples that differ from the last round's: a sidecar not listed has the
    /// same figures again (a thousand sleepers send nothing new).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// Everything a front end shows but the log lines, at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub config: String,
    pub pid: u32,
    pub interval_ms: u64,
    pub setups: Vec<SidecarSetup>,
    pub sidecars: Vec<SidecarInfo>,
    /// Every sidecar's, oldest first.
    pub events: Vec<EventInfo>,
    pub host: Host,
    pub taken: u64,
    pub resources: Vec<ResourceInfo>,
    pub latency: Vec<Option<LatencyInfo>>,
    /// Recent exchanges of each sidecar, oldest first.
    pub traffic: Vec<Vec<Arc<Exchange>>>,
    /// What each MCP or LSP server said about itself and offers.
    #[serde(default)]
    pub discovered: Vec<Option<crate::ipc::discovery::Discovery>>,
}

/// What the engine pushes to a subscribed front end (JSON-RPC notifications on the
/// socket: `method` and `params`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Notice {
    /// Every sidecar's status, or with `partial` only those that changed since the last.
    Status {
        sidecars: Vec<SidecarInfo>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    /// An MCP or LSP server's self-description and offer changed (after its handshake,
    /// or when it said its tools changed).
    Discovered {
        sidecar: String,
        discovery: Box<crate::ipc::discovery::Discovery>,
    },
    Event(EventInfo),
    Log {
        sidecar: String,
        lines: Vec<LogLineInfo>,
        gone: u64,
    },
    Samples(Samples),
    Latency {
        sidecar: String,
        latency: Box<LatencyInfo>,
    },
    Exchange(Arc<Exchange>),
    /// This many notices did not fit the client's queue; a fresh `status` follows.
    Skipped {
        count: u64,
    },
    /// A reload was applied (`ok`, the summary) or refused (the error, nothing changed).
    /// The set of sidecars may have changed: take a new snapshot.
    Reloaded {
        ok: bool,
        text: String,
    },
    /// An engine joined (or came back to) a dashboard over several (made by the fleet,
    /// never sent by an engine): its part of a snapshot, renamed, merged in; the other
    /// engines' sidecars stay as they are, so a join costs one engine's snapshot, not
    /// all of them. `config` is the header's config over every engine now.
    Joined {
        engine: String,
        config: String,
        snapshot: Box<Snapshot>,
    },
}

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ipc::RequestSpec;
    use crate::ipc::protocol::{Origin, Outcome};

    /// An attached dashboard reads notices from JSON: it must get what an in-process one
    /// gets, the request as built included (the traffic tab's `e` edits it).
    #[test]
    fn an_exchange_crosses_the_socket_whole() {
        let spec = RequestSpec::Rpc { method: "add".into(), params: Some(serde_json::json!({"a": 1})) };
        let exchange = Exchange {
            sidecar: "calc".into(),
            at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
            method: "add".into(),
            origin: Origin::Operator,
            request: Some(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1}}"#.into()),
            response: Some(r#"{"jsonrpc":"2.0","id":1,"result":1}"#.into()),
            latency: Some(Duration::from_micros(250)),
            outcome: Outcome::Ok,
            status: None,
            spec: Some(spec.clone()),
        };
        let text = serde_json::to_string(&Notice::Exchange(Arc::new(exchange))).unwrap();
        let Notice::Exchange(back) = serde_json::from_str::<Notice>(&text).unwrap() else { panic!("{text}") };
        assert_eq!(back.spec, Some(spec));
        assert_eq!(
            back.request.as_deref(),
            Some(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1}}"#)
        );
        assert_eq!(back.latency, Some(Duration::from_micros(250)));
    }
}
