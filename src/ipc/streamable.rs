//! MCP's Streamable HTTP transport: each JSON-RPC message is POSTed to the server's
//! endpoint; a request's reply comes back as a JSON body or as a server-sent-events
//! stream that may carry notifications (progress, log messages) before the reply. The
//! session id the server gives on `initialize` goes with every later message.

use super::framing::MAX_FRAME;
use super::protocol::{Outcome, cap_text};
use super::rpc::Call;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

pub struct Streamable {
    client: reqwest::Client,
    url: String,
    /// The session id and protocol version the server gave, for this run of it.
    session: Mutex<(Option<String>, Option<String>)>,
}

/// Why reading a reply's body stopped early.
#[derive(Debug)]
enum BodyError {
    Http(reqwest::Error),
    /// More than a frame's cap without a complete event (or body).
    TooLarge,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Http(e) => write!(f, "{}", super::http::error_chain(e)),
            BodyError::TooLarge => write!(f, "an event exceeds the {MAX_FRAME} byte cap"),
        }
    }
}

/// The body as whole lines (each ending in `\n`), for the event parser. Splitting here
/// first (on bytes, so a multi-byte character is never cut) keeps the parser linear: it
/// rescans an unfinished line on every chunk, which for a line of megabytes in small
/// chunks is quadratic. A line past the frame cap, or more than `MAX_FRAME` bytes without
/// the consumer resetting `since_event` (it does at every complete event), fails: an
/// endless event cannot grow sidetop's memory past about a frame.
fn lines_of(
    response: reqwest::Response,
    since_event: Arc<AtomicUsize>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, BodyError>> {
    let mut splitter = crate::text::splitter::LineSplitter::new(MAX_FRAME);
    let mut buf = bytes::BytesMut::new();
    let mut split = Vec::new();
    response
        .bytes_stream()
        .map(move |chunk| -> Vec<Result<bytes::Bytes, BodyError>> {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => return vec![Err(BodyError::Http(e))],
            };
            if since_event.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > MAX_FRAME {
                return vec![Err(BodyError::TooLarge)];
            }
            buf.extend_from_slice(&chunk);
            splitter.split(&mut buf, &mut split);
            split
                .drain(..)
                .map(|(line, cut)| {
                    if cut {
                        return Err(BodyError::TooLarge);
                    }
                    let mut whole = Vec::with_capacity(line.len() + 1);
                    whole.extend_from_slice(&line);
                    whole.push(b'\n');
                    Ok(whole.into())
                })
                .collect()
        })
        .flat_map(futures_util::stream::iter)
}

/// A JSON body, read up to the frame cap.
async fn capped_text(mut response: reqwest::Response) -> Result<String, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Http)? {
        if body.len() + chunk.len() > MAX_FRAME {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
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

    /// Our answer to a request the server sent on an event stream: POSTed beside the
    /// stream, which goes on being read meanwhile.
    pub fn answer_in_background(&self, message: &Value) {
        let request = self.post(message);
        tokio::spawn(async move {
            if let Err(e) = request.send().await {
                tracing::debug!("an answer to the MCP server was not delivered: {e}");
            }
        });
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
        let response = match sent {
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
            let body =
                tokio::time::timeout_at(deadline, capped_text(response)).await.ok().and_then(Result::ok);
            let why = if status == 404 { "the session is gone (the server restarted?)" } else { "refused" };
            return Call {
                request,
                outcome: Outcome::Transport(format!("HTTP {status}: {why}")),
                response: body.map(cap_text),
                latency: Some(start.elapsed()),
            };
        }
        let reply = if is_stream {
            // A maintained parser (eventsource-stream): events split on blank lines
            // whatever the chunks, UTF-8 decoded across chunk boundaries.
            let since_event = Arc::new(AtomicUsize::new(0));
            let mut events = lines_of(response, since_event.clone()).eventsource();
            'stream: loop {
                let event = match tokio::time::timeout_at(deadline, events.next()).await {
                    Err(_) => return fail(Outcome::Timeout(timeout)),
                    Ok(None) => {
                        return fail(Outcome::Transport("the event stream ended without a reply".into()));
                    }
                    Ok(Some(Err(EventStreamError::Transport(BodyError::TooLarge)))) => {
                        return fail(Outcome::Malformed(BodyError::TooLarge.to_string()));
                    }
                    Ok(Some(Err(EventStreamError::Utf8(e)))) => {
                        return fail(Outcome::Malformed(format!("the event stream is not UTF-8: {e}")));
                    }
                    Ok(Some(Err(e))) => return fail(Outcome::Transport(e.to_string())),
                    Ok(Some(Ok(event))) => event,
                };
                since_event.store(0, Ordering::Relaxed);
                let data = event.data;
                if data.is_empty() {
                    continue;
                }
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
        } else {
            match tokio::time::timeout_at(deadline, capped_text(response)).await {
                Err(_) => return fail(Outcome::Timeout(timeout)),
                Ok(Err(BodyError::TooLarge)) => {
                    return fail(Outcome::Malformed(BodyError::TooLarge.to_string()));
                }
                Ok(Err(e)) => return fail(Outcome::Transport(e.to_string())),
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on 127.0.0.1 that answers one POST with `pieces` of an event stream,
    /// each written (and flushed) on its own a moment apart, so they arrive as chunks.
    async fn serve_once(pieces: Vec<Vec<u8>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 65536];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            for piece in pieces {
                if socket.write_all(&piece).await.is_err() {
                    return;
                }
                socket.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        url
    }

    async fn call(url: &str, seen: &Mutex<Vec<String>>) -> Call {
        let streamable = Streamable::new(url);
        let message = serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call"});
        let on_message = |bytes: &[u8]| {
            seen.lock().unwrap().push(String::from_utf8_lossy(bytes).into_owned());
            None
        };
        streamable.call(message, 7, Duration::from_secs(10), Duration::from_secs(10), &on_message).await
    }

    /// A multi-byte character split across two chunks arrives whole (it once became
    /// U+FFFD, each chunk decoded on its own), and events split anywhere are found.
    #[tokio::test]
    async fn events_split_anywhere_keep_their_characters() {
        let note = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"h\u{e9}llo \u{1F600}\"}}\n\n";
        let reply = "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"text\":\"\u{fc}ber\"}}\r\n\r\n";
        let bytes = [note.as_bytes(), b": a comment\n", reply.as_bytes()].concat();
        // Cut inside the two-byte é, inside the four-byte emoji, and inside the ü.
        let cuts = [note.find('\u{e9}').unwrap() + 1, note.find('\u{1F600}').unwrap() + 2, bytes.len() - 20];
        let mut pieces = Vec::new();
        let mut from = 0;
        for cut in cuts {
            pieces.push(bytes[from..cut].to_vec());
            from = cut;
        }
        pieces.push(bytes[from..].to_vec());
        let url = serve_once(pieces).await;
        let seen = Mutex::new(Vec::new());
        let reply = call(&url, &seen).await;
        assert_eq!(reply.outcome, Outcome::Ok, "{:?}", reply.response);
        assert!(reply.response.unwrap().contains("\u{fc}ber"));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("h\u{e9}llo \u{1F600}"), "{seen:?}");
    }

    /// An event that never ends is cut at the frame cap: a clear error, not a memory
    /// that grows while the server talks.
    #[tokio::test]
    async fn an_event_past_the_frame_cap_is_refused() {
        let mut pieces = vec![b"data: \"".to_vec()];
        pieces.extend(std::iter::repeat_n(vec![b'x'; 1 << 20], 10));
        let url = serve_once(pieces).await;
        let reply = call(&url, &Mutex::new(Vec::new())).await;
        match reply.outcome {
            Outcome::Malformed(why) => assert!(why.contains("byte cap"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
