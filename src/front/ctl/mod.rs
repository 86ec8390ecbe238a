//! `sidetop ctl`: see and drive a running sidetop from a shell or a script. Exit status:
//! 0 done, 1 the operation failed, 2 bad arguments (an unknown sidecar, invalid JSON),
//! 3 no agent on that socket.

mod bridge;
mod engines;
mod fleet;
mod reads;

use crate::api::socket_path::default_socket;
use crate::api::{EventInfo, LatencyInfo, LogLineInfo, SidecarInfo, codes};
use crate::client::ssh::over_ssh;
use crate::client::{Client, ClientError};
use crate::front::cli::{CtlArgs, CtlCommand};
use crate::ipc::protocol::Exchange;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

pub use crate::front::exit_codes::{EXIT_FAILED, EXIT_NO_AGENT, EXIT_USAGE};

pub async fn run(config: &Path, args: &CtlArgs) -> ExitCode {
    let socket = args.socket.first().cloned().unwrap_or_else(|| default_socket(config));
    if args.ssh.is_empty() && args.remote_socket.is_some() {
        return usage("--remote-socket is the socket on the --ssh host: give --ssh HOST");
    }
    match &args.command {
        CtlCommand::Bridge if args.all => return bridge::bridge_all().await,
        CtlCommand::List | CtlCommand::Bridge if !args.ssh.is_empty() => {
            return usage(
                "`list` and `bridge` are of this host: `ctl --all --ssh HOST status` shows a host's engines",
            );
        }
        _ if args.several() => return fleet::run(args).await,
        CtlCommand::List => return list(args.json).await,
        CtlCommand::Bridge => return bridge::bridge(&socket).await,
        _ => {}
    }
    let client = match args.ssh.first() {
        Some(host) => over_ssh(host, &args.remote())
            .await
            .map(|(link, _stderr, _exited)| Client::from_link(link))
            .map_err(|e| ClientError::NoAgent(format!("over ssh to {host}: {e}"))),
        None => Client::connect(&socket, args.read_only).await,
    };
    let mut client = match client {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match command(&mut client, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(EXIT_USAGE)
}

/// `record NAME FILE`, `record --all FILE`, `record --stop`, as the engine's `record`
/// parameters (the path made absolute: the agent has its own folder).
fn record_params(words: &[String], all: bool, stop: bool) -> Result<serde_json::Value, ClientError> {
    let usage = |why: &str| ClientError::Rpc {
        code: -32602,
        message: format!("{why}: give `record NAME FILE`, `record --all FILE` or `record --stop`"),
    };
    let absolute = |file: &str| -> Result<String, ClientError> {
        std::path::absolute(file).map(|p| p.display().to_string()).map_err(|e| usage(&format!("{file}: {e}")))
    };
    match (words, all, stop) {
        ([], false, true) => Ok(json!({"stop": true})),
        (_, _, true) => Err(usage("--stop takes nothing else")),
        ([file], true, false) => Ok(json!({"file": absolute(file)?})),
        ([name, file], false, false) => Ok(json!({"sidecar": name, "file": absolute(file)?})),
        (_, true, _) => Err(usage("--all takes one FILE")),
        _ => Err(usage("which sidecar, and which file")),
    }
}

fn fail(e: ClientError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(match &e {
        ClientError::NoAgent(_) => EXIT_NO_AGENT,
        ClientError::Rpc { code, .. } if *code == codes::UNKNOWN_SIDECAR || *code == -32602 => EXIT_USAGE,
        _ => EXIT_FAILED,
    })
}

async fn command(client: &mut Client, args: &CtlArgs) -> Result<(), ClientError> {
    let json = args.json;
    match &args.command {
        CtlCommand::Status => {
            let result = client.call("status", json!({})).await?;
            let sidecars: Vec<SidecarInfo> =
                serde_json::from_value(result["sidecars"].clone()).unwrap_or_default();
            print_status(&sidecars, json);
        }
        CtlCommand::Start { names }
        | CtlCommand::Stop { names }
        | CtlCommand::Restart { names }
        | CtlCommand::Kill { names } => {
            let method = match &args.command {
                CtlCommand::Start { .. } => "start",
                CtlCommand::Stop { .. } => "stop",
                CtlCommand::Restart { .. } => "restart",
                _ => "kill",
            };
            client.call(method, json!({"sidecars": names})).await?;
            if json {
                println!("{}", json!({"ok": true, "action": method, "sidecars": names}));
            }
        }
        CtlCommand::Signal { name, signal } => {
            client.call("signal", json!({"sidecar": name, "signal": signal})).await?;
        }
        CtlCommand::Logs { name, follow, lines, stderr } => {
            let result =
                client.call("logs", json!({"sidecar": name, "lines": lines, "stderr": stderr})).await?;
            let backlog: Vec<LogLineInfo> =
                serde_json::from_value(result["lines"].clone()).unwrap_or_default();
            for line in &backlog {
                print_line(name, line, json);
            }
            if *follow {
                let from = result["next_seq"].as_u64().unwrap_or(0);
                client.call("subscribe", json!({"logs": [name], "stderr": stderr, "from_seq": from})).await?;
                follow_notifications(client, json).await;
            }
        }
        CtlCommand::Events { follow, sidecar, lines } => {
            let params = match sidecar {
                Some(s) => json!({"sidecar": s, "limit": lines}),
                None => json!({"limit": lines}),
            };
            let result = client.call("events", params).await?;
            let events: Vec<EventInfo> = serde_json::from_value(result["events"].clone()).unwrap_or_default();
            for event in &events {
                print_event(event, json);
            }
            if *follow {
                client.call("subscribe", json!({"events": true})).await?;
                while let Some((method, params)) = client.notification().await {
                    if method == "event"
                        && let Ok(event) = serde_json::from_value::<EventInfo>(params.clone())
                        && sidecar.as_ref().is_none_or(|s| *s == event.sidecar)
                    {
                        print_event(&event, json);
                    } else if method == "skipped" {
                        eprintln!(
                            "[sidetop] {} notifications skipped: this client fell behind",
                            params["count"]
                        );
                    }
                }
            }
        }
        CtlCommand::Latency { name } => {
            let result = client.call("latency", json!({"sidecar": name})).await?;
            let latency: Option<LatencyInfo> =
                serde_json::from_value(result["latency"].clone()).ok().flatten();
            match latency {
                Some(latency) => reads::print_latency(&latency, json),
                None => eprintln!("{name} has no IPC: no latency to show"),
            }
        }
        CtlCommand::Traffic { name, follow, lines } => {
            let result = client.call("traffic", json!({"sidecar": name, "limit": lines})).await?;
            let exchanges: Vec<Exchange> =
                serde_json::from_value(result["exchanges"].clone()).unwrap_or_default();
            for exchange in &exchanges {
                reads::print_exchange(exchange, json);
            }
            if *follow {
                client.call("subscribe", json!({"traffic": true})).await?;
                while let Some((method, params)) = client.notification().await {
                    if method == "exchange"
                        && let Ok(exchange) = serde_json::from_value::<Exchange>(params.clone())
                        && *exchange.sidecar == **name
                    {
                        reads::print_exchange(&exchange, json);
                    } else if method == "skipped" {
                        eprintln!(
                            "[sidetop] {} notifications skipped: this client fell behind",
                            params["count"]
                        );
                    }
                }
            }
        }
        CtlCommand::Request(request) => {
            let mut params = json!({"sidecar": request.sidecar});
            let text_fields = [
                ("template", &request.template),
                ("method", &request.method),
                ("path", &request.path),
                ("tool", &request.tool),
            ];
            for (key, value) in text_fields {
                if let Some(v) = value {
                    params[key] = json!(v);
                }
            }
            for (key, value) in [
                ("params", &request.params),
                ("value", &request.value),
                ("body", &request.body),
                ("args", &request.args),
            ] {
                if let Some(text) = value {
                    let parsed: Value = serde_json::from_str(text).map_err(|e| ClientError::Rpc {
                        code: -32602,
                        message: format!("invalid JSON in --{key}: {e} (in {text:?})"),
                    })?;
                    params[key] = parsed;
                }
            }
            // A load run against the running sidecar, in the agent.
            if request.requests != 1 || request.duration.is_some() {
                params["requests"] =
                    json!((request.duration.is_none() || request.requests != 1).then_some(request.requests));
                params["duration_ms"] = json!(request.duration.map(|d| d.as_millis() as u64));
                params["concurrency"] = json!(request.concurrency);
                let reply = client.call("load", params).await?;
                if json {
                    println!("{reply}");
                } else {
                    print!("{}", reply["report"].as_str().unwrap_or_default());
                }
                if reply["failures"] != json!(0) || reply["count"] == json!(0) {
                    return Err(ClientError::Rpc {
                        code: codes::FAILED,
                        message: "some requests failed".into(),
                    });
                }
                return Ok(());
            }
            let reply = client.call("request", params).await?;
            if json {
                println!("{reply}");
            } else {
                println!(
                    "{}",
                    crate::ipc::readable::pretty_for_terminal(reply["response"].as_str().unwrap_or(""))
                );
                eprintln!("{} · {}", reply["outcome"].as_str().unwrap_or(""), latency(&reply));
            }
            if reply["ok"] != json!(true) {
                return Err(ClientError::Rpc {
                    code: codes::FAILED,
                    message: match reply["context"].as_str() {
                        Some(why) => {
                            format!("the request failed: {}; {why}", reply["outcome"].as_str().unwrap_or(""))
                        }
                        None => format!("the request failed: {}", reply["outcome"].as_str().unwrap_or("")),
                    },
                });
            }
        }
        CtlCommand::Shutdown => {
            client.call("shutdown", json!({})).await?;
        }
        CtlCommand::Reload { dry_run } => {
            let result = client.call("reload", json!({"dry_run": dry_run})).await?;
            if json {
                println!("{result}");
            } else {
                println!("{}", result["summary"].as_str().unwrap_or_default());
            }
        }
        CtlCommand::Stdin { name, text } => {
            client.call("stdin", json!({"sidecar": name, "text": format!("{text}\n")})).await?;
        }
        CtlCommand::Record { args: words, all, stop } => {
            let params = record_params(words, *all, *stop)?;
            let result = client.call("record", params).await?;
            if json {
                println!("{result}");
            } else {
                println!("{}", result["summary"].as_str().unwrap_or_default());
            }
        }
        CtlCommand::List | CtlCommand::Bridge => unreachable!("handled before connecting"),
    }
    Ok(())
}

async fn follow_notifications(client: &mut Client, json: bool) {
    while let Some((method, params)) = client.notification().await {
        match method.as_str() {
            "log" => {
                if let Some(gone) = params["gone"].as_u64().filter(|g| *g > 0) {
                    eprintln!("[sidetop] {gone} lines left the scrollback before they could be sent");
                }
                let lines: Vec<LogLineInfo> =
                    serde_json::from_value(params["lines"].clone()).unwrap_or_default();
                let sidecar = params["sidecar"].as_str().unwrap_or_default();
                for line in &lines {
                    print_line(sidecar, line, json);
                }
            }
            "skipped" => {
                eprintln!("[sidetop] {} notifications skipped: this client fell behind", params["count"])
            }
            _ => {}
        }
    }
}

fn clock(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    crate::text::stamp::Stamp::new(crate::text::stamp::CLOCK).text(at).to_string()
}

fn print_line(sidecar: &str, line: &LogLineInfo, json: bool) {
    if json {
        let mut value = json!(line);
        value["sidecar"] = json!(sidecar);
        println!("{value}");
    } else {
        let bar = if line.stderr { "!|" } else { " |" };
        println!("{} {sidecar} {bar} {}", clock(line.at_ms), line.text);
    }
}

fn print_event(event: &EventInfo, json: bool) {
    if json {
        println!("{}", json!(event));
    } else {
        println!("{} {}: {}", clock(event.at_ms), event.sidecar, event.text);
    }
}

fn print_status(sidecars: &[SidecarInfo], json: bool) {
    if json {
        for s in sidecars {
            println!("{}", json!(s));
        }
        return;
    }
    let width = sidecars.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:<11} {:>7}  {:>8}  {:>8}  LAST EXIT",
        "NAME", "STATE", "PID", "UPTIME", "RESTARTS"
    );
    for s in sidecars {
        let pid = s.pid.map_or("-".to_string(), |p| p.to_string());
        let uptime = s.uptime_ms.map_or("-".to_string(), |ms| {
            crate::supervisor::status::short_duration(std::time::Duration::from_millis(ms))
        });
        let exit = s.error.clone().or(s.last_exit.clone()).unwrap_or_else(|| "-".into());
        println!("{:width$}  {:<11} {pid:>7}  {uptime:>8}  {:>8}  {exit}", s.name, s.state, s.restarts);
    }
}

fn latency(reply: &Value) -> String {
    reply["latency_us"].as_u64().map_or("-".into(), crate::metrics::latency::format_us)
}

/// Every socket in this user's socket folder, probed: who serves it, or that it is stale.
async fn list(json: bool) -> ExitCode {
    for (name, path) in fleet::sockets() {
        let hello = Client::connect(&path, true).await.map(|c| c.hello);
        match (hello, json) {
            (Ok(h), true) => {
                println!("{}", json!({"name": name, "socket": path, "pid": h["pid"], "config": h["config"]}))
            }
            (Ok(h), false) => println!("{name}  pid {}  {}", h["pid"], h["config"].as_str().unwrap_or("")),
            (Err(_), true) => println!("{}", json!({"name": name, "socket": path, "stale": true})),
            (Err(_), false) => println!("{name}  (stale: nobody answers; the next agent replaces it)"),
        }
    }
    ExitCode::SUCCESS
}
