//! `sidetop attach`: the dashboard of a running agent, over its control socket or over
//! `ssh HOST sidetop ctl bridge`. Detaching leaves the agent and its sidecars running.

use crate::client::over_socket;
use crate::front::cli::AttachArgs;
use crate::front::dashboard::Ending;
use crate::front::exit_codes::{EXIT_FAILED, EXIT_NO_AGENT};
use std::path::Path;
use std::process::ExitCode;

mod hosts;

use hosts::Target;

pub async fn run(config: &Path, args: &AttachArgs) -> ExitCode {
    if args.all || args.socket.len() + args.ssh.len() > 1 {
        return fleet(args).await;
    }
    // Over ssh, a connection that drops is made again while the dashboard runs.
    let mut keeper = None;
    let (link, to) = match args.ssh.first() {
        Some(host) => {
            let target =
                Target { host: host.clone(), all: false, named: String::new(), remote: args.remote() };
            match hosts::reach(&target).await {
                Ok(mut reached) => {
                    let (_, link) = reached.engines.pop().expect("one engine reached");
                    let (link, fleet) = crate::api::fleet::one_reconnecting(link);
                    keeper = Some(tokio::spawn(hosts::keep(target, fleet, reached)));
                    (link, host.to_string())
                }
                Err(e) => {
                    eprintln!("error: attaching over ssh to {host}: {e}");
                    return ExitCode::from(EXIT_NO_AGENT);
                }
            }
        }
        None => {
            let socket = args
                .socket
                .first()
                .cloned()
                .unwrap_or_else(|| crate::api::socket_path::default_socket(config));
            match over_socket(&socket, args.read_only).await {
                Ok(link) => (link, socket.display().to_string()),
                Err(e) => {
                    eprintln!("error: no sidetop agent on {}: {e}", socket.display());
                    eprintln!("start one with `sidetop agent --config {}`", config.display());
                    return ExitCode::from(EXIT_NO_AGENT);
                }
            }
        }
    };
    let pid = link.hello["pid"].as_u64().unwrap_or(0);
    let ended = crate::front::dashboard::attach(link, format!("agent {pid} on {to}")).await;
    if let Some(keeper) = keeper {
        keeper.abort();
    }
    match ended {
        Ok(Ending::Detached) => {
            println!("detached from the agent (pid {pid}); its sidecars keep running");
            ExitCode::SUCCESS
        }
        Ok(Ending::Lost) => {
            eprintln!("error: the connection to the agent (pid {pid}) was lost");
            ExitCode::from(EXIT_FAILED)
        }
        Ok(_) => {
            println!("the agent (pid {pid}) stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// One dashboard over several engines: with `--all` every one of this host that answers
/// (and those that start later), plus each `--socket`, and each `--ssh` host's default
/// engine (with `--all`, every engine on that host, through one ssh connection each).
async fn fleet(args: &AttachArgs) -> ExitCode {
    let read_only = args.read_only;
    let mut engines = Vec::new();
    if args.all {
        for (name, socket) in crate::api::socket_path::engine_sockets() {
            match over_socket(&socket, read_only).await {
                Ok(link) => engines.push((name, link)),
                Err(e) => tracing::info!("attach --all: {name} is not answering: {e}"),
            }
        }
    }
    for socket in &args.socket {
        let name = crate::api::socket_path::engine_name(socket);
        if engines.iter().any(|(n, _)| *n == name) {
            continue;
        }
        match over_socket(socket, read_only).await {
            Ok(link) => engines.push((name, link)),
            Err(e) => eprintln!("sidetop attach: no engine on {}: {e}", socket.display()),
        }
    }
    // With --all, a host's every engine through one ssh connection; else its default one.
    let mut hosts = Vec::new();
    for host in &args.ssh {
        let target = Target { host: host.clone(), all: args.all, named: host.clone(), remote: args.remote() };
        match hosts::reach(&target).await {
            Ok(mut reached) => {
                engines.extend(std::mem::take(&mut reached.engines));
                hosts.push((target, reached));
            }
            Err(e) => eprintln!("sidetop attach: attaching over ssh to {host}: {e}"),
        }
    }
    if engines.is_empty() {
        eprintln!("error: no sidetop engine answers in {}", crate::api::socket_path::socket_dir().display());
        return ExitCode::from(EXIT_NO_AGENT);
    }
    let count = engines.len();
    let (link, fleet) = crate::api::fleet::combine(engines);
    let kept: Vec<_> = hosts
        .into_iter()
        .map(|(target, reached)| tokio::spawn(hosts::keep(target, fleet.clone(), reached)))
        .collect();
    let watching = args.all.then(|| tokio::spawn(join_new_engines(fleet, read_only)));
    // The header puts the count of engines shown in front (they come and go).
    let place = if args.ssh.is_empty() { "on this host" } else { "on several hosts" };
    let ended = crate::front::dashboard::attach(link, place.to_string()).await;
    if let Some(watching) = watching {
        watching.abort();
    }
    for host in kept {
        host.abort();
    }
    match ended {
        Ok(Ending::Lost) => {
            eprintln!("error: every engine's connection was lost");
            ExitCode::from(EXIT_FAILED)
        }
        Ok(_) => {
            println!("detached from {count} engines; their sidecars keep running");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// How often `attach --all` looks for engines that started (or came back) since.
const LOOK_FOR_ENGINES: std::time::Duration = std::time::Duration::from_millis(500);

/// Engines that appear in the socket folder while the dashboard runs (a wrapper the
/// application just spawned, an agent started again) join it.
async fn join_new_engines(fleet: crate::api::fleet::Fleet, read_only: bool) {
    let mut tick = tokio::time::interval(LOOK_FOR_ENGINES);
    // The folder is listed again only when it changed (a socket made or removed) or when
    // the last look left an engine it could not reach yet (one still starting).
    let mut seen: Option<std::time::SystemTime> = None;
    loop {
        tick.tick().await;
        let changed =
            std::fs::metadata(crate::api::socket_path::socket_dir()).and_then(|m| m.modified()).ok();
        if changed.is_some() && changed == seen {
            continue;
        }
        let mut all_reached = true;
        for (name, socket) in crate::api::socket_path::engine_sockets() {
            if fleet.is_live(&name) {
                continue;
            }
            match over_socket(&socket, read_only).await {
                Ok(link) => fleet.add(name, link).await,
                Err(_) => all_reached = false,
            }
        }
        seen = if all_reached { changed } else { None };
    }
}
