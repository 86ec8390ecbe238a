//! `sidetop ctl --all ...` (and `ctl` over several `--socket`/`--ssh`): the reads of
//! several engines at once: with `--all` every engine of this user on this host (agents,
//! the engines of running dashboards, wrappers) as found in the socket folder `ctl list`
//! reads, plus each `--socket`, plus each `--ssh` host's (see [`super::engines`]). Each
//! row says its engine; an engine that does not answer is said on stderr and the others
//! are still shown. Exit 3 when an engine named by `--socket` or `--ssh` did not answer.

use super::engines::{Place, Reached, reach};
use super::{EXIT_NO_AGENT, clock, print_status, usage};
use crate::api::socket_path::socket_dir;
use crate::api::{EventInfo, SidecarInfo};
use crate::client::{Client, ClientError};
use crate::front::cli::{CtlArgs, CtlCommand};
use serde_json::{Value, json};
use std::process::ExitCode;

pub use crate::api::socket_path::engine_sockets as sockets;

/// How long an engine has to answer a call.
const ANSWER: std::time::Duration = std::time::Duration::from_secs(5);

/// One engine's answer to a call, or why it gave none.
struct Engine {
    name: String,
    place: Place,
    named: bool,
    config: Value,
    client: Option<Client>,
    answer: Result<Value, Failure>,
}

enum Failure {
    /// A socket found in the folder that nobody serves (an agent killed before it could
    /// remove it): counted on one line, not one line each.
    Stale,
    /// It does not answer (gone, or stuck): said on stderr.
    Silent(String),
    /// It answered with an error (no sidecar of that name there).
    Refused,
}

impl Engine {
    fn sidecars(&self) -> Option<Vec<SidecarInfo>> {
        let answer = self.answer.as_ref().ok()?;
        serde_json::from_value(answer["sidecars"].clone()).ok()
    }

    /// Where it is, for a JSON row: its `socket`, or its `host`.
    fn place_json(&self, row: &mut Value) {
        match &self.place {
            Place::Socket(socket) => row["socket"] = json!(socket),
            Place::Host(host) => row["host"] = json!(host),
        }
    }
}

async fn ask(reached: Reached, method: &'static str, params: Value) -> Engine {
    let Reached { name, place, named, client } = reached;
    let mut engine = Engine {
        name,
        place,
        named,
        config: Value::Null,
        client: None,
        answer: Err(Failure::Silent(String::new())),
    };
    let mut client = match client {
        Ok(client) => client,
        Err(ClientError::NoAgent(_)) if !engine.named => {
            engine.answer = Err(Failure::Stale);
            return engine;
        }
        Err(e) => {
            engine.answer = Err(Failure::Silent(e.to_string()));
            return engine;
        }
    };
    engine.config = client.hello["config"].clone();
    engine.answer = match tokio::time::timeout(ANSWER, client.call(method, params)).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(ClientError::Rpc { .. })) => Err(Failure::Refused),
        Ok(Err(other)) => Err(Failure::Silent(other.to_string())),
        Err(_) => Err(Failure::Silent(format!("no answer within {}s", ANSWER.as_secs()))),
    };
    engine.client = Some(client);
    engine
}

/// Every engine asked the same at once; one that does not answer is said on stderr.
async fn engines(args: &CtlArgs, method: &'static str, params: Value) -> Vec<Engine> {
    let asked: Vec<_> =
        reach(args).await.into_iter().map(|r| tokio::spawn(ask(r, method, params.clone()))).collect();
    let mut engines = Vec::new();
    let mut stale = Vec::new();
    for task in asked {
        if let Ok(engine) = task.await {
            match &engine.answer {
                Err(Failure::Silent(e)) => eprintln!("{}: not answering: {e}", engine.name),
                Err(Failure::Stale) => stale.push(engine.name.clone()),
                _ => {}
            }
            engines.push(engine);
        }
    }
    if !stale.is_empty() {
        let shown = stale.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        let more = if stale.len() > 3 { format!(" and {} more", stale.len() - 3) } else { String::new() };
        eprintln!(
            "not answering: {} stale socket(s), nobody serves them ({shown}{more}; `ctl list` shows them)",
            stale.len()
        );
    }
    if engines.is_empty() && args.all {
        eprintln!("no sidetop engine in {}", socket_dir().display());
    }
    engines
}

/// Done, unless an engine asked for by name did not answer.
fn outcome(engines: &[Engine]) -> ExitCode {
    let silent = |e: &Engine| e.named && matches!(e.answer, Err(Failure::Silent(_)));
    if engines.iter().any(silent) { ExitCode::from(EXIT_NO_AGENT) } else { ExitCode::SUCCESS }
}

/// `ctl --all ...`: `status` and `events` of every engine; `logs`, `latency` and
/// `traffic` of a sidecar wherever it runs (`NAME`, or `ENGINE/NAME` when two engines
/// have one of that name). Commands that act are refused: `--all` never means "on every
/// engine" for a restart.
pub async fn run(args: &CtlArgs) -> ExitCode {
    match &args.command {
        CtlCommand::Status => status(args).await,
        CtlCommand::Events { follow: false, sidecar, lines } => {
            events(args, sidecar.as_deref(), *lines).await
        }
        CtlCommand::Logs { name, .. } | CtlCommand::Latency { name } | CtlCommand::Traffic { name, .. } => {
            one(args, name).await
        }
        _ => usage(
            "several engines at once is for status, events, logs, latency and traffic (reads); \
             give one --socket or --ssh to act",
        ),
    }
}

/// `ctl --all status`: rows grouped by engine.
async fn status(args: &CtlArgs) -> ExitCode {
    let engines = engines(args, "status", json!({})).await;
    for engine in &engines {
        match engine.sidecars() {
            None => {}
            Some(sidecars) if args.json => {
                for s in sidecars {
                    let mut row = json!(s);
                    row["engine"] = json!(engine.name);
                    engine.place_json(&mut row);
                    row["config"] = engine.config.clone();
                    println!("{row}");
                }
            }
            Some(sidecars) => {
                println!("== {}  {}", engine.name, engine.config.as_str().unwrap_or(""));
                print_status(&sidecars, false);
            }
        }
    }
    outcome(&engines)
}

/// `ctl --all events`: the last `lines` events of every engine, merged in time order.
async fn events(args: &CtlArgs, sidecar: Option<&str>, lines: u64) -> ExitCode {
    let params = match sidecar {
        Some(s) => json!({"sidecar": s, "limit": lines}),
        None => json!({"limit": lines}),
    };
    let mut all: Vec<(String, EventInfo)> = Vec::new();
    let engines = engines(args, "events", params).await;
    for engine in &engines {
        // An engine without that sidecar answers with an error: it has no events of it.
        let Ok(answer) = &engine.answer else { continue };
        let events: Vec<EventInfo> = serde_json::from_value(answer["events"].clone()).unwrap_or_default();
        all.extend(events.into_iter().map(|e| (engine.name.clone(), e)));
    }
    all.sort_by_key(|(_, e)| e.at_ms);
    let skip = all.len().saturating_sub(lines as usize);
    for (engine, event) in all.into_iter().skip(skip) {
        if args.json {
            let mut row = json!(event);
            row["engine"] = json!(engine);
            println!("{row}");
        } else {
            println!("{} {engine} {}: {}", clock(event.at_ms), event.sidecar, event.text);
        }
    }
    outcome(&engines)
}

/// A read of one sidecar, from the engine that runs it, as `ctl --socket` would do it.
async fn one(args: &CtlArgs, name: &str) -> ExitCode {
    let (wanted_engine, bare) = match name.split_once(crate::api::fleet::SEPARATOR) {
        Some((engine, bare)) => (Some(engine), bare),
        None => (None, name),
    };
    let mut having: Vec<Engine> = engines(args, "status", json!({}))
        .await
        .into_iter()
        .filter(|e| wanted_engine.is_none_or(|w| w == e.name))
        .filter(|e| e.sidecars().is_some_and(|s| s.iter().any(|s| s.name == bare)))
        .collect();
    let mut client = match having.as_mut_slice() {
        [engine] => engine.client.take().expect("an engine that answered has its client"),
        [] => {
            return usage(&format!(
                "no engine runs a sidecar named {bare:?} (`ctl --all status` lists them)"
            ));
        }
        several => {
            let names: Vec<String> = several.iter().map(|e| format!("{}/{bare}", e.name)).collect();
            return usage(&format!("{bare:?} runs under several engines: give one of {}", names.join(", ")));
        }
    };
    let mut args = args.clone();
    match &mut args.command {
        CtlCommand::Logs { name, .. } | CtlCommand::Latency { name } | CtlCommand::Traffic { name, .. } => {
            *name = bare.to_string()
        }
        _ => unreachable!("only reads of one sidecar come here"),
    }
    match super::command(&mut client, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}
