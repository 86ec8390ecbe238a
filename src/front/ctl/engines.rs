//! The engines a `ctl` read over several of them asks: with `--all` every one of this
//! host, each `--socket`, and each `--ssh` host's default engine (with `--all`, every
//! engine on that host through one ssh connection, named `HOST:ENGINE`). All are reached
//! at once, so one slow host does not add its time to the others'.

use crate::client::ssh::over_ssh;
use crate::client::ssh_all::over_ssh_all;
use crate::client::{Client, ClientError};
use crate::front::cli::CtlArgs;
use std::path::PathBuf;
use std::time::Duration;

/// How long an engine has to say hello (one that accepts and never answers must not
/// hold the others up; ssh has its own waits).
const HELLO: Duration = Duration::from_secs(5);

/// Where an engine was reached.
#[derive(Debug, Clone)]
pub enum Place {
    Socket(PathBuf),
    Host(String),
}

/// An engine, and its client or why there is none.
pub struct Reached {
    pub name: String,
    pub place: Place,
    /// Named by `--socket` or `--ssh` (not only found in the socket folder).
    pub named: bool,
    pub client: Result<Client, ClientError>,
}

/// Every engine `args` name, in the order they name them.
pub async fn reach(args: &CtlArgs) -> Vec<Reached> {
    let mut local: Vec<(String, PathBuf, bool)> = Vec::new();
    if args.all {
        local.extend(super::fleet::sockets().into_iter().map(|(name, socket)| (name, socket, false)));
    }
    for socket in &args.socket {
        let name = crate::api::socket_path::engine_name(socket);
        match local.iter_mut().find(|(n, _, _)| *n == name) {
            Some(found) => found.2 = true,
            None => local.push((name, socket.clone(), true)),
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    // Reads only: every engine is asked as a watcher.
    let read_only = true;
    for (at, (name, socket, named)) in local.into_iter().enumerate() {
        tasks.spawn(async move {
            let client = match tokio::time::timeout(HELLO, Client::connect(&socket, read_only)).await {
                Ok(client) => client,
                Err(_) => Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no hello within {}s", HELLO.as_secs()),
                ))),
            };
            (at, vec![Reached { name, place: Place::Socket(socket), named, client }])
        });
    }
    let first_host = tasks.len();
    for (at, host) in args.ssh.iter().enumerate() {
        let remote = crate::client::ssh::Remote { read_only: true, ..args.remote() };
        let (host, all) = (host.clone(), args.all);
        tasks.spawn(async move { (first_host + at, over(host, remote, all).await) });
    }
    let mut reached = tasks.join_all().await;
    reached.sort_by_key(|(at, _)| *at);
    reached.into_iter().flat_map(|(_, r)| r).collect()
}

/// The engines of one host: all of them, or its default one.
async fn over(host: String, remote: crate::client::ssh::Remote, all: bool) -> Vec<Reached> {
    let reached =
        |name: String, client| Reached { name, place: Place::Host(host.clone()), named: true, client };
    if all {
        return match over_ssh_all(&host, &remote).await {
            Ok(found) if found.initial.is_empty() => {
                eprintln!("{host}: no sidetop engine there");
                Vec::new()
            }
            Ok(found) => found
                .initial
                .into_iter()
                .map(|(name, link)| reached(name, Ok(Client::from_link(link))))
                .collect(),
            Err(e) => vec![reached(host.clone(), Err(ClientError::Io(e)))],
        };
    }
    let client = over_ssh(&host, &remote).await.map(|(link, _stderr, _exited)| Client::from_link(link));
    vec![reached(host.clone(), client.map_err(ClientError::Io))]
}
