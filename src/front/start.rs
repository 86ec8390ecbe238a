//! The one start path of every front end that runs the engine in this process (the
//! dashboard, headless and agent, wrap): the metrics port bound before any sidecar starts
//! (a port that is taken is an error up front), the engine, the recording, `/metrics`,
//! the control socket; and the end, in the reverse order, the recording written out
//! before the process goes. `request` and `replay` start only the sidecars they need
//! (`start_only`) and wait for one to be ready (`wait_ready`).

use crate::api::engine::Engine;
use crate::api::link::Link;
use crate::api::{Life, Notice, SidecarInfo};
use crate::config::Config;
use crate::front::exporter::{self, Exporter};
use crate::server::{Server, ServerOptions};
use crate::supervisor::Options;
use serde_json::json;
use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct Start {
    pub engine: Options,
    pub sample_interval: Duration,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
    /// Record every exchange here (`--record`).
    pub record: Option<PathBuf>,
    pub socket: Option<Socket>,
}

/// The control socket to serve.
pub struct Socket {
    pub path: PathBuf,
    pub options: ServerOptions,
    /// Not serving it is an error (an agent, whose socket is its point); otherwise a
    /// note for the operator, and the front end runs on.
    pub required: bool,
}

/// What a start brought up; `finish` takes it down.
pub struct Started {
    pub engine: Arc<Engine>,
    exporter: Option<Exporter>,
    server: Option<Server>,
    /// Why the control socket is not served, when it is not and need not be.
    pub socket_note: Option<String>,
}

pub async fn start(config: &Config, start: Start) -> io::Result<Started> {
    let metrics = match start.metrics {
        Some(addr) => Some(exporter::bind(addr).await?),
        None => None,
    };
    let engine = Engine::start(config, start.engine, start.sample_interval)?;
    if let Some(path) = &start.record {
        let said = engine
            .record(path, None, crate::api::record::file::DEFAULT_MAX_BYTES)
            .await
            .map_err(|(_, e)| io::Error::other(e))?;
        tracing::info!("{said}");
    }
    let exporter = metrics.map(|listener| exporter::serve(listener, engine.clone())).transpose()?;
    let (server, socket_note) = match start.socket {
        None => (None, None),
        Some(socket) => match crate::server::serve(engine.clone(), &socket.path, socket.options) {
            Ok(server) => (Some(server), None),
            Err(e) if socket.required => {
                engine.shutdown().await;
                return Err(e);
            }
            Err(e) => (None, Some(format!("control socket not served at {}: {e}", socket.path.display()))),
        },
    };
    Ok(Started { engine, exporter, server, socket_note })
}

impl Started {
    /// The recording written out, the socket and `/metrics` closed. The sidecars are the
    /// front end's to stop first (each ends its own way).
    pub async fn finish(self) {
        if let Some(said) = self.engine.stop_recording().await {
            tracing::info!("{said}");
        }
        drop(self.server);
        drop(self.exporter);
    }
}

/// The signals that end a front end, listened to before anything starts: from then on a
/// signal stops the sidecars (and restores the terminal), never the default action.
pub struct Signals {
    pub term: Signal,
    pub hup: Signal,
    pub int: Signal,
}

impl Signals {
    pub fn new() -> io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Any of them.
    pub async fn any(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// An engine running `names` and what they depend on (nothing else), and a link to it.
pub fn start_only<'a>(
    config: &Config,
    names: impl IntoIterator<Item = &'a str>,
) -> std::io::Result<(std::sync::Arc<Engine>, Link)> {
    let mut config = config.clone();
    let wanted: BTreeSet<String> = names.into_iter().flat_map(|n| needed(&config, n)).collect();
    for s in &mut config.sidecars {
        s.autostart = wanted.contains(&s.name);
    }
    let engine = Engine::start_in_process(&config, Duration::from_secs(1))?;
    let link = crate::api::local::connect(engine.clone());
    Ok((engine, link))
}

/// The sidecar `name` and everything it depends on, to start.
fn needed(config: &Config, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        if out.insert(n.clone())
            && let Some(s) = config.sidecar(&n)
        {
            todo.extend(s.depends_on.iter().cloned());
        }
    }
    out
}

/// Waits for the sidecar to be ready, or for a state it will not leave by itself.
pub async fn wait_ready(link: &mut Link, name: &str, timeout: Duration) -> Result<(), String> {
    let fail = |(_, e): (i64, String)| e;
    link.caller.call("subscribe", json!({"status": true})).await.map_err(fail)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = SidecarInfo::default();
    loop {
        let settled = matches!(last.life, Life::Failed | Life::CrashLoop | Life::Exited | Life::Stopped);
        if (last.life == Life::Running && last.state == "ready") || settled {
            break;
        }
        match tokio::time::timeout_at(deadline, link.notices.recv()).await {
            Ok(Some(Notice::Status { sidecars, .. })) => {
                if let Some(info) = sidecars.into_iter().find(|s| s.name == name) {
                    last = info;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the engine stopped".into()),
            Err(_) => break,
        }
    }
    let events = link.caller.call("events", json!({"sidecar": name, "limit": 1})).await.map_err(fail)?;
    let last_event = events["events"][0]["text"].as_str().unwrap_or_default().to_string();
    match last.life {
        Life::Running if last.state == "ready" => Ok(()),
        Life::Failed | Life::CrashLoop | Life::Exited | Life::Stopped => {
            Err(if last_event.is_empty() { last.state } else { last_event })
        }
        _ => Err(format!("still {} after {}s (last event: {last_event})", last.state, timeout.as_secs())),
    }
}
