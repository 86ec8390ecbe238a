//! `sidetop ctl --all ...`: every engine of this user on this host at once (agents, the
//! engines of running dashboards, wrappers), as found in the socket folder `ctl list`
//! reads. Each row says its engine; an engine that does not answer is said on stderr and
//! the others are still shown.

use super::{EXIT_USAGE, clock, print_status};
use crate::api::socket_path::socket_dir;
use crate::api::{EventInfo, SidecarInfo};
use crate::client::{Client, ClientError};
use crate::front::cli::{CtlArgs, CtlCommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

pub use crate::api::socket_path::engine_sockets as sockets;

/// One engine's answer to a call, or why it gave none.
struct Engine {
    name: String,
    socket: PathBuf,
    config: Value,
    answer: Result<Value, Failure>,
}

enum Failure {
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
}

async fn ask(name: String, socket: PathBuf, method: &'static str, params: Value) -> Engine {
    let answer = async {
        let mut client = Client::connect(&socket, true).await.map_err(|e| Failure::Silent(e.to_string()))?;
        let config = client.hello["config"].clone();
        let answer = client.call(method, params).await.map_err(|e| match e {
            ClientError::Rpc { .. } => Failure::Refused,
            other => Failure::Silent(other.to_string()),
        })?;
        Ok::<_, Failure>((config, answer))
    };
    // An engine that accepts and never answers must not hold the others up.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), answer)
        .await
        .unwrap_or_else(|_| Err(Failure::Silent("no answer within 5s".into())));
    match answer {
        Ok((config, answer)) => Engine { name, socket, config, answer: Ok(answer) },
        Err(e) => Engine { name, socket, config: Value::Null, answer: Err(e) },
    }
}

/// Every engine asked the same at once; one that does not answer is said on stderr.
async fn engines(method: &'static str, params: Value) -> Vec<Engine> {
    let asked: Vec<_> = sockets()
        .into_iter()
        .map(|(name, socket)| tokio::spawn(ask(name, socket, method, params.clone())))
        .collect();
    let mut engines = Vec::new();
    for task in asked {
        if let Ok(engine) = task.await {
            if let Err(Failure::Silent(e)) = &engine.answer {
                eprintln!("{}: not answering: {e}", engine.name);
            }
            engines.push(engine);
        }
    }
    if engines.is_empty() {
        eprintln!("no sidetop engine in {}", socket_dir().display());
    }
    engines
}

/// `ctl --all ...`: `status` and `events` of every engine; `logs`, `latency` and
/// `traffic` of a sidecar wherever it runs (`NAME`, or `ENGINE/NAME` when two engines
/// have one of that name). Commands that act are refused: `--all` never means "on every
/// engine" for a restart.
pub async fn run(args: &CtlArgs) -> ExitCode {
    match &args.command {
        CtlCommand::Status => status(args.json).await,
        CtlCommand::Events { follow: false, sidecar, lines } => {
            events(sidecar.as_deref(), *lines, args.json).await
        }
        CtlCommand::Logs { name, .. } | CtlCommand::Latency { name } | CtlCommand::Traffic { name, .. } => {
            one(args, name).await
        }
        _ => {
            usage("--all applies to status, events, logs, latency and traffic (reads); give --socket to act")
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(EXIT_USAGE)
}

/// `ctl --all status`: rows grouped by engine.
async fn status(json: bool) -> ExitCode {
    for engine in &engines("status", json!({})).await {
        match engine.sidecars() {
            None => {}
            Some(sidecars) if json => {
                for s in sidecars {
                    let mut row = json!(s);
                    row["engine"] = json!(engine.name);
                    row["socket"] = json!(engine.socket);
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
    ExitCode::SUCCESS
}

/// `ctl --all events`: the last `lines` events of every engine, merged in time order.
async fn events(sidecar: Option<&str>, lines: u64, json: bool) -> ExitCode {
    let params = match sidecar {
        Some(s) => json!({"sidecar": s, "limit": lines}),
        None => json!({"limit": lines}),
    };
    let mut all: Vec<(String, EventInfo)> = Vec::new();
    for engine in engines("events", params).await {
        // An engine without that sidecar answers with an error: it has no events of it.
        let Ok(answer) = &engine.answer else { continue };
        let events: Vec<EventInfo> = serde_json::from_value(answer["events"].clone()).unwrap_or_default();
        all.extend(events.into_iter().map(|e| (engine.name.clone(), e)));
    }
    all.sort_by_key(|(_, e)| e.at_ms);
    let skip = all.len().saturating_sub(lines as usize);
    for (engine, event) in all.into_iter().skip(skip) {
        if json {
            let mut row = json!(event);
            row["engine"] = json!(engine);
            println!("{row}");
        } else {
            println!("{} {engine} {}: {}", clock(event.at_ms), event.sidecar, event.text);
        }
    }
    ExitCode::SUCCESS
}

/// A read of one sidecar, from the engine that runs it, as `ctl --socket` would do it.
async fn one(args: &CtlArgs, name: &str) -> ExitCode {
    let (wanted_engine, bare) = match name.split_once(crate::api::fleet::SEPARATOR) {
        Some((engine, bare)) => (Some(engine), bare),
        None => (None, name),
    };
    let having: Vec<Engine> = engines("status", json!({}))
        .await
        .into_iter()
        .filter(|e| wanted_engine.is_none_or(|w| w == e.name))
        .filter(|e| e.sidecars().is_some_and(|s| s.iter().any(|s| s.name == bare)))
        .collect();
    let engine = match having.as_slice() {
        [engine] => engine,
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
    let mut client = match Client::connect(&engine.socket, args.read_only).await {
        Ok(client) => client,
        Err(e) => return super::fail(e),
    };
    match super::command(&mut client, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}
