//! The measuring proxy: sidetop listens at a network sidecar's `listen` address and
//! forwards every connection to the sidecar's own, unchanged (hyper on both sides:
//! streamed bodies, chunked encoding, keep-alive, upgrades, HTTP/2 with trailers), and
//! every exchange the application makes is measured like sidetop's own (origin
//! `application`).
//!
//! Each application connection gets its own connection to the sidecar, opened at its
//! first request and closed with it, so a client that hangs up mid-request closes the
//! sidecar's side too (its request is cancelled), and keep-alive means the same on both.
//! While the sidecar is down, requests wait for it up to the IPC `timeout`, then get a
//! `503` (gRPC: `UNAVAILABLE`) saying why.

mod down;
pub mod gate;
mod observe;
pub mod route;
mod tunnel;

use crate::config::listen::{Listen, ProxyKind};
use crate::ipc::Ipc;
use bytes::Bytes;
use gate::Gate;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use observe::{End, Observed, Observer, Seen};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What goes back to the application: the sidecar's own body, observed, or sidetop's
/// word when the sidecar could not be reached.
pub type ProxyBody = Either<Observed<Incoming>, Full<Bytes>>;

/// The proxy of one sidecar, listening. Dropping it closes the listener and every
/// connection through it.
pub struct Proxy {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What every connection of one proxy shares. A request waits for the sidecar to be up
/// (and for its port to accept) for at most its IPC `timeout`.
struct Shared {
    upstream: String,
    kind: ProxyKind,
    gate: Gate,
    observer: Observer,
    ipc: Arc<Ipc>,
}

impl Proxy {
    /// Binds `listen.addr` now (so a taken port is an error the caller shows) and serves.
    pub fn start(listen: &Listen, ipc: Arc<Ipc>, gate: Gate) -> std::io::Result<Proxy> {
        let std_listener = std::net::TcpListener::bind(listen.addr)?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let (observer, observing) = Observer::start(ipc.clone());
        let shared =
            Arc::new(Shared { upstream: listen.upstream.clone(), kind: listen.kind, gate, observer, ipc });
        let accepting = tokio::spawn(accept(listener, shared));
        Ok(Proxy { tasks: vec![accepting, observing] })
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, shared.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    tracing::warn!("{}: proxy accept: {e}", shared.ipc.name);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One application connection, and the sidecar connection that goes with it.
struct Link {
    shared: Arc<Shared>,
    upstream: tokio::sync::Mutex<Option<Upstream>>,
}

enum Upstream {
    H1(http1::SendRequest<Incoming>, JoinHandle<()>),
    H2(http2::SendRequest<Incoming>, JoinHandle<()>),
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // The application's connection is gone: so is the sidecar's, and with it any
        // request still running there.
        match self {
            Upstream::H1(_, task) | Upstream::H2(_, task) => task.abort(),
        }
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let link = Arc::new(Link { shared: shared.clone(), upstream: tokio::sync::Mutex::new(None) });
    let service = hyper::service::service_fn(move |req| {
        let link = link.clone();
        async move { Ok::<_, Infallible>(link.forward(req).await) }
    });
    let io = TokioIo::new(stream);
    // gRPC is HTTP/2 with prior knowledge; the rest HTTP/1.1 (with upgrades), each served
    // by its own hyper builder rather than one that sniffs every connection's preface.
    let done = if shared.kind == ProxyKind::Grpc {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service).await
    } else {
        // Header names go on as the application and the sidecar wrote them (`Server`, not
        // `server`): some clients and servers compare them byte for byte.
        hyper::server::conn::http1::Builder::new()
            .preserve_header_case(true)
            .serve_connection(io, service)
            .with_upgrades()
            .await
    };
    if let Err(e) = done {
        tracing::debug!("{}: proxy connection: {e}", shared.ipc.name);
    }
}

impl Link {
    async fn forward(&self, mut req: Request<Incoming>) -> Response<ProxyBody> {
        let shared = &self.shared;
        let grpc = shared.kind == ProxyKind::Grpc;
        let mut seen = Seen {
            method: req.method().clone(),
            uri: req.uri().clone(),
            started: Instant::now(),
            when: SystemTime::now(),
            status: None,
            bytes: 0,
            grpc,
            grpc_status: None,
            bodiless: http_body::Body::is_end_stream(req.body()),
        };
        if let Err(why) = shared.gate.wait_up(shared.ipc.config.timeout).await {
            return self.refuse(seen, why);
        }
        let upgrade = req.headers().contains_key(http::header::UPGRADE);
        let downstream_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let sent = match self.send(req).await {
            Ok(resp) => resp,
            Err(e) => {
                let why = format!("could not reach {} at {}: {e}", shared.ipc.name, shared.upstream);
                seen.status = Some(502);
                shared.observer.finish(seen, End::Failed(why.clone()));
                return down::bad_gateway(&why, grpc);
            }
        };
        let mut resp = sent;
        seen.status = Some(resp.status().as_u16());
        if grpc {
            seen.grpc_status = observe::grpc_status(resp.headers());
        }
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(downstream) = downstream_upgrade
        {
            // The sidecar connection now belongs to the tunnel.
            let upstream_side = hyper::upgrade::on(&mut resp);
            let held = self.upstream.lock().await.take();
            tokio::spawn(tunnel::run(downstream, upstream_side, shared.ipc.clone(), shared.kind, held));
        }
        resp.map(|body| Either::Left(Observed::new(body, seen, shared.observer.clone())))
    }

    /// Sends on this link's sidecar connection, (re)opening it when it is closed.
    async fn send(&self, mut req: Request<Incoming>) -> Result<Response<Incoming>, String> {
        let mut upstream = self.upstream.lock().await;
        if let Some(open) = upstream.as_mut() {
            let ready = match open {
                Upstream::H1(s, _) => s.ready().await.is_ok(),
                Upstream::H2(s, _) => s.ready().await.is_ok(),
            };
            if !ready {
                *upstream = None;
            }
        }
        if upstream.is_none() {
            *upstream = Some(self.connect().await?);
        }
        match upstream.as_mut().expect("just opened") {
            Upstream::H1(sender, _) => {
                if req.version() != Version::HTTP_11 && req.version() != Version::HTTP_10 {
                    *req.version_mut() = Version::HTTP_11;
                }
                sender.send_request(req).await.map_err(|e| e.to_string())
            }
            Upstream::H2(sender, _) => {
                let call = sender.send_request(req);
                // HTTP/2 multiplexes: other requests of this link need not wait for this one.
                drop(upstream);
                call.await.map_err(|e| e.to_string())
            }
        }
    }

    /// A connection to the sidecar; retried while it is up but not yet accepting (just
    /// started, its port not bound yet), up to the wait bound.
    async fn connect(&self) -> Result<Upstream, String> {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.ipc.config.timeout;
        let stream = loop {
            match TcpStream::connect(&shared.upstream).await {
                Ok(stream) => break stream,
                Err(e) if Instant::now() < deadline && shared.gate.is_up() => {
                    tracing::trace!("{}: proxy connect: {e}", shared.ipc.name);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let name = shared.ipc.name.clone();
        if shared.kind == ProxyKind::Grpc {
            let (sender, conn) =
                http2::Builder::new(TokioExecutor::new()).handshake(io).await.map_err(|e| e.to_string())?;
            let task = tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("{name}: proxy upstream: {e}");
                }
            });
            Ok(Upstream::H2(sender, task))
        } else {
            let (sender, conn) = http1::Builder::new()
                .preserve_header_case(true)
                .handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            let task = tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!("{name}: proxy upstream: {e}");
                }
            });
            Ok(Upstream::H1(sender, task))
        }
    }

    fn refuse(&self, mut seen: Seen, why: String) -> Response<ProxyBody> {
        let shared = &self.shared;
        let text = format!("sidetop: {} is not available: {why}\n", shared.ipc.name);
        seen.status = Some(if seen.grpc { 200 } else { 503 });
        shared.observer.finish(seen, End::Down(why));
        down::unavailable(&text, shared.kind == ProxyKind::Grpc)
    }
}
