//! `attach --all --ssh HOST`: every engine on HOST through one ssh connection running
//! `sidetop ctl --all bridge` there (its lines: see `front::ctl::bridge`). Each engine
//! gets a link of its own over an in-memory pipe, so the fleet treats it like a local
//! socket: named `HOST:ENGINE`, lost when the bridge says it left, and those that start
//! on the host later join as they are found there.

use super::ssh::{self, Remote};
use crate::api::link::Link;
use serde_json::Value;
use std::collections::HashMap;
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, WriteHalf};
use tokio::sync::{mpsc, oneshot};

/// Bytes buffered in each engine's in-memory pipe, each way.
const PIPE: usize = 1 << 16;
/// Lines queued for ssh's stdin, at most.
const QUEUED: usize = 1024;
/// How long the host has to list its engines and each to say hello.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A host's engines: those there at the start, and a stream of those found later.
pub struct Host {
    pub initial: Vec<(String, Link)>,
    pub later: mpsc::Receiver<(String, Link)>,
    /// When the connection is gone: the engines it still carried (`HOST:ENGINE`).
    pub exited: oneshot::Receiver<Vec<String>>,
}

/// One engine's end of its pipe on this side: what it sends is written in; the reader
/// of what its link writes is aborted with it, so the link sees the pipe close.
struct Route {
    write: WriteHalf<DuplexStream>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub async fn over_ssh_all(host: &str, remote: &Remote) -> io::Result<Host> {
    // The connection's end is seen as its output ending (the demux's).
    let (mut stdin, stdout, kept, _exited) = ssh::spawn(host, remote, &["--all", "bridge"])?;
    let (up_tx, mut up_rx) = mpsc::channel::<String>(QUEUED);
    tokio::spawn(async move {
        while let Some(line) = up_rx.recv().await {
            if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                return;
            }
        }
    });
    let (links_tx, mut links_rx) = mpsc::channel::<(String, io::Result<Link>)>(64);
    let (listed_tx, listed_rx) = oneshot::channel::<usize>();
    let (carried_tx, exited) = oneshot::channel();
    let demux = Demux { host: host.to_string(), read_only: remote.read_only, up: up_tx, links: links_tx };
    tokio::spawn(demux.run(stdout, listed_tx, carried_tx));
    let fail = |e: io::Error| async { Err(ssh::explained(e, &kept).await) };
    let count = match tokio::time::timeout(WAIT, listed_rx).await {
        Ok(Ok(count)) => count,
        Ok(Err(_)) => {
            return fail(io::Error::other("the host's bridge ended before listing its engines")).await;
        }
        Err(_) => return fail(io::Error::other("the host listed no engines within 10s")).await,
    };
    let mut initial = Vec::new();
    for _ in 0..count {
        match tokio::time::timeout(WAIT, links_rx.recv()).await {
            Ok(Some((name, Ok(link)))) => initial.push((name, link)),
            Ok(Some((name, Err(e)))) => tracing::info!("attach --ssh --all: {name} is not answering: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    let (later_tx, later) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some((name, link)) = links_rx.recv().await {
            if let Ok(link) = link
                && later_tx.send((name, link)).await.is_err()
            {
                return;
            }
        }
    });
    Ok(Host { initial, later, exited })
}

struct Demux {
    host: String,
    read_only: bool,
    up: mpsc::Sender<String>,
    links: mpsc::Sender<(String, io::Result<Link>)>,
}

impl Demux {
    /// Reads the bridge's lines until ssh ends; then every engine's pipe closes, and
    /// those still open at the end are said on `carried`.
    async fn run(
        self,
        stdout: tokio::process::ChildStdout,
        listed: oneshot::Sender<usize>,
        carried: oneshot::Sender<Vec<String>>,
    ) {
        let mut routes: HashMap<String, Route> = HashMap::new();
        let mut listed = Some(listed);
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(msg) = serde_json::from_str::<Value>(&line) else { continue };
            if msg["listed"] == true {
                if let Some(tx) = listed.take() {
                    let _ = tx.send(routes.len());
                }
                continue;
            }
            let Some(engine) = msg["engine"].as_str() else { continue };
            if let Some(message) = msg.get("message") {
                if let Some(route) = routes.get_mut(engine) {
                    let text = format!("{message}\n");
                    if route.write.write_all(text.as_bytes()).await.is_err() {
                        routes.remove(engine);
                    }
                }
            } else if msg.get("joined").is_some() {
                routes.insert(engine.to_string(), self.open(engine));
            } else if msg["left"] == true {
                routes.remove(engine);
            }
        }
        let _ = carried.send(routes.keys().map(|engine| format!("{}:{engine}", self.host)).collect());
    }

    /// A pipe for `engine`, and its link made over the other end (the hello goes through
    /// this demux, so it is made on a task of its own).
    fn open(&self, engine: &str) -> Route {
        let (ours, theirs) = tokio::io::duplex(PIPE);
        let (our_read, write) = tokio::io::split(ours);
        let up = self.up.clone();
        let tag = serde_json::to_string(engine).unwrap_or_default();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(our_read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if up.send(format!("{{\"engine\":{tag},\"message\":{line}}}\n")).await.is_err() {
                    return;
                }
            }
        })
        .abort_handle();
        let (links, read_only) = (self.links.clone(), self.read_only);
        let name = format!("{}:{engine}", self.host);
        tokio::spawn(async move {
            let (read, write) = tokio::io::split(theirs);
            let link = crate::client::link::connect(read, write, read_only).await;
            let _ = links.send((name, link)).await;
        });
        Route { write, reader }
    }
}
