//! Many engines behind one [`Link`], for a dashboard over all of them (`attach --all`):
//! each engine's sidecars appear as `ENGINE/NAME`; a call about a sidecar goes to its own
//! engine under its own name; a snapshot or status is every engine's, merged; each
//! engine's notices come through renamed. The dashboard does not know it is more than one.

mod reconnect;
mod relay;
mod rename;
mod single;

pub use single::{joined_text, one_reconnecting};

use super::link::{Call, Caller, Link};
use super::wire::{Notice, SidecarInfo, Snapshot};
use super::{RpcResult, codes};
use rename::{merge, named_info, rename_reply, renamed_snapshot};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Between an engine's name and its sidecar's.
pub const SEPARATOR: char = '/';

/// Notices queued for the dashboard, at most, before an engine's reader waits.
const AHEAD: usize = 1024;

/// How long a lost engine's sidecars stay on screen, marked lost, through new snapshots
/// (an engine joining, a reload): long enough to see what was there and when it went.
const LOST_KEPT: std::time::Duration = std::time::Duration::from_secs(300);

/// How long an engine that joins has to give its snapshot.
const JOIN_SNAPSHOT: std::time::Duration = std::time::Duration::from_secs(5);

/// The fleet behind a combined link: engines join it (and rejoin after they were lost)
/// while the dashboard runs.
#[derive(Clone)]
pub struct Fleet(Arc<Inner>);

struct Inner {
    members: Mutex<Vec<Member>>,
    notices: mpsc::Sender<Notice>,
    /// Sample rounds relayed (each engine counts its own; the dashboard skips a round it
    /// has already seen, so the fleet counts them again).
    rounds: AtomicU64,
    /// What the dashboard subscribed to, for an engine that joins later.
    subscription: Mutex<Option<Value>>,
    /// One engine under its own names, every call passed through (see [`single`]).
    bare: bool,
    /// A bare fleet's engine was asked to shut down: once it is gone, so is the fleet.
    stopping: std::sync::atomic::AtomicBool,
    /// Ends a bare fleet's link (its dashboard sees the engine gone).
    end: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

struct Member {
    name: String,
    caller: Caller,
    live: bool,
    /// Its newest status, kept whole from the partial notices.
    status: Vec<SidecarInfo>,
    /// Its part of the last snapshot (renamed), shown for it while it is lost.
    last: Option<Snapshot>,
    /// When it stopped answering.
    lost_at: Option<std::time::Instant>,
    /// Its sidecars' newest samples (renamed), to make a partial round whole.
    samples: std::collections::HashMap<String, crate::metrics::resources::Sample>,
}

/// One link over `engines` (name, link), in that order, and the fleet to add more to.
pub fn combine(engines: Vec<(String, Link)>) -> (Link, Fleet) {
    let names: Vec<String> = engines.iter().map(|(n, _)| n.clone()).collect();
    let hello = json!({
        "engines": names,
        "pid": engines.first().map_or(Value::Null, |(_, l)| l.hello["pid"].clone()),
        "config": format!("{} engines", engines.len()),
        "read_only": engines.iter().any(|(_, l)| l.hello["read_only"] == true),
    });
    let (caller, calls) = Caller::new();
    let (notices_tx, notices) = mpsc::channel(AHEAD);
    let fleet = Fleet::new(notices_tx, false, None);
    for (name, link) in engines {
        fleet.join(name, link);
    }
    tokio::spawn(route(calls, fleet.clone()));
    (Link { caller, notices, hello, received: Arc::new(AtomicU64::new(0)) }, fleet)
}

impl Fleet {
    fn new(
        notices: mpsc::Sender<Notice>,
        bare: bool,
        end: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Fleet {
        Fleet(Arc::new(Inner {
            members: Mutex::new(Vec::new()),
            notices,
            rounds: AtomicU64::new(0),
            subscription: Mutex::new(None),
            bare,
            stopping: Default::default(),
            end: Mutex::new(end),
        }))
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        self.0.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engines that answer now, in order.
    fn callers(&self) -> Vec<(String, Caller)> {
        self.members().iter().filter(|m| m.live).map(|m| (m.name.clone(), m.caller.clone())).collect()
    }

    /// Whether an engine of that name is in the fleet and answering.
    pub fn is_live(&self, name: &str) -> bool {
        self.members().iter().any(|m| m.name == name && m.live)
    }

    fn join(&self, name: String, link: Link) {
        self.enlist(&name, link.caller.clone());
        tokio::spawn(relay::relay(name, link, self.clone()));
    }

    /// `name` in the fleet and answering through `caller`: new, or back.
    fn enlist(&self, name: &str, caller: Caller) {
        let mut members = self.members();
        match members.iter_mut().find(|m| m.name == name) {
            Some(member) => {
                member.caller = caller;
                member.live = true;
                member.lost_at = None;
                member.samples.clear();
            }
            None => members.push(Member {
                name: name.to_string(),
                caller,
                live: true,
                status: Vec::new(),
                last: None,
                lost_at: None,
                samples: Default::default(),
            }),
        }
    }

    /// The last snapshot part of each engine lost a short while ago, its sidecars marked
    /// lost: a new snapshot shows them still.
    fn lately_lost(&self) -> Vec<Snapshot> {
        self.members()
            .iter()
            .filter(|m| !m.live && m.lost_at.is_some_and(|at| at.elapsed() < LOST_KEPT))
            .filter_map(|m| m.last.clone())
            .collect()
    }

    fn remember(&self, engine: &str, part: &Snapshot) {
        if let Some(member) = self.members().iter_mut().find(|m| m.name == engine) {
            member.last = Some(part.clone());
        }
    }

    /// An engine that appeared (or came back) while the dashboard runs: subscribed as the
    /// dashboard is, and its snapshot alone merged into the dashboard's (the others'
    /// are not taken again: at 20 engines a join cost every one of them a snapshot).
    pub async fn add(&self, name: String, link: Link) {
        let subscription = self.0.subscription.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(params) = subscription {
            let _ = link.caller.call("subscribe", params).await;
        }
        let part = tokio::time::timeout(JOIN_SNAPSHOT, link.caller.call("snapshot", json!({}))).await;
        let part = part.ok().and_then(Result::ok).and_then(|v| serde_json::from_value::<Snapshot>(v).ok());
        self.enlist(&name, link.caller.clone());
        let notice = match part {
            Some(part) => {
                let part = renamed_snapshot(&name, part);
                self.remember(&name, &part);
                if let Some(member) = self.members().iter_mut().find(|m| m.name == name) {
                    member.status = part.sidecars.clone();
                }
                Notice::Joined { engine: name.clone(), config: self.configs(), snapshot: Box::new(part) }
            }
            // No snapshot of its own: the dashboard takes a whole one.
            None => Notice::Reloaded { ok: true, text: single::joined_text(&name) },
        };
        // Before its relay starts: what it says next applies to the part.
        let _ = self.0.notices.send(notice).await;
        tokio::spawn(relay::relay(name, link, self.clone()));
    }

    /// The header's config: each engine's shown (answering, or lost a short while ago).
    fn configs(&self) -> String {
        let members = self.members();
        let shown = members.iter().filter(|m| m.live || m.lost_at.is_some_and(|at| at.elapsed() < LOST_KEPT));
        shown.filter_map(|m| m.last.as_ref().map(|s| s.config.as_str())).collect::<Vec<_>>().join(", ")
    }
}

/// `ENGINE/NAME`; a bare fleet's engine (named "") keeps its own names.
pub fn qualified(engine: &str, name: &str) -> String {
    if engine.is_empty() { name.to_string() } else { format!("{engine}{SEPARATOR}{name}") }
}

impl Fleet {
    /// `ENGINE/NAME` as (engine, name); in a bare fleet a plain name is its engine's.
    fn split<'a>(&self, qualified: &'a str) -> Option<(&'a str, &'a str)> {
        qualified.split_once(SEPARATOR).or(self.0.bare.then_some(("", qualified)))
    }
}

// ---- calls ----

async fn route(mut calls: mpsc::UnboundedReceiver<Call>, fleet: Fleet) {
    while let Some(call) = calls.recv().await {
        if call.method == "subscribe" {
            *fleet.0.subscription.lock().unwrap_or_else(|e| e.into_inner()) = Some(call.params.clone());
        }
        let engines = fleet.callers();
        // Sent now, in order, to the engines; the replies are awaited apart.
        let pending = dispatch(&fleet, &engines, call.method.clone(), call.params);
        tokio::spawn(async move {
            let _ = call.reply.send(pending.await);
        });
    }
}

type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = RpcResult> + Send>>;

fn refused(why: &str) -> Pending {
    let why = why.to_string();
    Box::pin(async move { Err((codes::INVALID_PARAMS, why)) })
}

fn dispatch(fleet: &Fleet, engines: &[(String, Caller)], method: String, mut params: Value) -> Pending {
    if let Some(qualified_name) = params["sidecar"].as_str().map(str::to_string) {
        let Some((engine, name)) = fleet.split(&qualified_name) else {
            return refused(&format!("{qualified_name:?} is not ENGINE{SEPARATOR}NAME"));
        };
        let Some((engine, caller)) = engines.iter().find(|(e, _)| e == engine) else {
            return refused(&format!("no engine named {engine:?}"));
        };
        params["sidecar"] = json!(name);
        let reply = caller.call(&method, params);
        let engine = engine.clone();
        return Box::pin(async move {
            reply.await.map(|mut r| {
                rename_reply(&engine, &mut r);
                r
            })
        });
    }
    match method.as_str() {
        "snapshot" => {
            let replies = ask_all(engines, "snapshot", &params);
            let (fleet, lost) = (fleet.clone(), fleet.lately_lost());
            Box::pin(async move {
                let mut merged: Option<Snapshot> = None;
                let mut parts = Vec::new();
                for (engine, reply) in replies {
                    let Ok(snapshot) =
                        reply.await.and_then(|v| serde_json::from_value::<Snapshot>(v).map_err(bad))
                    else {
                        continue;
                    };
                    let snapshot = renamed_snapshot(&engine, snapshot);
                    fleet.remember(&engine, &snapshot);
                    parts.push(snapshot);
                }
                for snapshot in parts.into_iter().chain(lost) {
                    merged = Some(match merged {
                        None => snapshot,
                        Some(so_far) => merge(so_far, snapshot),
                    });
                }
                let mut merged = merged.unwrap_or_default();
                merged.taken = 0;
                serde_json::to_value(merged).map_err(bad)
            })
        }
        "status" => {
            let replies = ask_all(engines, "status", &params);
            let lost: Vec<SidecarInfo> = fleet.lately_lost().into_iter().flat_map(|s| s.sidecars).collect();
            Box::pin(async move {
                let mut sidecars = Vec::new();
                for (engine, reply) in replies {
                    let Ok(value) = reply.await else { continue };
                    let list: Vec<SidecarInfo> =
                        serde_json::from_value(value["sidecars"].clone()).unwrap_or_default();
                    sidecars.extend(list.into_iter().map(|s| named_info(&engine, s)));
                }
                sidecars.extend(lost);
                Ok(json!({"sidecars": sidecars}))
            })
        }
        "follow_logs" => {
            // {"sidecars": {"ENGINE/NAME": seq}}: each engine its own.
            let mut per_engine: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
            if let Some(map) = params["sidecars"].as_object() {
                for (qualified_name, seq) in map {
                    if let Some((engine, name)) = fleet.split(qualified_name) {
                        per_engine
                            .entry(engine.to_string())
                            .or_default()
                            .insert(name.to_string(), seq.clone());
                    }
                }
            }
            let replies: Vec<_> = engines
                .iter()
                .filter_map(|(e, c)| {
                    per_engine.remove(e).map(|m| c.call("follow_logs", json!({"sidecars": m})))
                })
                .collect();
            Box::pin(async move {
                for reply in replies {
                    reply.await?;
                }
                Ok(json!({}))
            })
        }
        "subscribe" => {
            let replies = ask_all(engines, "subscribe", &params);
            Box::pin(async move {
                let mut last = Ok(json!({}));
                for (_, reply) in replies {
                    last = reply.await;
                }
                last
            })
        }
        _ if fleet.0.bare => single::passed_through(fleet, engines, method, params),
        _ => refused(&format!(
            "`{method}` is for one engine: attach to it alone (sidetop attach --socket ...) to do that"
        )),
    }
}

/// The same call to every engine, sent now; each reply with its engine.
fn ask_all(
    engines: &[(String, Caller)],
    method: &str,
    params: &Value,
) -> Vec<(String, impl std::future::Future<Output = RpcResult> + Send + 'static)> {
    engines.iter().map(|(e, c)| (e.clone(), c.call(method, params.clone()))).collect()
}

fn bad(e: serde_json::Error) -> super::RpcError {
    (codes::FAILED, e.to_string())
}
