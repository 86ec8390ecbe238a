//! What the dashboard knows of the engine: plain data, built from a snapshot and kept up
//! to date by the notices of the engine API. No handle, no lock: `render` reads it and
//! `update` changes it, both without the engine, in-process or attached alike.

use crate::api::{
    EventInfo, Host, LatencyInfo, LogLineInfo, Notice, Samples, SidecarInfo, SidecarSetup, Snapshot,
};
use crate::ipc::protocol::Exchange;
use crate::metrics::resources::{HISTORY, Sample};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events kept per sidecar.
const EVENTS: usize = 1000;
/// Exchanges kept per sidecar (as many as the engine keeps).
const TRAFFIC: usize = crate::ipc::stats::TRAFFIC;
/// How far back a duplicate (a notice that raced the snapshot) is looked for.
const RECENT: usize = 256;

/// One sidecar's log lines as far as the dashboard has them.
#[derive(Debug, Clone, Default)]
pub struct Scrollback {
    pub lines: VecDeque<LogLineInfo>,
    /// The sequence number to follow from: one past the last line received.
    pub next_seq: u64,
}

#[derive(Debug, Clone)]
pub struct SidecarView {
    pub setup: SidecarSetup,
    pub info: SidecarInfo,
    /// When `info` arrived: its uptime was measured then.
    pub info_at: Instant,
    pub logs: Scrollback,
    pub events: VecDeque<EventInfo>,
    pub samples: VecDeque<Sample>,
    pub limits: Vec<(String, String)>,
    pub latency: Option<LatencyInfo>,
    /// When `latency` arrived: its clock (`now`) was read then.
    pub latency_at: Instant,
    /// What an MCP or LSP server said about itself and offers.
    pub discovery: Option<crate::ipc::discovery::Discovery>,
    pub traffic: VecDeque<Arc<Exchange>>,
}

impl SidecarView {
    pub fn new(setup: SidecarSetup) -> SidecarView {
        SidecarView {
            info: SidecarInfo { name: setup.name.clone(), state: "idle".into(), ..SidecarInfo::default() },
            info_at: Instant::now(),
            setup,
            logs: Scrollback::default(),
            events: VecDeque::new(),
            samples: VecDeque::new(),
            limits: Vec::new(),
            latency: None,
            latency_at: Instant::now(),
            discovery: None,
            traffic: VecDeque::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.setup.name
    }

    /// Its request templates: the config's, then an MCP server's tools.
    pub fn templates(&self) -> Vec<crate::config::ipc::RequestTemplate> {
        let mut all = self.setup.requests.clone();
        all.extend(self.discovery.iter().flat_map(|d| d.templates()));
        all
    }

    /// The engine's clock now (unix seconds), from when the latency summary was taken:
    /// the latency chart scrolls with time even while no exchange happens.
    pub fn engine_now(&self) -> u64 {
        self.latency.as_ref().map_or(0, |l| l.now + self.latency_at.elapsed().as_secs())
    }

    pub fn has_ipc(&self) -> bool {
        self.setup.protocol.is_some()
    }

    /// Uptime now: as the engine measured it, plus the time since.
    pub fn uptime(&self) -> Option<Duration> {
        self.info.uptime().map(|u| u + self.info_at.elapsed())
    }

    /// The newest sample, while there is a process to measure.
    pub fn latest(&self) -> Option<Sample> {
        self.samples.back().copied().filter(|_| self.info.life.has_process())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The config the engine runs.
    pub config: String,
    /// The engine's process.
    pub pid: u32,
    pub interval: Duration,
    pub host: Host,
    /// Sampling rounds seen.
    pub taken: u64,
    pub sidecars: Vec<SidecarView>,
    /// Each sidecar's place in `sidecars` by name: every notice names its sidecar, and
    /// at 1,000 sidecars a search per notice entry was most of an idle dashboard's CPU.
    places: HashMap<String, usize>,
    /// Over several engines (`attach --all`), theirs in the rows' order; else empty.
    pub engines: Vec<String>,
}

fn push_capped<T>(list: &mut VecDeque<T>, item: T, cap: usize) {
    if list.len() >= cap {
        list.pop_front();
    }
    list.push_back(item);
}

impl Model {
    pub fn from_snapshot(s: Snapshot) -> Model {
        let mut sidecars: Vec<SidecarView> = s.setups.into_iter().map(SidecarView::new).collect();
        for (view, info) in sidecars.iter_mut().zip(s.sidecars) {
            view.info = info;
            view.info_at = Instant::now();
        }
        for (view, r) in sidecars.iter_mut().zip(s.resources) {
            view.samples = r.samples.into();
            view.limits = r.limits;
        }
        for (view, latency) in sidecars.iter_mut().zip(s.latency) {
            view.latency = latency;
            view.latency_at = Instant::now();
        }
        for (view, discovery) in sidecars.iter_mut().zip(s.discovered) {
            view.discovery = discovery;
        }
        for (view, traffic) in sidecars.iter_mut().zip(s.traffic) {
            view.traffic = traffic.into();
        }
        let mut model = Model {
            places: HashMap::new(),
            engines: Vec::new(),
            config: s.config,
            pid: s.pid,
            interval: Duration::from_millis(s.interval_ms),
            host: s.host,
            taken: s.taken,
            sidecars,
        };
        model.reindex();
        for event in s.events {
            model.event(event);
        }
        model
    }

    /// A new snapshot (the set of sidecars changed): the log lines already here stay.
    pub fn rebuild(&mut self, snapshot: Snapshot) {
        let mut fresh = Model::from_snapshot(snapshot);
        for view in &mut fresh.sidecars {
            if let Some(old) = self.named(view.name()) {
                view.logs = std::mem::take(&mut old.logs);
            }
        }
        *self = fresh;
    }

    /// An engine's part (its sidecars `ENGINE/NAME`) in place of what was shown of it, or
    /// after the others: their views stay as they are.
    fn join(&mut self, engine: &str, config: String, part: Snapshot) {
        let prefix = crate::api::fleet::qualified(engine, "");
        let mut fresh = Model::from_snapshot(part).sidecars;
        let theirs = |v: &SidecarView| v.name().starts_with(&prefix);
        // Every one before its first is another engine's: that is where its go.
        let at = self.sidecars.iter().position(theirs).unwrap_or(self.sidecars.len());
        let (mut old, kept): (Vec<SidecarView>, Vec<SidecarView>) =
            std::mem::take(&mut self.sidecars).into_iter().partition(theirs);
        self.sidecars = kept;
        for view in &mut fresh {
            if let Some(before) = old.iter_mut().find(|o| o.name() == view.name()) {
                view.logs = std::mem::take(&mut before.logs);
            }
        }
        self.sidecars.splice(at..at, fresh);
        self.reindex();
        self.config = config;
    }

    /// What is derived from the sidecars' order: the name index and the engines.
    fn reindex(&mut self) {
        self.places = self.sidecars.iter().enumerate().map(|(i, v)| (v.name().to_string(), i)).collect();
        self.engines = super::groups::engines_of(self.sidecars.iter().map(|v| v.name()));
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.places.get(name).copied()
    }

    fn named(&mut self, name: &str) -> Option<&mut SidecarView> {
        self.places.get(name).copied().and_then(|i| self.sidecars.get_mut(i))
    }

    /// One notice from the engine, applied.
    pub fn apply(&mut self, notice: Notice) {
        match notice {
            // A partial status names only the sidecars that changed: the rest stand.
            Notice::Status { sidecars, .. } => {
                for info in sidecars {
                    if let Some(view) = self.named(&info.name) {
                        view.info = info;
                        view.info_at = Instant::now();
                    }
                }
            }
            Notice::Event(event) => self.event(event),
            Notice::Discovered { sidecar, discovery } => {
                if let Some(view) = self.named(&sidecar) {
                    view.discovery = Some(*discovery);
                }
            }
            Notice::Log { sidecar, lines, gone } => {
                if let Some(view) = self.named(&sidecar) {
                    view.logs.append(lines, gone, view.setup.scrollback_lines);
                }
            }
            Notice::Samples(samples) => self.samples(samples),
            Notice::Latency { sidecar, latency } => {
                if let Some(view) = self.named(&sidecar) {
                    view.latency = Some(*latency);
                    view.latency_at = Instant::now();
                }
            }
            Notice::Exchange(exchange) => {
                if let Some(view) = self.named(&exchange.sidecar) {
                    let seen = view.traffic.iter().rev().take(RECENT).any(|e| same_exchange(e, &exchange));
                    if !seen {
                        push_capped(&mut view.traffic, exchange, TRAFFIC);
                    }
                }
            }
            // A fresh status follows it; the run loop says it on the status line.
            Notice::Skipped { .. } => {}
            // The run loop takes a new snapshot.
            Notice::Reloaded { .. } => {}
            Notice::Joined { engine, config, snapshot } => self.join(&engine, config, *snapshot),
        }
    }

    fn event(&mut self, event: EventInfo) {
        if let Some(view) = self.named(&event.sidecar) {
            // The same event in the snapshot and in the stream that raced it.
            if !view.events.iter().rev().take(RECENT).any(|e| *e == event) {
                push_capped(&mut view.events, event, EVENTS);
            }
        }
    }

    fn samples(&mut self, round: Samples) {
        if round.taken <= self.taken {
            return;
        }
        self.taken = round.taken;
        self.host = round.host;
        let mut named = vec![false; self.sidecars.len()];
        for (name, sample) in round.sidecars {
            if let Some(i) = self.index(&name) {
                named[i] = true;
                push_capped(&mut self.sidecars[i].samples, sample, HISTORY);
            }
        }
        // Those not named had the same figures again.
        if round.partial {
            for (view, _) in self.sidecars.iter_mut().zip(named).filter(|(_, named)| !named) {
                if let Some(&last) = view.samples.back() {
                    push_capped(&mut view.samples, last, HISTORY);
                }
            }
        }
        for (name, limits) in round.limits {
            if let Some(view) = self.named(&name) {
                view.limits = limits;
            }
        }
    }
}

fn same_exchange(a: &Exchange, b: &Exchange) -> bool {
    a.at == b.at && a.method == b.method && a.request == b.request && a.origin == b.origin
}

impl Scrollback {
    fn append(&mut self, lines: Vec<LogLineInfo>, gone: u64, cap: usize) {
        // Lines that went by faster than they could be shown: said where they are missing.
        if gone > 0
            && let Some(first) = lines.first()
        {
            let marker = LogLineInfo {
                seq: first.seq,
                at_ms: first.at_ms,
                stderr: false,
                text: format!(
                    "[sidetop] {gone} lines skipped here (faster than the screen, or gone from the scrollback)"
                ),
                cut: false,
            };
            push_capped(&mut self.lines, marker, cap.max(1));
        }
        for line in lines {
            // Lines already held (a follow restarted from an older point) are skipped.
            if line.seq < self.next_seq {
                continue;
            }
            self.next_seq = line.seq + 1;
            push_capped(&mut self.lines, line, cap.max(1));
        }
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }
}
