//! Load runs: N requests (or requests for a duration) at concurrency C, each recorded in
//! the sidecar's histograms like any other, with a summary of the run itself.

use super::Ipc;
use super::protocol::Origin;
use crate::config::ipc::RequestSpec;
use crate::metrics::latency::{OutcomeKind, Stats, Summary, format_us, log_bins};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Stop after this many requests...
    pub requests: Option<u64>,
    /// ...or after this long (whichever comes first when both are set).
    pub duration: Option<Duration>,
    pub concurrency: usize,
}

pub struct LoadReport {
    pub summary: Summary,
    pub elapsed: Duration,
    /// Log-spaced latency bins: (upper bound in us, count).
    pub bins: Vec<(u64, u64)>,
    /// The first failure, to tell the operator why.
    pub first_error: Option<String>,
}

pub async fn run(ipc: Arc<Ipc>, spec: RequestSpec, plan: LoadPlan) -> LoadReport {
    let started = Instant::now();
    let deadline = plan.duration.map(|d| started + d);
    let limit = plan.requests.unwrap_or(if deadline.is_some() { u64::MAX } else { 1 });
    let issued = Arc::new(AtomicU64::new(0));
    let stats = Arc::new(std::sync::Mutex::new(Stats::new(started)));
    let first_error = Arc::new(std::sync::Mutex::new(None));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.max(1) {
        let (ipc, spec, issued, stats, first_error) =
            (ipc.clone(), spec.clone(), issued.clone(), stats.clone(), first_error.clone());
        workers.spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < limit {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let exchange = ipc.request(&spec, Origin::Load).await;
                let kind = exchange.outcome.kind();
                if kind != OutcomeKind::Ok {
                    first_error.lock().unwrap().get_or_insert_with(|| exchange.outcome.to_string());
                }
                stats.lock().unwrap().record(Instant::now(), kind, exchange.latency);
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let stats = stats.lock().unwrap();
    let mut summary = stats.since_start(Instant::now());
    summary.per_second = summary.count as f64 / elapsed.as_secs_f64().max(1e-9);
    LoadReport {
        summary,
        elapsed,
        bins: log_bins(stats.histogram(), 10),
        first_error: first_error.lock().unwrap().clone(),
    }
}

impl LoadReport {
    /// A summary for terminals: counts by outcome, percentiles, rate, histogram.
    pub fn render(&self) -> String {
        let s = &self.summary;
        let mut out = format!(
            "{} requests in {:.2}s: {:.0} requests/s\n",
            s.count,
            self.elapsed.as_secs_f64(),
            s.per_second
        );
        let outcomes: Vec<String> = OutcomeKind::ALL
            .iter()
            .filter(|k| s.outcomes.get(**k) > 0)
            .map(|k| format!("{} {}", s.outcomes.get(*k), k.as_str()))
            .collect();
        out.push_str(&format!("outcomes: {}\n", outcomes.join(", ")));
        out.push_str(&format!(
            "latency: p50 {}  p90 {}  p99 {}  max {}\n",
            format_us(s.p50),
            format_us(s.p90),
            format_us(s.p99),
            format_us(s.max)
        ));
        let most = self.bins.iter().map(|b| b.1).max().unwrap_or(0).max(1);
        for (upper, count) in &self.bins {
            let bar = "#".repeat(((*count as f64 / most as f64) * 40.0).round() as usize);
            out.push_str(&format!("  <= {:>9} | {bar} {count}\n", format_us(*upper)));
        }
        if let Some(e) = &self.first_error {
            out.push_str(&format!("first error: {e}\n"));
        }
        out
    }
}
