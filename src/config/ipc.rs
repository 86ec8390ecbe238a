//! `[sidecar.ipc]`, `[sidecar.health]` and `[[sidecar.request]]`: how sidetop talks to a
//! sidecar, how it decides the sidecar is ready and healthy, and the named test requests.

use super::values::DurationValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

// ---- as written ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransportName {
    #[default]
    Stdio,
    Tcp,
    Unix,
    Websocket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    #[default]
    Newline,
    ContentLength,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIpc {
    /// What it speaks: `jsonrpc` (JSON-RPC 2.0, replies matched by id), `json-lines` (one JSON value per line, replies in order), `http`, `mcp` (an MCP server), `lsp` (a language server) or `grpc` (through server reflection).
    pub protocol: ProtocolName,
    /// jsonrpc/json-lines: `stdio` (the child's stdin/stdout), `tcp` or `unix` (the sidecar listens at `address`), or `websocket` (at `url`).
    #[schemars(with = "Option<TransportName>", extend("default" = "stdio"))]
    pub transport: Option<Spanned<TransportName>>,
    /// tcp and grpc: `"127.0.0.1:7000"`; unix: a socket path.
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// http: the base URL (`"http://127.0.0.1:5000"`); websocket: `"ws://127.0.0.1:8765/"`; mcp: the Streamable HTTP endpoint instead of stdio.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// How messages are delimited on a stream: `newline`, or `content-length` (LSP-style headers; the default for lsp).
    #[schemars(with = "Option<Framing>", extend("default" = "newline"))]
    pub framing: Option<Spanned<Framing>>,
    /// Per request.
    #[schemars(extend("default" = "5s"))]
    pub timeout: Option<DurationValue>,
    /// Requests waiting for a reply at once; more wait their turn.
    #[schemars(with = "Option<usize>", extend("default" = 256))]
    pub max_in_flight: Option<Spanned<usize>>,
    /// jsonrpc: requests or notifications sent in order on every start, before any health check or test request; the sidecar is not ready until they succeed.
    #[schemars(with = "Option<Vec<RawHandshake>>", extend("default" = []))]
    pub handshake: Option<Vec<Spanned<RawHandshake>>>,
    /// json-lines: a JSON pointer such as `"/price"`; a stdout line is a reply only if it has it, so JSON log lines stay log lines.
    #[schemars(with = "Option<String>")]
    pub reply_has: Option<Spanned<String>>,
    /// Requests or notifications sent before the stop signal (`[{ method = "shutdown" }, { method = "exit", notification = true }]`).
    #[schemars(with = "Option<Vec<RawHandshake>>", extend("default" = []))]
    pub shutdown: Option<Vec<Spanned<RawHandshake>>>,
    /// Close the sidecar's stdin before the stop signal (MCP's stdio shutdown).
    #[schemars(extend("default" = false))]
    pub close_stdin_on_stop: Option<bool>,
    /// How far progress notifications may push a request's timeout.
    pub max_timeout: Option<DurationValue>,
    /// http, grpc, websocket: sidetop listens here (`"127.0.0.1:5000"`) and forwards every connection to the sidecar's own `url`/`address`, measuring the application's requests. Point the application here.
    #[schemars(with = "Option<String>")]
    pub listen: Option<Spanned<String>>,
    /// Allow `listen` on an address other hosts can reach.
    #[schemars(extend("default" = false))]
    pub listen_remote: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHandshake {
    /// The JSON-RPC method.
    pub method: String,
    /// Its params, any JSON.
    pub params: Option<Value>,
    #[serde(default)]
    /// Send it as a notification (no id, no reply awaited).
    #[schemars(extend("default" = false))]
    pub notification: bool,
}

/// The fields a request (template or health check) may have; which ones are required
/// depends on the protocol.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequestFields {
    /// The template's name (`sidetop request NAME --template THIS`).
    pub name: Option<String>,
    /// jsonrpc: the method; http: the HTTP method (default GET); grpc: `package.Service/Method`.
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// jsonrpc and grpc: the params or message, as JSON.
    #[schemars(with = "Option<Value>")]
    pub params: Option<Spanned<Value>>,
    /// json-lines: the value sent as one line.
    #[schemars(with = "Option<Value>")]
    pub value: Option<Spanned<Value>>,
    /// http: the path, like `/price`.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// http: a JSON body.
    #[schemars(with = "Option<Value>")]
    pub body: Option<Spanned<Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// jsonrpc: the method to call (with `params`); http: the HTTP method for `path`.
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// jsonrpc: its params.
    #[schemars(with = "Option<Value>")]
    pub params: Option<Spanned<Value>>,
    /// json-lines: the value sent; any reply passes.
    #[schemars(with = "Option<Value>")]
    pub value: Option<Spanned<Value>>,
    /// http: the path to request.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// http: a JSON body.
    #[schemars(with = "Option<Value>")]
    pub body: Option<Spanned<Value>>,
    /// http: the status that passes (default: any 2xx).
    #[schemars(with = "Option<u16>")]
    pub status: Option<Spanned<u16>>,
    /// Any sidecar: a command (argv) whose exit 0 passes.
    #[schemars(with = "Option<Vec<String>>")]
    pub exec: Option<Spanned<Vec<String>>>,
    /// Between checks.
    #[schemars(extend("default" = "5s"))]
    pub interval: Option<DurationValue>,
    /// Per check.
    #[schemars(extend("default" = "2s"))]
    pub timeout: Option<DurationValue>,
    /// Failures in a row before the sidecar is `unhealthy`.
    #[schemars(with = "Option<u32>", extend("default" = 3))]
    pub failures: Option<Spanned<u32>>,
    /// Wait this long after start before the first check.
    #[schemars(extend("default" = "0"))]
    pub grace: Option<DurationValue>,
    /// A start window: until the first check passes, failures within it are the sidecar still starting.
    #[schemars(extend("default" = "30s"))]
    pub start_period: Option<DurationValue>,
    /// grpc: check `grpc.health.v1.Health/Check` for this service (`""`: the server as a whole).
    #[schemars(with = "Option<String>")]
    pub grpc_service: Option<Spanned<String>>,
    /// Restart it when unhealthy, through the normal restart path (backoff and crash-loop limits apply).
    #[schemars(extend("default" = false))]
    pub restart_on_unhealthy: Option<bool>,
    /// A regex: ready when an output line matches.
    #[schemars(with = "Option<String>")]
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
    /// The measuring proxy in front of a network sidecar.
    pub listen: Option<super::listen::Listen>,
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
