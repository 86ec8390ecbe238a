//! `[sidecar.ipc]`, `[sidecar.health]` and `[[sidecar.request]]`: how sidetop talks to a
//! sidecar, how it decides the sidecar is ready and healthy, and the named test requests.

use super::values::DurationValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

// ---- as written ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolName {
    Jsonrpc,
    JsonLines,
    Http,
    /// An MCP server: JSON-RPC with the MCP handshake and tool discovery built in.
    Mcp,
    /// A language server: JSON-RPC with Content-Length framing and the LSP lifecycle.
    Lsp,
    /// A gRPC server at `address`, called through its server reflection.
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TransportName {
    #[default]
    Stdio,
    Tcp,
    Unix,
    Websocket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    #[default]
    Newline,
    ContentLength,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpc {
    pub protocol: ProtocolName,
    pub transport: Option<Spanned<TransportName>>,
    pub address: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub framing: Option<Spanned<Framing>>,
    pub timeout: Option<DurationValue>,
    pub max_in_flight: Option<Spanned<usize>>,
    pub handshake: Option<Vec<Spanned<RawHandshake>>>,
    pub reply_has: Option<Spanned<String>>,
    /// Requests or notifications sent before the stop signal.
    pub shutdown: Option<Vec<Spanned<RawHandshake>>>,
    pub close_stdin_on_stop: Option<bool>,
    /// How far progress notifications may push a request's timeout.
    pub max_timeout: Option<DurationValue>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandshake {
    pub method: String,
    pub params: Option<Value>,
    #[serde(default)]
    pub notification: bool,
}

/// The fields a request (template or health check) may have; which ones are required
/// depends on the protocol.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequestFields {
    pub name: Option<String>,
    pub method: Option<Spanned<String>>,
    pub params: Option<Spanned<Value>>,
    pub value: Option<Spanned<Value>>,
    pub path: Option<Spanned<String>>,
    pub body: Option<Spanned<Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub method: Option<Spanned<String>>,
    pub params: Option<Spanned<Value>>,
    pub value: Option<Spanned<Value>>,
    pub path: Option<Spanned<String>>,
    pub body: Option<Spanned<Value>>,
    pub status: Option<Spanned<u16>>,
    pub exec: Option<Spanned<Vec<String>>>,
    pub interval: Option<DurationValue>,
    pub timeout: Option<DurationValue>,
    pub failures: Option<Spanned<u32>>,
    pub grace: Option<DurationValue>,
    pub start_period: Option<DurationValue>,
    pub grpc_service: Option<Spanned<String>>,
    pub restart_on_unhealthy: Option<bool>,
    pub ready_log: Option<Spanned<String>>,
}

// ---- validated ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    JsonRpc,
    JsonLines,
    Http {
        url: String,
    },
    /// `host:port`; requests name `package.Service/Method` and carry the message as JSON.
    Grpc {
        address: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Tcp(String),
    Unix(PathBuf),
    /// JSON-RPC POSTed to this URL, replies as JSON or an SSE stream (MCP's Streamable
    /// HTTP).
    Http(String),
    /// One message per WebSocket frame, to a `ws://` URL the sidecar listens on.
    WebSocket(String),
}

/// What a JSON-RPC sidecar speaks on top of JSON-RPC: sidetop does its handshake,
/// discovery and shutdown for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Speaks {
    #[default]
    Plain,
    Mcp,
    Lsp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IpcConfig {
    pub protocol: Protocol,
    pub transport: Transport,
    pub framing: Framing,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub handshake: Vec<HandshakeStep>,
    /// json-lines: a stdout line is a reply only if this JSON pointer (RFC 6901, like
    /// `/price`) resolves in it; other JSON lines are log text.
    pub reply_has: Option<String>,
    pub speaks: Speaks,
    /// Sent in order before the stop signal (LSP: `shutdown`, then `exit`).
    pub shutdown: Vec<HandshakeStep>,
    /// Close the sidecar's stdin before the stop signal (MCP over stdio: that is how a
    /// server is told to exit).
    pub close_stdin_on_stop: bool,
    /// Progress notifications extend a request's timeout, up to this much in all.
    pub max_timeout: Duration,
}

impl IpcConfig {
    /// Anything to do through the protocol before the stop signal.
    pub fn stops_politely(&self) -> bool {
        !self.shutdown.is_empty() || self.close_stdin_on_stop
    }
}

pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeStep {
    pub method: String,
    pub params: Option<Value>,
    /// Sent as a notification (no id, no reply awaited), like LSP's `initialized`.
    pub notification: bool,
}

/// One request, in the shape its protocol needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestSpec {
    Rpc { method: String, params: Option<Value> },
    Line { value: Value },
    Http { method: String, path: String, body: Option<Value> },
}

impl RequestSpec {
    /// The name latency is recorded under: the JSON-RPC method, `METHOD /path`, or
    /// `line` for json-lines.
    pub fn method_label(&self) -> String {
        match self {
            RequestSpec::Rpc { method, .. } => method.clone(),
            RequestSpec::Line { .. } => "line".to_string(),
            RequestSpec::Http { method, path, .. } => format!("{method} {path}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTemplate {
    pub name: String,
    pub spec: RequestSpec,
    /// What it does, when the sidecar said (an MCP tool's description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HealthCheck {
    /// An exchange over the sidecar's protocol; for HTTP, `status` is the expected code
    /// (any 2xx when absent).
    Request { spec: RequestSpec, status: Option<u16> },
    /// A command that must exit 0.
    Exec(Vec<String>),
    /// `grpc.health.v1.Health/Check` for this service (`""`: the whole server);
    /// anything but SERVING fails.
    Grpc { service: String },
}

#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub check: Option<HealthCheck>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Failures in a row before the sidecar is unhealthy.
    pub failures: u32,
    /// Time after start before the first check.
    pub grace: Duration,
    /// After `grace`: failures before the first passing check, within this window, are
    /// the sidecar still starting and do not count.
    pub start_period: Duration,
    pub restart_on_unhealthy: bool,
    /// Ready when a line of output matches.
    pub ready_log: Option<regex::Regex>,
}

impl PartialEq for HealthConfig {
    fn eq(&self, other: &Self) -> bool {
        self.check == other.check
            && self.interval == other.interval
            && self.timeout == other.timeout
            && self.failures == other.failures
            && self.grace == other.grace
            && self.start_period == other.start_period
            && self.restart_on_unhealthy == other.restart_on_unhealthy
            && self.ready_log.as_ref().map(|r| r.as_str()) == other.ready_log.as_ref().map(|r| r.as_str())
    }
}
