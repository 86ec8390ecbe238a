//! `sidetop ctl --all ...`: every engine of this user on this host at once (agents, the
//! engines of running dashboards, wrappers), as found in the socket folder `ctl list`
//! reads. Each row says its engine; an engine that does not answer is said on stderr and
//! the others are still shown.

use super::print_status;
use crate::api::SidecarInfo;
use crate::api::socket_path::socket_dir;
use crate::client::Client;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// Every `.sock` in this user's socket folder, sorted, with the name it is listed under.
pub fn sockets() -> Vec<(String, PathBuf)> {
    let mut sockets: Vec<PathBuf> = std::fs::read_dir(socket_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sock"))
        .collect();
    sockets.sort();
    sockets
        .into_iter()
        .map(|p| (p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), p))
        .collect()
}

/// One engine's sidecars, or why it gave none.
struct Engine {
    name: String,
    socket: PathBuf,
    config: Value,
    sidecars: Result<Vec<SidecarInfo>, String>,
}

async fn ask(name: String, socket: PathBuf) -> Engine {
    let answer = async {
        let mut client = Client::connect(&socket, true).await.map_err(|e| e.to_string())?;
        let config = client.hello["config"].clone();
        let status = client.call("status", json!({})).await.map_err(|e| e.to_string())?;
        let sidecars = serde_json::from_value(status["sidecars"].clone()).map_err(|e| e.to_string())?;
        Ok::<_, String>((config, sidecars))
    };
    // An engine that accepts and never answers must not hold the others up.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), answer)
        .await
        .unwrap_or_else(|_| Err("no answer within 5s".into()));
    match answer {
        Ok((config, sidecars)) => Engine { name, socket, config, sidecars: Ok(sidecars) },
        Err(e) => Engine { name, socket, config: Value::Null, sidecars: Err(e) },
    }
}

/// `ctl --all status`: every engine asked at once; rows grouped by engine.
pub async fn status(json: bool) -> ExitCode {
    let asked = sockets().into_iter().map(|(name, socket)| tokio::spawn(ask(name, socket)));
    let mut engines = Vec::new();
    for task in asked.collect::<Vec<_>>() {
        if let Ok(engine) = task.await {
            engines.push(engine);
        }
    }
    for engine in &engines {
        match &engine.sidecars {
            Err(e) => eprintln!("{}: not answering: {e}", engine.name),
            Ok(sidecars) if json => {
                for s in sidecars {
                    let mut row = json!(s);
                    row["engine"] = json!(engine.name);
                    row["socket"] = json!(engine.socket);
                    row["config"] = engine.config.clone();
                    println!("{row}");
                }
            }
            Ok(sidecars) => {
                println!("== {}  {}", engine.name, engine.config.as_str().unwrap_or(""));
                print_status(sidecars, false);
            }
        }
    }
    if engines.is_empty() {
        eprintln!("no sidetop engine in {}", socket_dir().display());
    }
    ExitCode::SUCCESS
}
