//! Carrying out what `update` asked for, through the engine API: each effect in its own
//! task, so the loop never waits on a sidecar; results come back as messages.

use super::msg::{Effect, Msg};
use super::state::State;
use crate::api::SidecarInfo;
use crate::api::link::Caller;
use crate::ipc::protocol::Exchange;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Effects the run loop handles itself (they end or change the loop) are not here:
/// `Shutdown`, `Detach` and `ForceQuit`.
pub fn carry_out(effect: Effect, state: &State, caller: &Caller, tx: &mpsc::UnboundedSender<Msg>) {
    let name = |i: usize| state.sidecars().get(i).map(|s| s.name().to_string());
    let tx = tx.clone();
    let say = move |tx: &mpsc::UnboundedSender<Msg>, text: String| drop(tx.send(Msg::Done(text)));
    match effect {
        Effect::ClearLogs(i) => {
            let Some(name) = name(i) else { return };
            let reply = caller.call("clear_logs", json!({"sidecar": name}));
            tokio::spawn(async move {
                let text = match reply.await {
                    Ok(_) => format!("cleared the log of {name}"),
                    Err((_, e)) => format!("{name}: {e}"),
                };
                say(&tx, text);
            });
        }
        Effect::Start(i) | Effect::Stop(i) | Effect::Restart(i) | Effect::Kill(i) => {
            let Some(name) = name(i) else { return };
            let before = state.sidecars()[i].info.pid;
            let method = match effect {
                Effect::Start(_) => "start",
                Effect::Stop(_) => "stop",
                Effect::Restart(_) => "restart",
                _ => "kill",
            };
            let reply = caller.call(method, json!({"sidecar": name}));
            tokio::spawn(async move {
                let text = match reply.await {
                    Err((_, e)) => format!("{name}: {e}"),
                    Ok(reply) => {
                        let after: Option<SidecarInfo> =
                            serde_json::from_value(reply["sidecars"][0].clone()).ok();
                        outcome_text(method, &name, before, after.unwrap_or_default())
                    }
                };
                say(&tx, text);
            });
        }
        Effect::Request { sidecar, spec } => {
            let Some(name) = name(sidecar) else { return };
            let reply = caller.call("request", json!({"sidecar": name, "spec": spec}));
            tokio::spawn(async move {
                match reply.await {
                    Ok(mut reply) => match serde_json::from_value::<Exchange>(reply["exchange"].take()) {
                        Ok(exchange) => {
                            let context = reply["context"].as_str().map(str::to_string);
                            let _ = tx.send(Msg::Reply(Arc::new(exchange)));
                            if let Some(context) = context {
                                say(&tx, format!("{name}: {context}"));
                            }
                        }
                        Err(e) => say(&tx, format!("{name}: an unreadable reply ({e})")),
                    },
                    Err((_, e)) => say(&tx, format!("{name}: {e}")),
                }
            });
        }
        Effect::Load { sidecar, spec, plan } => {
            let Some(name) = name(sidecar) else { return };
            let params = json!({
                "sidecar": name, "spec": spec, "requests": plan.requests, "concurrency": plan.concurrency,
            });
            let reply = caller.call("load", params);
            tokio::spawn(async move {
                match reply.await {
                    Ok(reply) => {
                        let report = reply["report"].as_str().unwrap_or_default().to_string();
                        drop(tx.send(Msg::LoadDone(report)));
                    }
                    Err((_, e)) => say(&tx, format!("{name}: load test not run: {e}")),
                }
            });
        }
        Effect::FollowLogs(from) => {
            let sidecars: serde_json::Map<String, Value> =
                from.into_iter().map(|(name, seq)| (name, json!(seq))).collect();
            let reply = caller.call("follow_logs", json!({"sidecars": sidecars}));
            tokio::spawn(async move {
                if let Err((_, e)) = reply.await {
                    say(&tx, format!("logs not followed: {e}"));
                }
            });
        }
        Effect::Reload { dry_run } => {
            let reply = caller.call("reload", json!({"dry_run": dry_run}));
            tokio::spawn(async move {
                let result = reply.await;
                let result = result
                    .map(|reply| reply["summary"].as_str().unwrap_or_default().to_string())
                    .map_err(|(_, e)| e);
                let _ = tx.send(if dry_run { Msg::ReloadPlan(result) } else { Msg::ReloadDone(result) });
            });
        }
        Effect::Resnapshot => {
            let reply = caller.call("snapshot", json!({}));
            tokio::spawn(async move {
                match reply.await.map(serde_json::from_value) {
                    Ok(Ok(snapshot)) => drop(tx.send(Msg::Snapshot(Box::new(snapshot)))),
                    Ok(Err(e)) => say(&tx, format!("an unreadable snapshot: {e}")),
                    Err((_, e)) => say(&tx, format!("no snapshot: {e}")),
                }
            });
        }
        Effect::Save { sidecar, text } => {
            tokio::task::spawn_blocking(move || {
                let lines = text.lines().count();
                let text = match save(&sidecar, &text) {
                    Ok(path) => format!("saved {lines} lines to {}", path.display()),
                    Err(e) => format!("not saved: {e}"),
                };
                let _ = tx.send(Msg::Done(text));
            });
        }
        Effect::Shutdown | Effect::Detach | Effect::ForceQuit | Effect::Copy(_) | Effect::Page(_) => {
            unreachable!("the run loop handles {effect:?}")
        }
    }
}

/// What an action led to, e.g. "restarted pricing (pid 4242 -> 4317)".
fn outcome_text(method: &str, name: &str, before: Option<u32>, after: SidecarInfo) -> String {
    let pid = |p: Option<u32>| p.map_or("-".to_string(), |p| p.to_string());
    match method {
        "restart" => format!("restarted {name} (pid {} -> {})", pid(before), pid(after.pid)),
        "start" if after.life == crate::api::Life::Failed => {
            format!("{name} failed to start: {}", after.error.unwrap_or_default())
        }
        "start" => format!("started {name} (pid {})", pid(after.pid)),
        "kill" => format!("killed {name} (pid {}): {}", pid(before), after.last_exit.unwrap_or_default()),
        _ => format!("stopped {name} ({})", after.last_exit.unwrap_or(after.state)),
    }
}

/// `NAME-YYYYmmdd-HHMMSS.log` in the current folder, readable by its owner only.
fn save(sidecar: &str, text: &str) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = format!("{sidecar}-{}.log", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    let path = std::env::current_dir()?.join(name);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(text.as_bytes())?;
    Ok(path)
}
