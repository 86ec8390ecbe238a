//! `sidetop request`: start one sidecar (and its dependencies), wait until it is ready,
//! send requests, print the reply or a load summary, stop everything. Exit status: 0 when
//! every request succeeded, 1 when one did not, 2 for bad arguments or config, 3 when the
//! sidecar never became ready.

use crate::api::engine::Engine;
use crate::api::link::{Caller, Link};
use crate::api::{Life, LogLineInfo, Notice, SidecarInfo};
use crate::cli::RequestArgs;
use crate::config::ipc::{Protocol, RequestSpec};
use crate::config::{Config, SidecarConfig};
use crate::ipc::protocol::Exchange;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_READY: u8 = 3;

/// Works out the request to send, or says exactly what is wrong with the arguments.
pub fn build_spec(sidecar: &SidecarConfig, args: &RequestArgs) -> Result<RequestSpec, String> {
    let Some(ipc) = &sidecar.ipc else {
        return Err(format!("{} has no [sidecar.ipc]: sidetop cannot send it requests", sidecar.name));
    };
    let json = |flag: &str, text: &Option<String>| -> Result<Option<Value>, String> {
        text.as_deref()
            .map(|t| serde_json::from_str(t).map_err(|e| format!("invalid JSON in {flag}: {e} (in {t:?})")))
            .transpose()
    };
    if args.tool.is_some() || args.list {
        return tool_spec(sidecar, args);
    }
    let given = args.method.is_some()
        || args.params.is_some()
        || args.value.is_some()
        || args.path.is_some()
        || args.body.is_some();
    if !given {
        let template = match &args.template {
            Some(name) => sidecar.requests.iter().find(|t| &t.name == name),
            None => sidecar.requests.first(),
        };
        return match (template, &args.template) {
            (Some(t), _) => Ok(t.spec.clone()),
            (None, Some(name)) => {
                let known: Vec<&str> = sidecar.requests.iter().map(|t| t.name.as_str()).collect();
                Err(format!(
                    "{} has no request template {name:?} (templates: {})",
                    sidecar.name,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ))
            }
            (None, None) => Err(format!(
                "{} has no request templates: give --method/--params, --value or --path",
                sidecar.name
            )),
        };
    }
    let refuse = |flags: &[(&str, bool)], why: &str| -> Result<(), String> {
        match flags.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(format!("{flag} does not apply: {why}")),
            None => Ok(()),
        }
    };
    match &ipc.protocol {
        Protocol::Grpc { .. } => {
            refuse(
                &[
                    ("--value", args.value.is_some()),
                    ("--path", args.path.is_some()),
                    ("--body", args.body.is_some()),
                ],
                "this sidecar speaks gRPC (use --method package.Service/Method and --params)",
            )?;
            let method = args.method.clone().ok_or("a gRPC request needs --method package.Service/Method")?;
            if !method.trim_start_matches('/').contains('/') {
                return Err(format!("--method must be package.Service/Method, not {method:?}"));
            }
            let params = json("--params", &args.params)?;
            if params.as_ref().is_some_and(|p| !p.is_object()) {
                return Err("--params must be a JSON object (the request message)".into());
            }
            Ok(RequestSpec::Rpc { method: method.trim_start_matches('/').to_string(), params })
        }
        Protocol::JsonRpc => {
            refuse(
                &[
                    ("--value", args.value.is_some()),
                    ("--path", args.path.is_some()),
                    ("--body", args.body.is_some()),
                ],
                "this sidecar speaks JSON-RPC (use --method and --params)",
            )?;
            let method = args.method.clone().ok_or("a JSON-RPC request needs --method")?;
            let params = json("--params", &args.params)?;
            if let Some(p) = &params
                && !matches!(p, Value::Object(_) | Value::Array(_))
            {
                return Err(format!("--params must be a JSON object or array, not {p}"));
            }
            Ok(RequestSpec::Rpc { method, params })
        }
        Protocol::JsonLines => {
            refuse(
                &[
                    ("--method", args.method.is_some()),
                    ("--params", args.params.is_some()),
                    ("--path", args.path.is_some()),
                    ("--body", args.body.is_some()),
                ],
                "this sidecar speaks json-lines (use --value)",
            )?;
            let value = json("--value", &args.value)?.ok_or("a json-lines request needs --value")?;
            Ok(RequestSpec::Line { value })
        }
        Protocol::Http { .. } => {
            refuse(
                &[("--params", args.params.is_some()), ("--value", args.value.is_some())],
                "this sidecar speaks HTTP (use --method, --path and --body)",
            )?;
            let path = args.path.clone().ok_or("an HTTP request needs --path")?;
            if !path.starts_with('/') {
                return Err(format!("--path must start with /, not {path:?}"));
            }
            let method = args.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
            Ok(RequestSpec::Http { method, path, body: json("--body", &args.body)? })
        }
    }
}

/// `--tool NAME --args JSON` (or `--list`: a `tools/list`, printed as one line a tool).
fn tool_spec(sidecar: &SidecarConfig, args: &RequestArgs) -> Result<RequestSpec, String> {
    let speaks = sidecar.ipc.as_ref().map(|i| i.speaks).unwrap_or_default();
    if speaks != crate::config::ipc::Speaks::Mcp {
        let flag = if args.list { "--list" } else { "--tool" };
        return Err(format!("{flag} is for MCP servers: {} does not have protocol = \"mcp\"", sidecar.name));
    }
    let Some(tool) = &args.tool else {
        return Ok(RequestSpec::Rpc { method: "tools/list".into(), params: None });
    };
    let arguments = match &args.args {
        Some(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("invalid JSON in --args: {e} (in {text:?})"))?,
        None => Value::Object(Default::default()),
    };
    if !arguments.is_object() {
        return Err(format!("--args must be a JSON object, not {arguments}"));
    }
    Ok(RequestSpec::Rpc {
        method: "tools/call".into(),
        params: Some(json!({"name": tool, "arguments": arguments})),
    })
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

pub async fn run(config: &Config, args: &RequestArgs) -> ExitCode {
    let Some(target) = config.sidecar(&args.sidecar) else {
        let known: Vec<&str> = config.sidecars.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "error: no sidecar named {:?} in {} (sidecars: {})",
            args.sidecar,
            config.path.display(),
            known.join(", ")
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let spec = match build_spec(target, args) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Through the engine API, as every front end.
    let (engine, mut link) = match start_only(config, [args.sidecar.as_str()]) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = args.sidecar.as_str();
    let code = match wait_ready(&mut link, name, args.ready_timeout).await {
        Err(why) => {
            eprintln!("error: {name} did not become ready: {why}");
            if let Some(handle) = engine.supervisor.get(name).ok()
                && let Some(context) = crate::api::build::explain(&handle)
            {
                eprintln!("  {context}");
            }
            if let Ok(reply) = link.caller.call("logs", json!({"sidecar": name, "lines": 10})).await {
                let lines: Vec<LogLineInfo> =
                    serde_json::from_value(reply["lines"].clone()).unwrap_or_default();
                for line in lines {
                    eprintln!("  {name} | {}", line.text);
                }
            }
            ExitCode::from(EXIT_NOT_READY)
        }
        Ok(()) if args.list => list_tools(&link.caller, name).await,
        Ok(()) if args.requests == 1 && args.duration.is_none() => one(&link.caller, name, &spec).await,
        Ok(()) => many(&link.caller, name, spec, args).await,
    };
    engine.supervisor.shutdown().await;
    code
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
            Ok(Some(Notice::Status { sidecars })) => {
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

/// `--list`: the tools the server listed after its handshake (every page), one line each.
async fn list_tools(caller: &Caller, name: &str) -> ExitCode {
    let snapshot = match caller.call("snapshot", json!({})).await {
        Ok(snapshot) => snapshot,
        Err((_, e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let snapshot: crate::api::Snapshot = match serde_json::from_value(snapshot) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: an unreadable snapshot: {e}");
            return ExitCode::FAILURE;
        }
    };
    let at = snapshot.setups.iter().position(|s| s.name == name);
    let Some(discovery) = at.and_then(|i| snapshot.discovered.get(i).cloned().flatten()) else {
        eprintln!("error: {name} has not listed its tools");
        return ExitCode::from(EXIT_FAILED);
    };
    if let Some(server) = &discovery.server {
        eprintln!("{name}: {}", server.describe("MCP"));
    }
    let width = discovery.tools.iter().map(|t| t.signature().chars().count()).max().unwrap_or(0);
    for tool in &discovery.tools {
        let about = tool.description.as_deref().unwrap_or_default().replace('\n', " ");
        println!("{:<width$}  {}", tool.signature(), crate::sanitize::sanitize(about.as_bytes()));
    }
    match &discovery.error {
        Some(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(EXIT_FAILED)
        }
        None => ExitCode::SUCCESS,
    }
}

async fn one(caller: &Caller, name: &str, spec: &RequestSpec) -> ExitCode {
    let reply = match caller.call("request", json!({"sidecar": name, "spec": spec})).await {
        Ok(reply) => reply,
        Err((_, e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let exchange: Exchange = match serde_json::from_value(reply["exchange"].clone()) {
        Ok(exchange) => exchange,
        Err(e) => {
            eprintln!("error: an unreadable reply: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(response) = &exchange.response {
        // HTTP: status and headers first, then the body; both pretty when JSON.
        let (head, body) = match response.split_once("\n\n") {
            Some((head, body)) if exchange.status.is_some() => (Some(head), body),
            _ => (None, response.as_str()),
        };
        if let Some(head) = head {
            eprintln!("{head}");
        }
        println!("{}", crate::ipc::readable::pretty_for_terminal(body));
    }
    eprintln!("{name} {}", exchange.summary());
    if let Some(context) = reply["context"].as_str() {
        eprintln!("{name}: {context}");
    }
    if exchange.outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) }
}

async fn many(caller: &Caller, name: &str, spec: RequestSpec, args: &RequestArgs) -> ExitCode {
    let requests = if args.duration.is_some() && args.requests == 1 { None } else { Some(args.requests) };
    let params = json!({
        "sidecar": name,
        "spec": spec,
        "requests": requests,
        "duration_ms": args.duration.map(|d| d.as_millis() as u64),
        "concurrency": args.concurrency,
    });
    match caller.call("load", params).await {
        Ok(reply) => {
            print!("{}", reply["report"].as_str().unwrap_or_default());
            if reply["failures"] == 0 && reply["count"].as_u64().is_some_and(|n| n > 0) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err((_, e)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
