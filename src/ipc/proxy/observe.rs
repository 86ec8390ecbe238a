//! Watching exchanges go by without slowing them: a response body that counts its bytes
//! and reads gRPC's trailers as they pass, and hands one small record to the observer task
//! when it ends (or is dropped mid-way). The observer, not the forwarding path, builds
//! the exchange and records it, so a stalled dashboard never slows a request.

use super::route;
use crate::config::ipc::RequestSpec;
use crate::ipc::Ipc;
use crate::ipc::protocol::{Exchange, Origin, Outcome};
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;

/// Records waiting for the observer, at most; past it they are dropped (and counted), not
/// waited for.
pub const OBSERVER_QUEUE: usize = 4096;

/// What the forwarding path knows of one exchange when it ends.
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub started: Instant,
    pub when: SystemTime,
    pub status: Option<u16>,
    pub bytes: u64,
    /// A gRPC call: measured per `/pkg.Service/Method`, its outcome from `grpc-status`.
    pub grpc: bool,
    pub grpc_status: Option<GrpcStatus>,
    /// The request had no body: it can be kept whole for replay and the traffic tab's
    /// edit-and-resend.
    pub bodiless: bool,
}

pub enum End {
    Complete,
    /// The application went away before the response was whole.
    HungUp,
    Failed(String),
    /// Not forwarded: the sidecar was down (the reason went back in a 503).
    Down(String),
}

pub struct GrpcStatus {
    pub code: i64,
    pub message: String,
}

/// An exchange as it ended, for the observer.
struct Ended {
    seen: Seen,
    end: End,
    at: Instant,
}

#[derive(Clone)]
pub struct Observer {
    tx: mpsc::Sender<Ended>,
    dropped: Arc<AtomicU64>,
}

impl Observer {
    /// The observer task, recording into `ipc` until every sender is gone.
    pub fn start(ipc: Arc<Ipc>) -> (Observer, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Ended>(OBSERVER_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        let task = tokio::spawn(async move {
            while let Some(ended) = rx.recv().await {
                ipc.record(&Arc::new(exchange(&ipc, ended)));
                let lost = lost.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    tracing::warn!(
                        "{}: {lost} exchanges through the proxy not recorded: its observer fell behind",
                        ipc.name
                    );
                }
            }
        });
        (Observer { tx, dropped }, task)
    }

    /// `seen` ended, now, as `end`; never waits (a full queue drops it, counted).
    pub fn finish(&self, seen: Seen, end: End) {
        if self.tx.try_send(Ended { seen, end, at: Instant::now() }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn exchange(ipc: &Ipc, Ended { seen, end, at }: Ended) -> Exchange {
    let path = seen.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = match seen.grpc {
        true => seen.uri.path().to_string(),
        false => route::template(seen.method.as_str(), seen.uri.path()),
    };
    let outcome = match (&end, seen.status) {
        (End::Down(why), _) => Outcome::Exited(format!("not forwarded: {why}")),
        (End::HungUp, _) => Outcome::Transport("the application hung up before the response ended".into()),
        (End::Failed(e), _) => Outcome::Transport(e.clone()),
        (End::Complete, Some(status)) if status >= 400 => Outcome::HttpStatus(status),
        (End::Complete, _) if seen.grpc => match &seen.grpc_status {
            Some(g) if g.code == 0 => Outcome::Ok,
            Some(g) => Outcome::RpcError { code: g.code, message: g.message.clone() },
            None => Outcome::Malformed("the call ended without a grpc-status".into()),
        },
        (End::Complete, _) => Outcome::Ok,
    };
    let response = match seen.status {
        Some(status) => format!("{status} · {} bytes", seen.bytes),
        None => String::new(),
    };
    Exchange {
        sidecar: ipc.name.clone(),
        at: seen.when,
        method,
        origin: Origin::Application,
        request: Some(format!("{} {path}", seen.method)),
        response: Some(response),
        latency: Some(at.saturating_duration_since(seen.started)),
        outcome,
        status: seen.status,
        spec: (seen.bodiless && !seen.grpc).then(|| RequestSpec::Http {
            method: seen.method.to_string(),
            path: path.to_string(),
            body: None,
        }),
    }
}

/// A body passed through, observed.
pub struct Observed<B> {
    inner: B,
    seen: Option<Seen>,
    observer: Observer,
}

impl<B: Body> Observed<B> {
    /// A body that is empty from the start may never be polled: it is whole now.
    pub fn new(inner: B, seen: Seen, observer: Observer) -> Self {
        let empty = inner.is_end_stream();
        let mut body = Observed { inner, seen: Some(seen), observer };
        if empty {
            body.finish(End::Complete);
        }
        body
    }
}

impl<B> Observed<B> {
    fn finish(&mut self, end: End) {
        if let Some(seen) = self.seen.take() {
            self.observer.finish(seen, end);
        }
    }
}

/// `grpc-status` and `grpc-message` from trailers (or a trailers-only response's headers).
pub fn grpc_status(headers: &HeaderMap) -> Option<GrpcStatus> {
    let code = headers.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let message =
        headers.get("grpc-message").and_then(|m| m.to_str().ok()).map(percent_decode).unwrap_or_default();
    Some(GrpcStatus { code, message })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<B> Body for Observed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(seen) = this.seen.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        seen.bytes += data.len() as u64;
                    } else if seen.grpc
                        && let Some(trailers) = frame.trailers_ref()
                    {
                        seen.grpc_status = grpc_status(trailers).or(seen.grpc_status.take());
                    }
                }
            }
            Some(Err(e)) => this.finish(End::Failed(format!("the sidecar's response broke off: {e}"))),
            None => this.finish(End::Complete),
        }
        if polled.is_some() && this.inner.is_end_stream() {
            this.finish(End::Complete);
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        self.finish(End::HungUp);
    }
}
