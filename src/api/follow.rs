//! Subscriptions: status, events, samples, latency, exchanges and log lines pushed to a
//! front end through its bounded [`Outbox`]. A front end that falls behind never slows
//! the engine or the children: what does not fit is counted, the front end is told how
//! many notices it missed (`skipped`, once its queue is empty) and gets a fresh `status`;
//! log followers pick up from the scrollback, and say how many lines left it before they
//! could be sent.

use super::build;
use super::engine::Engine;
use super::sample_rounds::SentSamples;
use super::wire::*;
use crate::supervisor::SidecarHandle;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

/// Notices queued for one front end at most.
const OUTBOX: usize = 1024;
/// Lines per `log` notice at most.
const LINES_PER_NOTICE: usize = 512;
/// Without a sampling round (a long `--sample-interval`), line counts refresh this often.
const STATUS_FALLBACK: Duration = Duration::from_secs(5);
/// Status is sent at most this often (a restart storm is many changes).
const STATUS_EVERY: Duration = Duration::from_millis(15);
/// Latency summaries of sidecars with new exchanges, at most this often.
const LATENCY_EVERY: Duration = Duration::from_millis(250);
/// A screen's log follower waits this many times its pace while its sidecar floods.
const FLOOD_PACE_FACTOR: u32 = 4;
/// A log follower whose front end is behind tries again after this long.
const RETRY: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Notice>,
    skipped: Arc<AtomicU64>,
}

pub fn outbox() -> (Outbox, mpsc::Receiver<Notice>) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    (Outbox { tx, skipped: Arc::default() }, rx)
}

enum Offer {
    Sent,
    Full,
    Gone,
}

impl Outbox {
    /// Dropped and counted when the front end is behind; false when it is gone.
    fn notify(&self, notice: Notice) -> bool {
        match self.offer(notice) {
            Offer::Sent => true,
            Offer::Full => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Offer::Gone => false,
        }
    }

    /// Sent if there is room, without counting it as skipped when there is not (log
    /// followers try again later from the same line).
    fn offer(&self, notice: Notice) -> Offer {
        match self.tx.try_send(notice) {
            Ok(()) => Offer::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Gone,
        }
    }

    /// The count of notices dropped, for the writer (holds no sender: the queue still
    /// closes when the session ends).
    pub fn skipped(&self) -> Skipped {
        Skipped(self.skipped.clone())
    }
}

pub struct Skipped(Arc<AtomicU64>);

impl Skipped {
    /// For the writer once it has emptied the queue: `skipped` and a fresh `status`, when
    /// anything was dropped.
    pub fn notices(&self, engine: &Engine) -> Option<[Notice; 2]> {
        let count = self.0.swap(0, Ordering::Relaxed);
        (count > 0).then(|| {
            [Notice::Skipped { count }, Notice::Status { sidecars: engine.status(), partial: false }]
        })
    }
}

/// What a front end asked to follow (besides logs, see [`logs`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    pub events: bool,
    pub status: bool,
    /// Resource samples, every sampling round.
    pub samples: bool,
    /// Exchanges as they happen, and latency summaries of the sidecars they touch.
    pub traffic: bool,
}

pub fn start(tasks: &mut JoinSet<()>, engine: &Arc<Engine>, outbox: &Outbox, follow: Follow) {
    if follow.events {
        tasks.spawn(events(engine.supervisor.subscribe(), outbox.clone()));
    }
    // Every receiver is made here, before `subscribe` answers: nothing that happens after
    // the answer is missed.
    if follow.status {
        let watched = Watched {
            statuses: engine.supervisor.watch_statuses(),
            set: engine.supervisor.watch_set(),
            reloads: engine.subscribe_reloads(),
            rounds: engine.samples_taken(),
        };
        tasks.spawn(status(engine.clone(), outbox.clone(), watched));
    }
    if follow.samples {
        tasks.spawn(samples(engine.clone(), outbox.clone(), engine.samples_taken()));
    }
    if follow.traffic {
        tasks.spawn(traffic(engine.clone(), engine.supervisor.subscribe_exchanges(), outbox.clone()));
    }
}

async fn events(mut rx: broadcast::Receiver<crate::supervisor::Event>, outbox: Outbox) {
    loop {
        match rx.recv().await {
            Ok(event) => {
                if !outbox.notify(Notice::Event(build::event(&event))) {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                outbox.skipped.fetch_add(n, Ordering::Relaxed);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// What the status follower wakes on.
struct Watched {
    /// Any sidecar's status (one receiver for all of them).
    statuses: tokio::sync::watch::Receiver<u64>,
    set: tokio::sync::watch::Receiver<u64>,
    reloads: broadcast::Receiver<(bool, String)>,
    /// Sampling rounds: line counts are refreshed with them (uptimes need no refresh: a
    /// front end counts them from the start time it has).
    rounds: tokio::sync::watch::Receiver<u64>,
}

/// Pushes the status of the sidecars that changed: every sidecar in the first notice and
/// after a reload, then only those whose status moved (at 1,000 sidecars a full list is
/// about 240 KB; one restart should not send it all). Uptimes and backoff countdowns are
/// not changes: the front end counts them on.
async fn status(engine: Arc<Engine>, outbox: Outbox, watched: Watched) {
    let Watched { mut statuses, mut set, mut reloads, mut rounds } = watched;
    let mut last: HashMap<String, SidecarInfo> = HashMap::new();
    let mut discoveries: HashMap<String, u64> = Default::default();
    let mut sent_at = tokio::time::Instant::now();
    let mut version = *set.borrow_and_update();
    let mut whole = true;
    // Lines captured and servers' self-descriptions, every sidecar's together: both only
    // grow, so a sampling round that finds the same total has nothing to say (building
    // 1,000 statuses to find that out was most of an idle agent's status follower).
    let moved = |engine: &Engine| -> u64 {
        let sidecars = engine.supervisor.sidecars();
        let discovered = |h: &SidecarHandle| h.ipc().map_or(0, |ipc| *ipc.discovery_version.borrow());
        sidecars.iter().map(|h| h.lines_now() + discovered(h)).sum()
    };
    loop {
        // Marked seen before reading: whatever changes from here on wakes the next round.
        statuses.borrow_and_update();
        rounds.borrow_and_update();
        let now_version = *set.borrow_and_update();
        if now_version != version {
            version = now_version;
            whole = true;
        }
        let moved_then = moved(&engine);
        let now = engine.status();
        let changed: Vec<SidecarInfo> = if whole {
            now.clone()
        } else {
            now.iter()
                .filter(|s| last.get(&s.name).is_none_or(|l| !l.same_apart_from_clocks(s)))
                .cloned()
                .collect()
        };
        if whole || !changed.is_empty() {
            if !outbox.notify(Notice::Status { sidecars: changed, partial: !whole }) {
                return;
            }
            sent_at = tokio::time::Instant::now();
        }
        if whole {
            last.clear();
        }
        last.extend(now.into_iter().map(|s| (s.name.clone(), s)));
        whole = false;
        // Servers that said something new about themselves (after a handshake, a
        // changed tool list).
        for h in engine.supervisor.sidecars().iter() {
            let Some(ipc) = h.ipc() else { continue };
            let version = *ipc.discovery_version.borrow();
            if version > 0 && discoveries.get(&*h.name) != Some(&version) {
                discoveries.insert(h.name.to_string(), version);
                let discovery = Box::new(ipc.discovery());
                if !outbox.notify(Notice::Discovered { sidecar: h.name.to_string(), discovery }) {
                    return;
                }
            }
        }
        // A sampling round with nothing new is waited through.
        loop {
            let mut round_only = false;
            tokio::select! {
                _ = statuses.changed() => {}
                _ = set.changed() => {}
                reload = reloads.recv() => {
                    if let Ok((ok, text)) = reload
                        && !outbox.notify(Notice::Reloaded { ok, text })
                    {
                        return;
                    }
                }
                _ = rounds.changed() => round_only = true,
                _ = tokio::time::sleep(STATUS_FALLBACK) => {}
            }
            if !(round_only && moved(&engine) == moved_then) {
                break;
            }
        }
        // A change after a quiet spell goes out at once; a storm, at most this often.
        tokio::time::sleep_until(sent_at + STATUS_EVERY).await;
    }
}

/// Each sampling round: the host, and the sidecars whose figures changed (all of them
/// first); limits when a sidecar's process changed (read by the sampler per process).
async fn samples(engine: Arc<Engine>, outbox: Outbox, mut taken: tokio::sync::watch::Receiver<u64>) {
    taken.mark_unchanged();
    let mut sent = SentSamples::new(&engine.resources());
    while taken.changed().await.is_ok() {
        let round = sent.round(&engine.resources());
        match outbox.offer(Notice::Samples(round)) {
            Offer::Sent => {}
            // Not seen: the next round says everything again.
            Offer::Full => {
                outbox.skipped.fetch_add(1, Ordering::Relaxed);
                sent.forget();
            }
            Offer::Gone => return,
        }
    }
}

async fn traffic(
    engine: Arc<Engine>,
    mut rx: broadcast::Receiver<Arc<crate::ipc::protocol::Exchange>>,
    outbox: Outbox,
) {
    let mut touched: HashSet<Arc<str>> = HashSet::new();
    let mut flush = tokio::time::interval(LATENCY_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(exchange) => {
                    touched.insert(exchange.sidecar.clone());
                    if !outbox.notify(Notice::Exchange(exchange)) {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    outbox.skipped.fetch_add(n, Ordering::Relaxed);
                    touched.extend(engine.supervisor.sidecars().iter().map(|h| h.name.clone()));
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = flush.tick(), if !touched.is_empty() => {
                for name in touched.drain() {
                    if let Some(latency) = engine.latency(&name)
                        && !outbox.notify(Notice::Latency { sidecar: name.to_string(), latency: Box::new(latency) })
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// How a log follower delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Every line it can (scripts, `ctl logs -f`): a line is skipped only once it has left
    /// the scrollback before it could be sent.
    Every,
    /// For a screen: one pass at most this often, of the newest lines a screen keeps (the
    /// sidecar's scrollback); older ones are counted as gone, not serialized for nothing.
    Screen(Duration),
}

/// Follows one sidecar's log from sequence number `from` (by default, from now).
pub fn logs(
    tasks: &mut JoinSet<()>,
    handle: Arc<SidecarHandle>,
    outbox: &Outbox,
    from: Option<u64>,
    stderr_only: bool,
    pace: Pace,
) {
    let outbox = outbox.clone();
    let mut next = from.unwrap_or_else(|| handle.logs().total_lines);
    let keep = handle.config.output.scrollback_lines as u64;
    tasks.spawn(async move {
        let mut lines_seen = handle.watch_lines();
        let (mut skipped, mut flooding) = (0, false);
        let mut pass = tokio::time::Instant::now();
        loop {
            // No room for a notice: wait, without copying lines only to throw them away.
            if outbox.tx.capacity() == 0 {
                if outbox.tx.is_closed() {
                    return;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
            if pace != Pace::Every {
                let total = handle.logs().total_lines;
                if total.saturating_sub(next) > keep {
                    flooding = true;
                    skipped += total - keep - next;
                    next = total - keep;
                }
            }
            let (lines, gone, after) = build::lines_from(&handle, next, LINES_PER_NOTICE, stderr_only);
            let caught_up = lines.len() < LINES_PER_NOTICE;
            if !lines.is_empty() || gone + skipped > 0 {
                let notice = Notice::Log { sidecar: handle.name.to_string(), lines, gone: gone + skipped };
                match outbox.offer(notice) {
                    Offer::Sent => skipped = 0,
                    // The front end is behind: the same lines again in a moment (or, if
                    // they have left the scrollback by then, how many are gone).
                    Offer::Full => {
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                    Offer::Gone => return,
                }
            }
            next = after;
            if caught_up {
                if lines_seen.changed().await.is_err() {
                    return;
                }
                if let Pace::Screen(every) = pace {
                    // Lines skipped in this pass: a flood nobody can read line by line;
                    // fewer, bigger passes cost the engine (and the child) less.
                    let every = if flooding { every * FLOOD_PACE_FACTOR } else { every };
                    tokio::time::sleep_until(pass + every).await;
                }
                flooding = false;
                pass = tokio::time::Instant::now();
            }
        }
    });
}
