//! `sidetop request`: start one sidecar (and its dependencies), wait until it is ready,
//! send requests, print the reply or a load summary, stop everything. Exit status: 0 when
//! every request succeeded, 1 when one did not, 2 for bad arguments or config, 3 when the
//! sidecar never became ready.

use crate::api::LogLineInfo;
use crate::api::link::Caller;
use crate::api::request::build_spec;
use crate::config::Config;
use crate::config::ipc::RequestSpec;
use crate::front::cli::RequestArgs;
use crate::ipc::protocol::Exchange;
use serde_json::json;
use std::process::ExitCode;

use crate::front::exit_codes::{EXIT_FAILED, EXIT_NOT_READY, EXIT_USAGE};
use crate::front::start::{start_only, wait_ready};

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
    let spec = match build_spec(target, &args.fields()) {
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
    engine.shutdown().await;
    code
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
        println!("{:<width$}  {}", tool.signature(), crate::text::sanitize::sanitize(about.as_bytes()));
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
