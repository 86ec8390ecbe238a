//! Protocol data, kept pure: what an exchange is and how it ended, how requests are
//! encoded, and how a message from a JSON-RPC sidecar is classified.

use crate::config::ipc::{Framing, RequestSpec};
use crate::metrics::latency::{OutcomeKind, format_us};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Request and response text kept per exchange for the traffic inspector.
pub const TRAFFIC_TEXT_CAP: usize = 16 << 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    RpcError {
        code: i64,
        message: String,
    },
    HttpStatus(u16),
    Timeout(Duration),
    Transport(String),
    Malformed(String),
    Exited(String),
    /// An MCP tool answered, but its result says it failed (`isError`).
    ToolError(String),
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Ok => OutcomeKind::Ok,
            Outcome::RpcError { .. } | Outcome::HttpStatus(_) | Outcome::ToolError(_) => OutcomeKind::Error,
            Outcome::Timeout(_) => OutcomeKind::Timeout,
            Outcome::Transport(_) => OutcomeKind::Transport,
            Outcome::Malformed(_) => OutcomeKind::Malformed,
            Outcome::Exited(_) => OutcomeKind::Exited,
        }
    }

    pub fn is_ok(&self) -> bool {
        *self == Outcome::Ok
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => write!(f, "ok"),
            Outcome::RpcError { code, message } => write!(f, "error {code}: {message}"),
            Outcome::HttpStatus(code) => write!(f, "HTTP {code}"),
            Outcome::Timeout(after) => {
                write!(f, "timeout after {}", crate::text::duration::short_duration(*after))
            }
            Outcome::Transport(e) => write!(f, "transport error: {e}"),
            Outcome::Malformed(e) => write!(f, "malformed response: {e}"),
            Outcome::Exited(why) => write!(f, "{why}"),
            Outcome::ToolError(text) => write!(f, "tool error: {text}"),
        }
    }
}

/// Who asked for an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Operator,
    Load,
    Health,
    Handshake,
    /// A notification or request the sidecar sent on its own.
    Sidecar,
    /// A call the application made of a sidecar it runs through `sidetop wrap`.
    Application,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub sidecar: Arc<str>,
    pub at: SystemTime,
    /// JSON-RPC method, `GET /path`, or `line`.
    pub method: String,
    pub origin: Origin,
    pub request: Option<String>,
    pub response: Option<String>,
    pub latency: Option<Duration>,
    pub outcome: Outcome,
    /// HTTP status, for HTTP sidecars.
    pub status: Option<u16>,
    /// What was asked, as it was built before it went out (without what the protocol
    /// adds on the way, like MCP's progress token): a recording is replayed from it and
    /// the traffic tab's `e` edits it. Sent to every front end alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<RequestSpec>,
}

impl Exchange {
    /// `pricing  -> get_price 0.41ms ok` without the name: `-> get_price 0.41ms ok`.
    pub fn summary(&self) -> String {
        let arrow = if self.origin == Origin::Sidecar { "<-" } else { "->" };
        let latency =
            self.latency.map(|l| format!(" {}", format_us(l.as_micros() as u64))).unwrap_or_default();
        format!("{arrow} {}{latency} {}", self.method, self.outcome)
    }
}

/// At most `cap` bytes of `bytes` as text (cut at a character), saying how long it was.
pub fn capped_text(bytes: &[u8], cap: usize) -> String {
    if bytes.len() <= cap {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut cut = cap;
    // Back to the start of a UTF-8 character (continuation bytes are 0b10xxxxxx).
    while cut > 0 && bytes[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    let mut text = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    text.push_str(&cut_marker(bytes.len()));
    text
}

/// What ends a text cut short: how long it was.
fn cut_marker(total: usize) -> String {
    format!(" … [{total} bytes in all]")
}

pub fn cap_text(mut text: String) -> String {
    if text.len() > TRAFFIC_TEXT_CAP {
        let mut cut = TRAFFIC_TEXT_CAP;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = text.len();
        text.truncate(cut);
        text.push_str(&cut_marker(total));
    }
    text
}

/// The message for a request: JSON-RPC with an id (or none for a notification), or the
/// json-lines value itself.
pub fn rpc_message(id: Option<u64>, method: &str, params: Option<&Value>) -> Value {
    let mut msg = json!({ "jsonrpc": "2.0", "method": method });
    if let Some(id) = id {
        msg["id"] = json!(id);
    }
    if let Some(params) = params {
        msg["params"] = params.clone();
    }
    msg
}

pub fn encode(message: &Value, framing: Framing) -> Vec<u8> {
    let body = serde_json::to_vec(message).expect("a Value always serializes");
    match framing {
        Framing::Newline => {
            let mut out = body;
            out.push(b'\n');
            out
        }
        Framing::ContentLength => {
            let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            out.extend_from_slice(&body);
            out
        }
    }
}

/// What a JSON-RPC peer sent us.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A reply to request `id` (our ids are numbers; anything else cannot match).
    Response {
        id: Option<u64>,
        raw_id: Value,
        result: Result<Value, (i64, String)>,
    },
    Notification {
        method: String,
    },
    Request {
        id: Value,
        method: String,
    },
    /// Claims to be JSON-RPC but is not valid.
    Invalid(String),
    /// Valid JSON but not a JSON-RPC message (e.g. a JSON log line): belongs in the log.
    NotRpc,
}

pub fn classify(msg: &Value) -> Incoming {
    let Some(obj) = msg.as_object() else { return Incoming::NotRpc };
    let claims = obj.get("jsonrpc").is_some();
    if let Some(method) = obj.get("method") {
        let Some(method) = method.as_str() else { return Incoming::Invalid("method is not a string".into()) };
        return match obj.get("id") {
            Some(id) if !id.is_null() => Incoming::Request { id: id.clone(), method: method.to_string() },
            _ => Incoming::Notification { method: method.to_string() },
        };
    }
    let (result, error) = (obj.get("result"), obj.get("error"));
    match (obj.get("id"), result, error) {
        (Some(id), Some(r), None) => {
            Incoming::Response { id: id.as_u64(), raw_id: id.clone(), result: Ok(r.clone()) }
        }
        (Some(id), None, Some(e)) => {
            let code = e.get("code").and_then(Value::as_i64);
            let message = e.get("message").and_then(Value::as_str);
            match (code, message) {
                (Some(code), Some(message)) => Incoming::Response {
                    id: id.as_u64(),
                    raw_id: id.clone(),
                    result: Err((code, message.to_string())),
                },
                _ => Incoming::Invalid("error object without code and message".into()),
            }
        }
        (Some(_), Some(_), Some(_)) => Incoming::Invalid("both result and error".into()),
        (Some(_), None, None) if claims => Incoming::Invalid("neither result nor error".into()),
        _ if claims => Incoming::Invalid("neither method nor id".into()),
        _ => Incoming::NotRpc,
    }
}

/// How a request looks in the traffic inspector.
pub fn describe_request(spec: &RequestSpec) -> String {
    match spec {
        RequestSpec::Rpc { method, params } => rpc_message(None, method, params.as_ref()).to_string(),
        RequestSpec::Line { value } => value.to_string(),
        RequestSpec::Http { method, path, body } => match body {
            Some(b) => format!("{method} {path}\n{b}"),
            None => format!("{method} {path}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let r = classify(&json!({"jsonrpc":"2.0","id":7,"result":{"ok":true}}));
        assert!(matches!(r, Incoming::Response { id: Some(7), result: Ok(_), .. }));
        let r = classify(&json!({"jsonrpc":"2.0","id":8,"error":{"code":-32000,"message":"boom"}}));
        assert_eq!(
            r,
            Incoming::Response { id: Some(8), raw_id: json!(8), result: Err((-32000, "boom".into())) }
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","method":"log","params":[]})),
            Incoming::Notification { method: "log".into() }
        );
        assert!(matches!(
            classify(&json!({"jsonrpc":"2.0","id":"a","method":"ask"})),
            Incoming::Request { .. }
        ));
        assert!(matches!(classify(&json!({"jsonrpc":"2.0","id":1})), Incoming::Invalid(_)));
        assert_eq!(classify(&json!({"level":"info","msg":"hi"})), Incoming::NotRpc);
        assert!(matches!(classify(&json!({"id":"x","result":1})), Incoming::Response { id: None, .. }));
    }

    #[test]
    fn encodes_both_framings() {
        let m = rpc_message(Some(1), "ping", None);
        assert_eq!(encode(&m, Framing::Newline), b"{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n");
        let framed = String::from_utf8(encode(&m, Framing::ContentLength)).unwrap();
        assert!(framed.starts_with("Content-Length: 40\r\n\r\n{"), "{framed}");
    }
}
