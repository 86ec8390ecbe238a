//! The ssh hosts of a dashboard over several engines: each connection kept for as long
//! as the dashboard runs. One that drops (ssh exits: the network went, the host
//! rebooted) is tried again with backoff, from half a second doubling to 30 s, its
//! engines' sidecars marked `retrying` (reconnecting) with the try, when the next is and why the
//! last failed; when the host answers again its engines join as they were.

use crate::api::fleet::Fleet;
use crate::api::link::Link;
use crate::client::ssh::{self, Remote};
use crate::client::ssh_all::over_ssh_all;
use std::io;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// A host and which of its engines.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    /// Every engine there (named `HOST:ENGINE`), else its default one.
    pub all: bool,
    /// The default engine's name in the fleet: the host's, or "" in a fleet of one.
    pub named: String,
    pub remote: Remote,
}

/// What one connection to a host gave: its engines, those found there later (with
/// `--all`), and, when the connection ends, the engines it still carried.
pub struct Reached {
    pub engines: Vec<(String, Link)>,
    later: Option<mpsc::Receiver<(String, Link)>>,
    exited: oneshot::Receiver<Vec<String>>,
}

/// The target's engines.
pub async fn reach(target: &Target) -> io::Result<Reached> {
    if target.all {
        let found = over_ssh_all(&target.host, &target.remote).await?;
        return Ok(Reached { engines: found.initial, later: Some(found.later), exited: found.exited });
    }
    let (link, _kept, exited) = ssh::over_ssh(&target.host, &target.remote).await?;
    let (carried_tx, carried) = oneshot::channel();
    let name = target.named.clone();
    tokio::spawn(async move {
        let _ = exited.await;
        let _ = carried_tx.send(vec![name]);
    });
    Ok(Reached { engines: vec![(target.named.clone(), link)], later: None, exited: carried })
}

/// Keeps `host` in `fleet`: engines found there later join; a dropped connection is
/// made again. `reached` is the first connection, its engines already in the fleet.
pub async fn keep(target: Target, fleet: Fleet, mut reached: Reached) {
    let host = &target.host;
    loop {
        let mut later = reached.later.take();
        let mut exited = reached.exited;
        // The engines the connection still carried when it dropped are the ones to say
        // are being retried (one lost before stays lost).
        let mut answering = loop {
            let found = async {
                match later.as_mut() {
                    Some(later) => later.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                open = &mut exited => break open.unwrap_or_default(),
                Some((name, link)) = found => fleet.add(name, link).await,
            }
        };
        if fleet.is_stopping() {
            // Asked to shut down, and gone: not to be reconnected.
            fleet.end();
            return;
        }
        let dropped = chrono::Local::now().format("%H:%M:%S");
        // The engines' relays mark them lost as their links close: after that.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (mut delay, mut tries, mut why) = (FIRST_RETRY, 1u32, String::new());
        reached = loop {
            let text = format!(
                "reconnecting to {host}: try {tries} in {}{why}; dropped at {dropped}",
                crate::text::duration::short_duration(delay)
            );
            fleet.mark_lost(&answering, "retrying", &text).await;
            tokio::time::sleep(delay).await;
            match reach(&target).await {
                Ok(again) => break again,
                Err(e) => {
                    let last = e.to_string().lines().last().unwrap_or_default().to_string();
                    why = format!(" (last: {last})");
                    tries += 1;
                    delay = (delay * 2).min(LONGEST_RETRY);
                }
            }
        };
        let back = std::mem::take(&mut reached.engines);
        answering.retain(|name| !back.iter().any(|(n, _)| n == name));
        let text = format!("lost: not on {host} when it answered again");
        fleet.mark_lost(&answering, "lost", &text).await;
        for (name, link) in back {
            fleet.add(name, link).await;
        }
    }
}
