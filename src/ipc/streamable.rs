//! MCP's Streamable HTTP transport: each JSON-RPC message is POSTed to the server's
//! endpoint; a request's reply comes back as a JSON body or as a server-sent-events
//! stream that may carry notifications (progress, log messages) before the reply. The
//! session id the server gives on `initialize` goes with every later message.

use super::protocol::{Outcome, cap_text};
use super::rpc::Call;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

pub struct Streamable {
    client: reqwest::Client,
    url: String,
    /// The session id and protocol version the server gave, for this run of it.
    session: Mutex<(Option<String>, Option<String>)>,
}

/// Splits a server-sent-events stream into the data of its events.
#[derive(Default)]
struct Events {
    pending: String,
    data: Vec<String>,
}

impl Events {
    /// Feeds bytes; returns the data of every event completed by them.
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.push_str(&String::from_utf8_lossy(bytes));
        let mut out = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    out.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(data) = line.strip_prefix("data:") {
                self.data.push(data.strip_prefix(' ').unwrap_or(data).to_string());
            }
            // `event:`, `id:`, `retry:` and comments need nothing here.
        }
        out
    }
}

impl Streamable {
    pub fn new(url: &str) -> Streamable {
        let client =
            reqwest::Client::builder().no_proxy().build().expect("an HTTP client without TLS always builds");
        Streamable { client, url: url.to_string(), session: Mutex::new((None, None)) }
    }

    /// A new run of the server: its old session means nothing to it.
    pub fn reset(&self) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = (None, None);
    }

    fn post(&self, message: &Value) -> reqwest::RequestBuilder {
        let (session, version) = self.session.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(message.to_string());
        if let Some(session) = session {
            request = request.header(SESSION_HEADER, session);
        }
        if let Some(version) = version {
            request = request.header(VERSION_HEADER, version);
        }
        request
    }

    /// A notification (or our answer to the server): accepted with 202.
    pub async fn notify(&self, message: &Value) -> Result<(), Outcome> {
        let response = self.post(message).send().await.map_err(|e| Outcome::Transport(e.to_string()))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            code => Err(Outcome::Transport(format!("HTTP {code} for a notification"))),
        }
    }

    /// POSTs request `id` and waits for its reply. Other messages on its stream go to
    /// `on_message`, which returns the progress token a message is about, if any:
    /// progress about this request extends the wait (by `timeout` each time, `max` in
    /// all).
    pub async fn call(
        &self,
        message: Value,
        id: u64,
        timeout: Duration,
        max: Duration,
        on_message: &(dyn Fn(&[u8]) -> Option<u64> + Sync),
    ) -> Call {
        let request = message.to_string();
        let fail = |outcome| Call { request: request.clone(), outcome, response: None, latency: None };
        let start = Instant::now();
        let begun = tokio::time::Instant::now();
        let mut deadline = begun + timeout;
        let cap = begun + max.max(timeout);
        let sent = tokio::time::timeout_at(deadline, self.post(&message).send()).await;
        let mut response = match sent {
            Err(_) => return fail(Outcome::Timeout(timeout)),
            Ok(Err(e)) => return fail(Outcome::Transport(super::http::error_chain(&e))),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if message.get("method").and_then(Value::as_str) == Some("initialize") {
            let session =
                response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
            self.session.lock().unwrap_or_else(|e| e.into_inner()).0 = session;
        }
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !(200..300).contains(&status) {
            let body = tokio::time::timeout_at(deadline, response.text()).await.ok().and_then(Result::ok);
            let why = if status == 404 { "the session is gone (the server restarted?)" } else { "refused" };
            return Call {
                request,
                outcome: Outcome::Transport(format!("HTTP {status}: {why}")),
                response: body.map(cap_text),
                latency: Some(start.elapsed()),
            };
        }
        let reply = if is_stream {
            let mut events = Events::default();
            'stream: loop {
                let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                    Err(_) => return fail(Outcome::Timeout(timeout)),
                    Ok(Err(e)) => return fail(Outcome::Transport(super::http::error_chain(&e))),
                    Ok(Ok(None)) => {
                        return fail(Outcome::Transport("the event stream ended without a reply".into()));
                    }
                    Ok(Ok(Some(chunk))) => chunk,
                };
                for data in events.feed(&chunk) {
                    let value: Option<Value> = serde_json::from_str(&data).ok();
                    let is_reply = value.as_ref().is_some_and(|v| {
                        v.get("method").is_none() && v.get("id").and_then(Value::as_u64) == Some(id)
                    });
                    if is_reply {
                        break 'stream (data, value);
                    }
                    if on_message(data.as_bytes()) == Some(id) {
                        deadline = (tokio::time::Instant::now() + timeout).min(cap);
                    }
                }
            }
        } else {
            match tokio::time::timeout_at(deadline, response.text()).await {
                Err(_) => return fail(Outcome::Timeout(timeout)),
                Ok(Err(e)) => return fail(Outcome::Transport(super::http::error_chain(&e))),
                Ok(Ok(text)) => {
                    let value = serde_json::from_str(&text).ok();
                    (text, value)
                }
            }
        };
        let latency = start.elapsed();
        let (text, value) = reply;
        let outcome = match value.as_ref().map(super::protocol::classify) {
            Some(super::protocol::Incoming::Response { result: Ok(result), .. }) => {
                if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
                    self.session.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(version.to_string());
                }
                Outcome::Ok
            }
            Some(super::protocol::Incoming::Response { result: Err((code, message)), .. }) => {
                Outcome::RpcError { code, message }
            }
            _ => Outcome::Malformed(format!("not a JSON-RPC reply to request {id}")),
        };
        Call { request, outcome, response: Some(cap_text(text)), latency: Some(latency) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_whatever_the_chunks() {
        let mut e = Events::default();
        assert!(e.feed(b"event: message\ndata: {\"a\":").is_empty());
        assert_eq!(e.feed(b"1}\n\nevent: message\r\ndata: 2\r\n\r\n: comment\n"), ["{\"a\":1}", "2"]);
        assert_eq!(e.feed(b"data: x\ndata: y\n\n"), ["x\ny"]);
    }
}
