//! `sidetop ctl bridge`: the control protocol between stdin/stdout and one engine's
//! socket (what `attach --ssh HOST` runs there). `ctl --all bridge`: every engine of this
//! user on this host through the one stdio, for `attach --all --ssh HOST` (one ssh
//! connection per host whatever its engine count). Each line out is
//! `{"engine": E, "joined": SOCKET}` when an engine is found (the folder is looked at
//! twice a second), `{"engine": E, "message": MSG}` for what it sends, `{"engine": E,
//! "left": true}` when its connection ends, and `{"listed": true}` once after the
//! engines there at the start; each line in is `{"engine": E, "message": MSG}`.

use super::ClientError;
use crate::api::socket_path::engine_sockets;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How often the socket folder is looked at for engines that started.
const LOOK: std::time::Duration = std::time::Duration::from_millis(500);
/// Lines queued for one engine's socket, at most, before its reader waits.
const QUEUED: usize = 1024;

pub async fn bridge(socket: &Path) -> ExitCode {
    let stream = match tokio::net::UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) => {
            let why = format!("no sidetop agent on {} ({e})", socket.display());
            return super::fail(ClientError::NoAgent(why));
        }
    };
    let (mut read, mut write) = stream.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut write).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut write).await;
    });
    let _ = tokio::io::copy(&mut read, &mut tokio::io::stdout()).await;
    up.abort();
    ExitCode::SUCCESS
}

/// Every engine here, multiplexed on stdin/stdout; ends when stdin does.
pub async fn bridge_all() -> ExitCode {
    let (out_tx, mut out_rx) = mpsc::channel::<String>(QUEUED);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            // A burst goes out in one write.
            while let Ok(more) = out_rx.try_recv() {
                if stdout.write_all(more.as_bytes()).await.is_err() {
                    return;
                }
            }
            if stdout.flush().await.is_err() {
                return;
            }
        }
    });
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<String>();
    let mut engines: HashMap<String, mpsc::Sender<String>> = HashMap::new();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut look = tokio::time::interval(LOOK);
    let mut listed = false;
    loop {
        tokio::select! {
            line = stdin.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Ok(msg) = serde_json::from_str::<Value>(&line) else { continue };
                let (Some(engine), Some(message)) = (msg["engine"].as_str(), msg.get("message")) else { continue };
                if let Some(to) = engines.get(engine) {
                    let _ = to.send(format!("{message}\n")).await;
                }
            }
            _ = look.tick() => {
                for (name, socket) in engine_sockets() {
                    if engines.contains_key(&name) {
                        continue;
                    }
                    let Ok(stream) = tokio::net::UnixStream::connect(&socket).await else { continue };
                    let line = json!({"engine": name, "joined": socket.display().to_string()});
                    if out_tx.send(format!("{line}\n")).await.is_err() {
                        break;
                    }
                    engines.insert(name.clone(), relay(name, stream, out_tx.clone(), gone_tx.clone()));
                }
                if !listed {
                    listed = true;
                    let _ = out_tx.send(format!("{}\n", json!({"listed": true}))).await;
                }
            }
            Some(name) = gone_rx.recv() => {
                engines.remove(&name);
                let _ = out_tx.send(format!("{}\n", json!({"engine": name, "left": true}))).await;
            }
        }
    }
    drop(out_tx);
    drop(engines);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer).await;
    ExitCode::SUCCESS
}

/// One engine's socket: its lines out wrapped with its name, lines for it written in;
/// its name on `gone` when the connection ends.
fn relay(
    name: String,
    stream: tokio::net::UnixStream,
    out: mpsc::Sender<String>,
    gone: mpsc::UnboundedSender<String>,
) -> mpsc::Sender<String> {
    let (read, mut write) = stream.into_split();
    let (to_tx, mut to_rx) = mpsc::channel::<String>(QUEUED);
    let writing = tokio::spawn(async move {
        while let Some(line) = to_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let tag = serde_json::to_string(&name).unwrap_or_default();
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        // Each message is JSON already: wrapped as it is, not parsed again.
        while let Ok(Some(line)) = lines.next_line().await {
            if out.send(format!("{{\"engine\":{tag},\"message\":{line}}}\n")).await.is_err() {
                break;
            }
        }
        writing.abort();
        let _ = gone.send(name);
    });
    to_tx
}
