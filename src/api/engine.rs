//! The engine behind the API: the supervisor and the resource sampler, and the commands
//! every front end sends (start, stop, restart, kill, signal, request, load, clear logs,
//! shutdown, and the reads: status, snapshot, logs, events). Commands take and return
//! JSON values, so the socket and the in-process channel carry exactly the same thing.
//!
//! Long because it is the one table of engine calls, each a few lines; the typed command
//! enum of issue 19 is to replace the string dispatch and shrink it.

use super::call::Call;
use super::wire::*;
use super::{RpcError, RpcResult, build, codes};
use crate::config::Config;
use crate::config::ipc::RequestSpec;
use crate::ipc::load::{self, LoadPlan};
use crate::metrics::latency::OutcomeKind;
use crate::metrics::resources::{Resources, Sampler};
use crate::supervisor::{OpError, Options, SidecarHandle, Supervisor};
use serde_json::{Value, json};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Events a snapshot carries at most.
const SNAPSHOT_EVENTS: usize = 2000;

pub type Reply = Pin<Box<dyn Future<Output = RpcResult> + Send>>;

pub struct Engine {
    pub supervisor: Arc<Supervisor>,
    sampler: Sampler,
    pub config_path: PathBuf,
    /// Raised by a client's `shutdown`: the front end that owns the engine stops it.
    pub shutdown_asked: Arc<Notify>,
    /// Every reload's outcome, for the front ends (and the agent's output).
    reloads: tokio::sync::broadcast::Sender<(bool, String)>,
    /// Watching the `[[sidecar_dir]]` folders, when there are some.
    dir_watch: std::sync::Mutex<Option<super::watch_dirs::DirWatch>>,
    /// The traffic recording in progress (`record`), if any.
    pub(super) recording: std::sync::Mutex<Option<crate::api::record::file::Recording>>,
}

impl Engine {
    /// Starts the sidecars (as the config says) and the sampler.
    pub fn start(
        config: &Config,
        options: Options,
        sample_interval: Duration,
    ) -> std::io::Result<Arc<Engine>> {
        let supervisor = Arc::new(Supervisor::start(config, options)?);
        let sampler = Sampler::start(supervisor.pid_source(), sample_interval);
        let engine = Arc::new(Engine {
            supervisor,
            sampler,
            config_path: config.path.clone(),
            shutdown_asked: Arc::new(Notify::new()),
            reloads: tokio::sync::broadcast::channel(16).0,
            dir_watch: std::sync::Mutex::new(None),
            recording: std::sync::Mutex::new(None),
        });
        let watch = super::watch_dirs::watch(&engine, &config.sidecar_dirs)
            .map_err(|e| std::io::Error::other(format!("watching the sidecar_dir folders: {e}")))?;
        *engine.dir_watch.lock().unwrap_or_else(|e| e.into_inner()) = watch;
        Ok(engine)
    }

    /// As the `sidetop` binary runs it: the death watch, a subreaper.
    pub fn start_in_process(config: &Config, sample_interval: Duration) -> std::io::Result<Arc<Engine>> {
        Engine::start(config, Options::binary(), sample_interval)
    }

    /// Stops every sidecar as its config says (polite stop, signal, grace, kill) and
    /// returns when all have stopped: how a front end that owns the engine ends.
    pub async fn shutdown(&self) {
        self.supervisor.shutdown().await;
    }

    /// Kills every sidecar's group at once: a second signal during a long stop.
    pub async fn kill_all(&self) {
        self.supervisor.kill_all().await;
    }

    pub fn resources(&self) -> MutexGuard<'_, Resources> {
        self.sampler.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves on after every sampling round.
    pub fn samples_taken(&self) -> watch::Receiver<u64> {
        self.sampler.taken.clone()
    }

    pub fn status(&self) -> Vec<SidecarInfo> {
        self.supervisor.sidecars().iter().map(|h| build::info(h)).collect()
    }

    pub fn latency(&self, name: &str) -> Option<LatencyInfo> {
        latency_of(&*self.supervisor.get(name).ok()?)
    }

    /// Every reload's outcome from now on.
    pub fn subscribe_reloads(&self) -> tokio::sync::broadcast::Receiver<(bool, String)> {
        self.reloads.subscribe()
    }

    /// Loads the config file again and applies it (or, `dry_run`, says what it would
    /// do). An invalid file changes nothing: the error names file, line and column.
    pub async fn reload(&self, dry_run: bool) -> Result<String, String> {
        self.reload_because(dry_run, None).await
    }

    /// A reload with its cause said first (`plugins/ changed: reload: +1 started (x)`).
    pub async fn reload_because(&self, dry_run: bool, cause: Option<String>) -> Result<String, String> {
        let said = |text: String| match &cause {
            Some(cause) => format!("{cause}: {text}"),
            None => text,
        };
        let config = match Config::load(&self.config_path) {
            Ok(config) => config,
            Err(e) => {
                let text = said(format!("reload refused, nothing changed: {}", e.render()));
                tracing::warn!("{text}");
                if !dry_run {
                    let first = text.lines().next().unwrap_or_default();
                    self.supervisor.note_refused_reload(first);
                    let _ = self.reloads.send((false, text.clone()));
                }
                return Err(text);
            }
        };
        if dry_run {
            return Ok(self.supervisor.plan_reload(&config).summary());
        }
        match self.supervisor.reload(&config).await {
            Ok(plan) => {
                // A folder that changed without changing a sidecar (a plugin writing in
                // its own folder) is not worth a word.
                if cause.is_none() || !plan.changes_nothing() {
                    let _ = self.reloads.send((true, said(plan.summary())));
                }
                Ok(plan.summary())
            }
            Err(e) => {
                let text = format!("reload failed part way: {e}");
                let _ = self.reloads.send((false, text.clone()));
                Err(text)
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let sidecars = self.supervisor.sidecars();
        let events = self.all_events(SNAPSHOT_EVENTS);
        let (host, taken, interval, resources) = {
            let r = self.resources();
            // By name in one pass: a search per sidecar is a million comparisons at 1,000.
            let by_name: std::collections::HashMap<&str, usize> =
                r.names.iter().enumerate().map(|(i, n)| (&**n, i)).collect();
            let resources = sidecars
                .iter()
                .map(|s| {
                    let history = by_name.get(&*s.name).map(|&i| &r.sidecars[i]);
                    history.map_or_else(ResourceInfo::default, |h| ResourceInfo {
                        samples: h.samples.iter().copied().collect(),
                        limits: h.limits.clone(),
                    })
                })
                .collect();
            (super::sample_rounds::host(&r), r.taken, r.interval, resources)
        };
        Snapshot {
            config: self.config_path.display().to_string(),
            pid: std::process::id(),
            interval_ms: interval.as_millis() as u64,
            setups: sidecars.iter().map(|h| build::setup(&h.config)).collect(),
            sidecars: self.status(),
            events,
            host,
            taken,
            resources,
            latency: sidecars.iter().map(|h| latency_of(h)).collect(),
            traffic: sidecars
                .iter()
                .map(|h| {
                    h.ipc().map(|ipc| ipc.metrics().traffic.iter().cloned().collect()).unwrap_or_default()
                })
                .collect(),
            discovered: sidecars.iter().map(|h| discovered(h)).collect(),
        }
    }

    /// Whether a method changes anything (refused to read-only clients).
    pub fn acts(method: &str) -> bool {
        Call::from_name(method).is_some_and(Call::acts)
    }

    /// The command `method`, ready to run; `None` when there is no such command.
    pub fn command(self: &Arc<Self>, method: &str, params: Value) -> Option<Reply> {
        let engine = self.clone();
        let call = Call::from_name(method)?;
        Some(Box::pin(async move { engine.run(call, &params).await }) as Reply)
    }

    async fn run(&self, call: Call, params: &Value) -> RpcResult {
        match call {
            Call::Status => Ok(json!({"sidecars": self.status()})),
            Call::Snapshot => Ok(json!(self.snapshot())),
            Call::Latency => {
                let h = self.one(params)?;
                Ok(json!({"latency": latency_of(&h)}))
            }
            Call::Traffic => {
                let h = self.one(params)?;
                let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
                let traffic: Vec<_> = h
                    .ipc()
                    .map(|ipc| {
                        let metrics = ipc.metrics();
                        let skip = metrics.traffic.len().saturating_sub(limit);
                        metrics.traffic.iter().skip(skip).cloned().collect()
                    })
                    .unwrap_or_default();
                Ok(json!({"exchanges": traffic}))
            }
            Call::Start | Call::Stop | Call::Restart | Call::Kill => {
                let mut failed = Vec::new();
                let mut after = Vec::new();
                for h in self.named(params)? {
                    let before = h.status().pid;
                    let result = match call {
                        Call::Start => h.start().await,
                        Call::Stop => h.stop().await,
                        Call::Restart => h.restart().await,
                        _ => h.kill().await,
                    };
                    match result {
                        Err(e) => failed.push(e.to_string()),
                        Ok(()) => {
                            settle(&h, call.name(), before).await;
                            after.push(build::info(&h));
                        }
                    }
                }
                if failed.is_empty() {
                    Ok(json!({"sidecars": after}))
                } else {
                    Err((codes::FAILED, failed.join("; ")))
                }
            }
            Call::Signal => {
                let h = self.one(params)?;
                let name = params.get("signal").and_then(Value::as_str).unwrap_or("");
                let signal = crate::config::parse_signal(name).map_err(|e| (codes::INVALID_PARAMS, e))?;
                h.signal(signal).await.map(|_| json!({})).map_err(op_error)
            }
            Call::Logs => {
                let h = self.one(params)?;
                let limit = params.get("lines").and_then(Value::as_u64).unwrap_or(100) as usize;
                let stderr = params.get("stderr").and_then(Value::as_bool).unwrap_or(false);
                let total = h.logs().total_lines;
                let from = total.saturating_sub(if stderr { u64::MAX } else { limit as u64 });
                let (mut lines, _, _) = build::lines_from(&h, from, usize::MAX, stderr);
                let keep = lines.len().saturating_sub(limit);
                lines.drain(..keep);
                Ok(json!({"lines": lines, "next_seq": total}))
            }
            Call::Events => {
                let events: Vec<EventInfo> = match params.get("sidecar").and_then(Value::as_str) {
                    Some(_) => self.one(params)?.events().iter().map(build::event).collect(),
                    None => self.all_events(usize::MAX),
                };
                let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
                Ok(json!({"events": events[events.len().saturating_sub(limit)..]}))
            }
            Call::Request => {
                let h = self.one(params)?;
                let spec = request_spec(&h, params)?;
                let exchange = match h.request(&spec).await {
                    Ok(exchange) => exchange,
                    Err(e) => {
                        let (code, message) = op_error(e);
                        let why = build::explain(&h).map(|w| format!(": {w}")).unwrap_or_default();
                        return Err((code, format!("{message}{why}")));
                    }
                };
                // A sidecar that could not answer says why, in its own words.
                let context = (!exchange.outcome.is_ok()
                    && matches!(
                        exchange.outcome.kind(),
                        OutcomeKind::Exited | OutcomeKind::Transport | OutcomeKind::Timeout
                    ))
                .then(|| build::explain(&h))
                .flatten();
                Ok(json!({
                    "context": context,
                    "ok": exchange.outcome.is_ok(),
                    "outcome": exchange.outcome.to_string(),
                    "method": exchange.method,
                    "request": exchange.request,
                    "response": exchange.response,
                    "latency_us": exchange.latency.map(|l| l.as_micros() as u64),
                    "status": exchange.status,
                    "exchange": exchange,
                }))
            }
            Call::Load => {
                let h = self.one(params)?;
                let ipc =
                    h.ipc().cloned().ok_or((codes::FAILED, format!("{} has no [sidecar.ipc]", h.name)))?;
                let spec = request_spec(&h, params)?;
                let number = |key: &str| params.get(key).and_then(Value::as_u64).filter(|n| *n > 0);
                let plan = LoadPlan {
                    requests: number("requests"),
                    duration: number("duration_ms").map(Duration::from_millis),
                    concurrency: number("concurrency").unwrap_or(1).min(1024) as usize,
                };
                if plan.requests.is_none() && plan.duration.is_none() {
                    return Err((codes::INVALID_PARAMS, "say how many `requests` or for how long".into()));
                }
                let report = load::run(ipc, spec, plan).await;
                Ok(json!({
                    "report": report.render(),
                    "count": report.summary.count,
                    "failures": report.summary.outcomes.failures(),
                }))
            }
            Call::Stdin => {
                let h = self.one(params)?;
                let text = params.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
                h.write_stdin(text.into_bytes()).await.map(|_| json!({})).map_err(op_error)
            }
            Call::Reload => {
                let dry_run = params.get("dry_run").and_then(Value::as_bool).unwrap_or(false);
                match self.reload(dry_run).await {
                    Ok(summary) => Ok(json!({"summary": summary})),
                    Err(e) => Err((codes::FAILED, e)),
                }
            }
            Call::ClearLogs => {
                let h = self.one(params)?;
                h.logs().clear();
                Ok(json!({}))
            }
            Call::Record => self.record_command(params).await,
            Call::Shutdown => {
                self.shutdown_asked.notify_one();
                Ok(json!({}))
            }
        }
    }

    /// Every sidecar's events in time order, the newest `limit`.
    fn all_events(&self, limit: usize) -> Vec<EventInfo> {
        let mut all: Vec<_> = self.supervisor.sidecars().iter().flat_map(|h| h.events()).collect();
        all.sort_by_key(|e| e.at);
        all[all.len().saturating_sub(limit)..].iter().map(build::event).collect()
    }

    /// The sidecars named in `params.sidecars` (a list) or `params.sidecar`.
    pub fn named(&self, params: &Value) -> Result<Vec<Arc<SidecarHandle>>, RpcError> {
        let names: Vec<&str> = match (params.get("sidecars"), params.get("sidecar")) {
            (Some(Value::Array(list)), _) => list.iter().filter_map(Value::as_str).collect(),
            (_, Some(Value::String(one))) => vec![one.as_str()],
            _ => {
                return Err((
                    codes::INVALID_PARAMS,
                    "name a sidecar (`sidecar`) or several (`sidecars`)".into(),
                ));
            }
        };
        names.into_iter().map(|n| self.supervisor.get(n).map_err(op_error)).collect()
    }

    fn one(&self, params: &Value) -> Result<Arc<SidecarHandle>, RpcError> {
        let mut all = self.named(params)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            _ => Err((codes::INVALID_PARAMS, "name exactly one sidecar".into())),
        }
    }
}

/// How long an action's reply waits for the state it leads to.
const REPLY_STATE_WAIT: Duration = Duration::from_secs(10);

/// Waits (bounded) until the action shows: a new process (or a settled failure) after a
/// start or restart, no process after a stop or kill. The reply then says what happened.
async fn settle(h: &SidecarHandle, method: &str, before: Option<u32>) {
    use crate::supervisor::{Life, Status};
    let want = |s: &Status| match method {
        "start" | "restart" => {
            (s.state == Life::Running && s.pid != before) || matches!(s.state, Life::Failed | Life::CrashLoop)
        }
        _ => !s.state.has_process(),
    };
    let mut rx = h.watch();
    let _ = tokio::time::timeout(REPLY_STATE_WAIT, rx.wait_for(want)).await;
}

fn latency_of(h: &SidecarHandle) -> Option<LatencyInfo> {
    let ipc = h.ipc()?;
    let mut latency = build::latency(&ipc.metrics());
    if ipc.config.speaks == crate::config::ipc::Speaks::Lsp {
        latency.diagnostics = Some(ipc.diagnostics());
    }
    latency.ping_us = ipc.ping().map(|rtt| rtt.as_micros() as u64);
    Some(latency)
}

/// What an MCP or LSP server said about itself, once it did.
pub fn discovered(h: &SidecarHandle) -> Option<crate::ipc::discovery::Discovery> {
    h.ipc().filter(|ipc| *ipc.discovery_version.borrow() > 0).map(|ipc| ipc.discovery())
}

pub fn op_error(e: OpError) -> RpcError {
    let code = match e {
        OpError::UnknownSidecar(_) | OpError::UnknownTemplate { .. } => codes::UNKNOWN_SIDECAR,
        _ => codes::FAILED,
    };
    (code, e.to_string())
}

/// A request as `spec` (what the dashboard's composer built), or as the fields of
/// `sidetop request`'s flags (template, method, params, value, path, body).
fn request_spec(h: &SidecarHandle, params: &Value) -> Result<RequestSpec, RpcError> {
    if let Some(spec) = params.get("spec") {
        return serde_json::from_value(spec.clone())
            .map_err(|e| (codes::INVALID_PARAMS, format!("spec: {e}")));
    }
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
    let json_text = |key: &str| params.get(key).map(|v| v.to_string());
    let fields = crate::api::request::RequestFields {
        template: text("template"),
        method: text("method"),
        params: json_text("params"),
        value: json_text("value"),
        path: text("path"),
        body: json_text("body"),
        tool: text("tool"),
        args: json_text("args"),
        list: false,
    };
    crate::api::request::build_spec(&h.config, &fields).map_err(|e| (codes::INVALID_PARAMS, e))
}
