//! Latency over time: one point per wall-clock second with traffic (p50, p99, max, and
//! the count of errors and timeouts) for the last five minutes, so a spike or a slow drift
//! shows the second it starts and lines up with the logs and events of that second.
//! Memory is fixed: one histogram for the second in progress, then a summary per second.

use super::latency::OutcomeKind;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Seconds of history kept.
pub const SPAN_SECS: u64 = 300;
const MAX_US: u64 = 60_000_000;

/// One second of exchanges (seconds without any are not kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondPoint {
    /// Unix time of the second, in seconds.
    #[serde(rename = "t")]
    pub at: u64,
    /// Exchanges that ended in it.
    #[serde(rename = "n")]
    pub count: u32,
    /// Latency percentiles of those that got a reply, in microseconds (0 when none did).
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    /// Error replies, transport failures, malformed replies, exits with the request open.
    #[serde(rename = "err")]
    pub errors: u32,
    #[serde(rename = "to")]
    pub timeouts: u32,
}

pub struct Timeline {
    /// The second being filled, and its latencies.
    second: u64,
    hist: Histogram<u64>,
    open: SecondPoint,
    done: VecDeque<SecondPoint>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            second: 0,
            hist: Histogram::new_with_bounds(1, MAX_US, 2).expect("valid bounds"),
            open: SecondPoint::default(),
            done: VecDeque::new(),
        }
    }
}

impl Timeline {
    /// An exchange that ended at unix second `at`.
    pub fn record(&mut self, at: u64, outcome: OutcomeKind, latency: Option<Duration>) {
        if at != self.second {
            self.close();
            self.second = at;
            self.open = SecondPoint { at, ..SecondPoint::default() };
        }
        self.open.count += 1;
        match outcome {
            OutcomeKind::Ok => {}
            OutcomeKind::Timeout => self.open.timeouts += 1,
            _ => self.open.errors += 1,
        }
        if let Some(latency) = latency {
            self.hist.saturating_record((latency.as_micros() as u64).clamp(1, MAX_US));
        }
    }

    fn summary(&self) -> SecondPoint {
        let mut point = self.open;
        if !self.hist.is_empty() {
            point.p50 = self.hist.value_at_quantile(0.5);
            point.p99 = self.hist.value_at_quantile(0.99);
            point.max = self.hist.max();
        }
        point
    }

    fn close(&mut self) {
        if self.open.count > 0 {
            let point = self.summary();
            self.done.push_back(point);
            while self.done.front().is_some_and(|p| p.at + SPAN_SECS <= point.at) {
                self.done.pop_front();
            }
        }
        self.hist.reset();
    }

    /// The last five minutes before unix second `now` (included), oldest first.
    pub fn points(&self, now: u64) -> Vec<SecondPoint> {
        let since = now.saturating_sub(SPAN_SECS - 1);
        let mut out: Vec<SecondPoint> = self.done.iter().filter(|p| p.at >= since).copied().collect();
        if self.open.count > 0 && self.second >= since {
            out.push(self.summary());
        }
        out
    }
}

/// The current unix second.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn one_point_per_second_with_its_percentiles_and_failures() {
        let mut t = Timeline::default();
        for n in 1..=100 {
            t.record(1000, OutcomeKind::Ok, ms(n));
        }
        t.record(1000, OutcomeKind::Timeout, None);
        t.record(1002, OutcomeKind::Error, ms(500));
        let points = t.points(1002);
        assert_eq!(points.len(), 2, "a second without traffic has no point");
        let first = points[0];
        assert_eq!((first.at, first.count, first.timeouts, first.errors), (1000, 101, 1, 0));
        assert!((49_000..=51_000).contains(&first.p50), "{first:?}");
        assert!((98_000..=100_000).contains(&first.p99), "{first:?}");
        assert!((99_000..=101_000).contains(&first.max), "{first:?}");
        assert_eq!((points[1].at, points[1].errors, points[1].count), (1002, 1, 1));
        assert!((495_000..=505_000).contains(&points[1].p50), "the open second counts too");
    }

    #[test]
    fn what_is_older_than_five_minutes_is_forgotten() {
        let mut t = Timeline::default();
        for s in 0..400 {
            t.record(10_000 + s, OutcomeKind::Ok, ms(1));
        }
        let points = t.points(10_399);
        assert_eq!(points.len(), SPAN_SECS as usize);
        assert_eq!(points[0].at, 10_100);
        assert!(t.done.len() <= SPAN_SECS as usize, "memory stays bounded");
        assert!(t.points(20_000).is_empty(), "nothing in the last five minutes");
    }
}
