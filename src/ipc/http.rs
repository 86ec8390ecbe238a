//! HTTP sidecars: requests with a method, path and JSON body against the configured
//! base URL; a non-2xx status is an error outcome.

use super::framing::MAX_FRAME;
use super::protocol::{Outcome, cap_text};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Response headers worth showing with the body.
const NOTABLE_HEADERS: [&str; 3] = ["content-type", "content-length", "server"];

pub struct HttpClient {
    client: reqwest::Client,
    base: String,
}

pub struct HttpCall {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub response: Option<String>,
    pub latency: Option<Duration>,
}

impl HttpClient {
    pub fn new(base: &str) -> HttpClient {
        let client = reqwest::Client::builder()
            // Sidecars are local; an operator's HTTP_PROXY must not reroute them.
            .no_proxy()
            .build()
            .expect("an HTTP client without TLS always builds");
        HttpClient { client, base: base.to_string() }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> HttpCall {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.client.request(method, format!("{}{path}", self.base)).timeout(timeout);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let start = Instant::now();
        let fail = |e: reqwest::Error| HttpCall {
            outcome: if e.is_timeout() {
                Outcome::Timeout(timeout)
            } else {
                Outcome::Transport(error_chain(&e))
            },
            status: None,
            response: None,
            latency: None,
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let status = response.status();
        let mut text = format!("HTTP {}\n", status);
        for name in NOTABLE_HEADERS {
            if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
                text.push_str(&format!("{name}: {value}\n"));
            }
        }
        // Read no more than a frame's cap: a sidecar answering with an endless body must
        // not grow sidetop's memory.
        let mut response = response;
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_FRAME => {
                    return HttpCall {
                        outcome: Outcome::Malformed(format!(
                            "response body exceeds the {MAX_FRAME} byte cap"
                        )),
                        status: Some(status.as_u16()),
                        response: Some(cap_text(text)),
                        latency: Some(start.elapsed()),
                    };
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return fail(e),
            }
        }
        let latency = start.elapsed();
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&body));
        HttpCall {
            outcome: if status.is_success() { Outcome::Ok } else { Outcome::HttpStatus(status.as_u16()) },
            status: Some(status.as_u16()),
            response: Some(cap_text(text)),
            latency: Some(latency),
        }
    }
}

/// reqwest's top-level message is vague ("error sending request"); the cause says why.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
