//! Per-sidecar IPC metrics: latency and outcomes overall and per method, counters of
//! protocol trouble, and a bounded ring of recent exchanges for the traffic inspector.

use super::protocol::{Exchange, Origin};
use crate::metrics::buckets::Buckets;
use crate::metrics::latency::{OutcomeKind, Stats};
use crate::metrics::timeline::{Timeline, unix_now};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// Distinct method names tracked; further ones share one entry.
pub const MAX_METHODS: usize = 64;
pub const OTHER_METHODS: &str = "(other)";
/// Recent exchanges kept, with their (capped) request and response text.
pub const TRAFFIC: usize = 200;

pub struct IpcMetrics {
    base: Instant,
    pub overall: Stats,
    pub methods: BTreeMap<String, Stats>,
    /// The same per method and who asked (the application's calls beside sidetop's own
    /// health checks and test requests), for `ctl latency`.
    pub by_origin: BTreeMap<(String, Origin), Stats>,
    /// Replies that came after their request timed out.
    pub late: u64,
    /// Malformed frames, replies with unknown ids, oversize frames.
    pub protocol_errors: u64,
    /// Notifications and requests the sidecar sent on its own.
    pub incoming: u64,
    pub traffic: VecDeque<Arc<Exchange>>,
    /// The last handshake's exchanges, in order.
    pub handshake: Vec<Arc<Exchange>>,
    /// Latency by method (capped as `methods` is) and outcome, for the exporter.
    pub buckets: BTreeMap<(String, OutcomeKind), Buckets>,
    /// Every exchange's latency and outcome per second, the last five minutes.
    pub timeline: Timeline,
    /// What the sidecar sent on its own (notifications, subscriptions), per method: a
    /// count since start and a rate over the last minute.
    pub pushes: BTreeMap<String, Stats>,
}

/// Handshake exchanges kept per run, at most: a server that sends `list_changed` in a
/// loop must not grow them.
pub const HANDSHAKE_KEPT: usize = 16;

impl IpcMetrics {
    pub fn new(base: Instant) -> IpcMetrics {
        IpcMetrics {
            base,
            overall: Stats::new(base),
            methods: BTreeMap::new(),
            by_origin: BTreeMap::new(),
            late: 0,
            protocol_errors: 0,
            incoming: 0,
            traffic: VecDeque::new(),
            handshake: Vec::new(),
            buckets: BTreeMap::new(),
            timeline: Timeline::default(),
            pushes: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, exchange: &Arc<Exchange>, now: Instant) {
        let kind = exchange.outcome.kind();
        self.overall.record(now, kind, exchange.latency);
        self.timeline.record(unix_now(), kind, exchange.latency);
        let key = if self.methods.contains_key(&exchange.method) || self.methods.len() < MAX_METHODS {
            exchange.method.clone()
        } else {
            OTHER_METHODS.to_string()
        };
        let base = self.base;
        let latency = match &exchange.outcome {
            super::protocol::Outcome::Timeout(after) => Some(*after),
            _ => exchange.latency,
        };
        if let Some(latency) = latency {
            self.buckets.entry((key.clone(), kind)).or_default().observe(latency);
        }
        self.by_origin.entry((key.clone(), exchange.origin)).or_insert_with(|| Stats::new(base)).record(
            now,
            kind,
            exchange.latency,
        );
        self.methods.entry(key).or_insert_with(|| Stats::new(base)).record(now, kind, exchange.latency);
        // Only the start of a run's handshake is needed (the `initialize` reply); MCP
        // relists (also handshake-origin) past the cap are in the traffic only.
        if exchange.origin == Origin::Handshake && self.handshake.len() < HANDSHAKE_KEPT {
            self.handshake.push(exchange.clone());
        }
        self.keep(exchange);
    }

    pub fn record_unsolicited(&mut self, exchange: &Arc<Exchange>) {
        if exchange.outcome.is_ok() {
            self.incoming += 1;
            let key = if self.pushes.contains_key(&exchange.method) || self.pushes.len() < MAX_METHODS {
                exchange.method.clone()
            } else {
                OTHER_METHODS.to_string()
            };
            let base = self.base;
            self.pushes.entry(key).or_insert_with(|| Stats::new(base)).record(
                Instant::now(),
                OutcomeKind::Ok,
                None,
            );
        } else {
            self.protocol_errors += 1;
        }
        self.keep(exchange);
    }

    fn keep(&mut self, exchange: &Arc<Exchange>) {
        if self.traffic.len() == TRAFFIC {
            self.traffic.pop_front();
        }
        self.traffic.push_back(exchange.clone());
    }

    /// A new process: its handshake starts over.
    pub fn start_handshake(&mut self) {
        self.handshake.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::{Exchange, Outcome};

    /// An MCP server that says `list_changed` in a loop makes sidetop list its tools
    /// again and again (handshake-origin exchanges): what is kept stays bounded.
    #[test]
    fn handshake_exchanges_kept_are_bounded() {
        let mut metrics = IpcMetrics::new(Instant::now());
        for i in 0..1000 {
            let exchange = Arc::new(Exchange {
                sidecar: "mcp".into(),
                at: std::time::SystemTime::now(),
                method: if i == 0 { "initialize".into() } else { "tools/list".into() },
                origin: Origin::Handshake,
                request: None,
                response: None,
                latency: Some(std::time::Duration::from_millis(1)),
                outcome: Outcome::Ok,
                status: None,
                spec: None,
            });
            metrics.record(&exchange, Instant::now());
        }
        assert_eq!(metrics.handshake.len(), HANDSHAKE_KEPT);
        assert_eq!(metrics.handshake[0].method, "initialize", "the start of the handshake is what is kept");
        assert!(metrics.traffic.len() <= TRAFFIC);
        metrics.start_handshake();
        assert!(metrics.handshake.is_empty());
    }
}
