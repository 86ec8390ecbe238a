//! sidetop's own requests over pipes that are not sidetop's: a wrapped child's, which
//! the application owns. The wrapper puts each request between two of the application's
//! frames, under an id of the form `sidetop-N` (the application's ids are its own
//! numbers and strings), and keeps the reply from the application; the exchange is
//! recorded here like any other, with the origin asked for (operator, load, health).

use super::Ipc;
use super::protocol::{Incoming, Outcome, classify, rpc_message};
use super::rpc::Call;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The prefix of every id sidetop gives its own requests on someone else's pipes.
pub const OWN_ID_PREFIX: &str = "sidetop-";

/// Why a wrapped json-lines sidecar takes no requests of sidetop's.
pub const JSON_LINES_WHY: &str = "json-lines sidecars answer in order, so a wrapper cannot add requests \
     of its own among the application's (wrap with --protocol jsonrpc, mcp or lsp for that)";

/// A reply taken out of the child's output for sidetop.
pub struct Claimed {
    pub message: Value,
    /// The frame's body as the child wrote it.
    pub text: String,
    pub at: Instant,
}

pub type InjectFuture<'a> = Pin<Box<dyn Future<Output = Result<(Claimed, Instant), Outcome>> + Send + 'a>>;

/// Writes a request into a stream the application owns and waits for its reply.
pub trait Injector: Send + Sync {
    /// `message` carries `id` already; resolves to the reply and when the request was
    /// written (latency is counted from there, not from a wait for a frame boundary).
    fn call(&self, message: Value, id: String, timeout: Duration) -> InjectFuture<'_>;
}

impl Ipc {
    /// Requests to this sidecar go through `injector` (a wrapper's pipes), as long as it
    /// lives.
    pub fn inject_through(&self, injector: Weak<dyn Injector>) {
        *self.injector.lock().unwrap_or_else(|e| e.into_inner()) = Some(injector);
    }

    pub(super) fn injector(&self) -> Option<Arc<dyn Injector>> {
        self.injector.lock().unwrap_or_else(|e| e.into_inner()).as_ref()?.upgrade()
    }

    pub(super) async fn call_injected(
        &self,
        injector: &dyn Injector,
        method: &str,
        params: Option<&Value>,
        timeout: Duration,
    ) -> Call {
        let mut message = rpc_message(None, method, params);
        let id = format!("{OWN_ID_PREFIX}{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        message["id"] = Value::from(id.as_str());
        let request = message.to_string();
        let fail = |outcome| Call { request: request.clone(), outcome, response: None, latency: None };
        match injector.call(message, id, timeout).await {
            Err(outcome) => fail(outcome),
            Ok((reply, written)) => {
                let outcome = match classify(&reply.message) {
                    Incoming::Response { result: Err((code, message)), .. } => {
                        Outcome::RpcError { code, message }
                    }
                    Incoming::Response { .. } => Outcome::Ok,
                    _ => Outcome::Malformed("not a JSON-RPC reply".into()),
                };
                Call {
                    request,
                    outcome,
                    response: Some(reply.text),
                    latency: Some(reply.at.saturating_duration_since(written)),
                }
            }
        }
    }
}
