//! Latency and outcome statistics for a stream of exchanges: an HDR histogram since
//! start (bounded max; larger values are counted as outliers) and a sliding window of
//! the last minute made of six 10-second buckets. Memory is fixed however many
//! requests are recorded.

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Largest latency tracked exactly; beyond it a sample counts as an outlier (and is
/// recorded at the max so percentiles still see it).
pub const MAX_LATENCY: Duration = Duration::from_secs(60);
const MAX_US: u64 = 60_000_000;
pub const WINDOW: Duration = Duration::from_secs(60);
const BUCKET_SECS: u64 = 10;
const BUCKETS: usize = 6;

/// Why an exchange ended, reduced to a countable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeKind {
    Ok,
    /// A JSON-RPC error object, or an HTTP status that is not 2xx.
    Error,
    Timeout,
    Transport,
    Malformed,
    /// The sidecar exited with the request in flight.
    Exited,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 6] = [
        OutcomeKind::Ok,
        OutcomeKind::Error,
        OutcomeKind::Timeout,
        OutcomeKind::Transport,
        OutcomeKind::Malformed,
        OutcomeKind::Exited,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Error => "error",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::Transport => "transport",
            OutcomeKind::Malformed => "malformed",
            OutcomeKind::Exited => "exited",
        }
    }

    fn index(&self) -> usize {
        OutcomeKind::ALL.iter().position(|k| k == self).expect("listed")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutcomeCounts([u64; 6]);

impl OutcomeCounts {
    pub fn get(&self, kind: OutcomeKind) -> u64 {
        self.0[kind.index()]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn failures(&self) -> u64 {
        self.total() - self.get(OutcomeKind::Ok)
    }
    fn add(&mut self, kind: OutcomeKind) {
        self.0[kind.index()] += 1;
    }
    fn merge(&mut self, other: &OutcomeCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

struct Bucket {
    /// Which 10-second slot since `Stats::base` this bucket holds.
    slot: u64,
    hist: Histogram<u64>,
    outcomes: OutcomeCounts,
}

/// A summary for display: percentiles in microseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: u64,
    pub outcomes: OutcomeCounts,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub min: u64,
    pub mean: f64,
    pub per_second: f64,
}

pub struct Stats {
    base: Instant,
    all: Histogram<u64>,
    outcomes: OutcomeCounts,
    outliers: u64,
    buckets: Vec<Bucket>,
    first: Option<Instant>,
}

fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, sigfig).expect("valid bounds")
}

impl Stats {
    pub fn new(base: Instant) -> Stats {
        Stats {
            base,
            all: histogram(3),
            outcomes: OutcomeCounts::default(),
            outliers: 0,
            buckets: (0..BUCKETS)
                .map(|_| Bucket { slot: u64::MAX, hist: histogram(2), outcomes: OutcomeCounts::default() })
                .collect(),
            first: None,
        }
    }

    fn slot(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.base).as_secs() / BUCKET_SECS
    }

    /// Records one exchange that ended `now`; `latency` is absent when no reply came.
    pub fn record(&mut self, now: Instant, outcome: OutcomeKind, latency: Option<Duration>) {
        self.first.get_or_insert(now);
        self.outcomes.add(outcome);
        let slot = self.slot(now);
        let bucket = &mut self.buckets[(slot % BUCKETS as u64) as usize];
        if bucket.slot != slot {
            bucket.slot = slot;
            bucket.hist.reset();
            bucket.outcomes = OutcomeCounts::default();
        }
        bucket.outcomes.add(outcome);
        if let Some(latency) = latency {
            let mut us = latency.as_micros().max(1) as u64;
            if us > MAX_US {
                self.outliers += 1;
                us = MAX_US;
            }
            self.all.saturating_record(us);
            bucket.hist.saturating_record(us);
        }
    }

    pub fn outliers(&self) -> u64 {
        self.outliers
    }

    pub fn total(&self) -> u64 {
        self.outcomes.total()
    }

    pub fn since_start(&self, now: Instant) -> Summary {
        let elapsed = self.first.map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
        summarize(&self.all, self.outcomes, elapsed)
    }

    /// The last minute (to bucket precision: between 50 and 60 seconds).
    pub fn window(&self, now: Instant) -> Summary {
        let current = self.slot(now);
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        let mut hist = histogram(2);
        let mut outcomes = OutcomeCounts::default();
        for b in &self.buckets {
            if b.slot != u64::MAX && b.slot >= oldest && b.slot <= current {
                let _ = hist.add(&b.hist);
                outcomes.merge(&b.outcomes);
            }
        }
        // The window covers whole past buckets plus the part of the current one.
        let since_base = now.saturating_duration_since(self.base);
        let into_current = since_base - Duration::from_secs(current * BUCKET_SECS);
        let mut covered = Duration::from_secs((current - oldest) * BUCKET_SECS) + into_current;
        if let Some(first) = self.first {
            covered = covered.min(now.saturating_duration_since(first));
        }
        summarize(&hist, outcomes, covered)
    }

    /// The since-start histogram, for drawing bars.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.all
    }
}

fn summarize(hist: &Histogram<u64>, outcomes: OutcomeCounts, over: Duration) -> Summary {
    let count = outcomes.total();
    let per_second = if over.as_secs_f64() > 0.0 { count as f64 / over.as_secs_f64().max(1.0) } else { 0.0 };
    if hist.is_empty() {
        return Summary { count, outcomes, per_second, ..Summary::default() };
    }
    Summary {
        count,
        outcomes,
        p50: hist.value_at_quantile(0.5),
        p90: hist.value_at_quantile(0.9),
        p99: hist.value_at_quantile(0.99),
        p999: hist.value_at_quantile(0.999),
        max: hist.max(),
        min: hist.min(),
        mean: hist.mean(),
        per_second,
    }
}

/// Splits a histogram's min..max into `n` log-spaced bins: (upper bound, count).
pub fn log_bins(h: &Histogram<u64>, n: usize) -> Vec<(u64, u64)> {
    if h.is_empty() || n == 0 {
        return Vec::new();
    }
    let (lo, hi) = (h.min().max(1) as f64, h.max().max(2) as f64);
    let ratio = (hi / lo).powf(1.0 / n as f64).max(1.0001);
    let mut out = Vec::with_capacity(n);
    let mut lower = 0u64;
    for i in 1..=n {
        let upper = if i == n { h.max() } else { (lo * ratio.powi(i as i32)).ceil() as u64 };
        let count = h
            .iter_recorded()
            .filter(|v| v.value_iterated_to() > lower && v.value_iterated_to() <= upper)
            .map(|v| v.count_at_value())
            .sum();
        out.push((upper, count));
        lower = upper;
    }
    out
}

/// `412us`, `3.41ms`, `1.20s`.
/// `523µs`, `1.21ms`, `2.50s`; `523us` where the locale is not UTF-8 (a terminal that
/// would show `µ` as garbage).
pub fn format_us(us: u64) -> String {
    format_us_in(us, utf8_locale())
}

pub fn format_us_in(us: u64, utf8: bool) -> String {
    if us < 1_000 {
        format!("{us}{}", if utf8 { "µs" } else { "us" })
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// Whether the locale's character set is UTF-8 (the first of `LC_ALL`, `LC_CTYPE`, `LANG`
/// that is set decides, as the C library does).
pub fn utf8_locale() -> bool {
    static UTF8: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UTF8.get_or_init(|| {
        let set = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        set.contains("utf-8") || set.contains("utf8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_print_with_their_unit() {
        assert_eq!(format_us_in(523, true), "523µs");
        assert_eq!(format_us_in(523, false), "523us");
        assert_eq!(format_us_in(1_210, true), "1.21ms");
        assert_eq!(format_us_in(2_500_000, false), "2.50s");
    }

    #[test]
    fn percentiles_match_known_values() {
        let base = Instant::now();
        let mut s = Stats::new(base);
        for ms in 1..=100u64 {
            s.record(base, OutcomeKind::Ok, Some(Duration::from_millis(ms)));
        }
        let sum = s.since_start(base + Duration::from_secs(1));
        let close = |got: u64, want_ms: u64| {
            (got as f64 - want_ms as f64 * 1000.0).abs() <= want_ms as f64 * 1000.0 * 0.001 + 1.0
        };
        assert!(
            close(sum.p50, 50) && close(sum.p90, 90) && close(sum.p99, 99) && close(sum.max, 100),
            "{sum:?}"
        );
        assert_eq!(sum.count, 100);
    }

    #[test]
    fn log_bins_cover_every_sample() {
        let base = Instant::now();
        let mut s = Stats::new(base);
        for us in [10u64, 20, 40, 80, 160, 320, 640, 1280] {
            s.record(base, OutcomeKind::Ok, Some(Duration::from_micros(us)));
        }
        let bins = log_bins(s.histogram(), 4);
        assert_eq!(bins.len(), 4);
        assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 8);
        assert!(bins.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn outliers_are_counted_and_clamped() {
        let base = Instant::now();
        let mut s = Stats::new(base);
        s.record(base, OutcomeKind::Ok, Some(Duration::from_secs(3600)));
        assert_eq!(s.outliers(), 1);
        assert!(s.since_start(base).max <= MAX_US + MAX_US / 100);
    }

    #[test]
    fn the_window_forgets_what_is_older_than_a_minute() {
        let base = Instant::now();
        let mut s = Stats::new(base);
        s.record(base, OutcomeKind::Ok, Some(Duration::from_millis(5)));
        s.record(base, OutcomeKind::Timeout, None);
        let later = base + Duration::from_secs(65);
        s.record(later, OutcomeKind::Error, Some(Duration::from_millis(7)));
        let w = s.window(later);
        assert_eq!((w.count, w.outcomes.get(OutcomeKind::Error), w.outcomes.get(OutcomeKind::Ok)), (1, 1, 0));
        let all = s.since_start(later);
        assert_eq!((all.count, all.outcomes.get(OutcomeKind::Timeout)), (3, 1));
    }
}
