//! Fixed-bound latency buckets for the Prometheus histogram: cheap to fill on every
//! exchange (a short search), fine enough to tell 50 µs from 200 µs, and reaching 30 s,
//! in few buckets (each is one line per method and outcome in every scrape): powers of
//! four from 50 µs.
//! The HDR histograms stay the source of the dashboard's percentiles.

use std::time::Duration;

/// Upper bounds in seconds (`+Inf` is implied).
pub const BOUNDS: [f64; 11] =
    [0.000_05, 0.000_2, 0.000_8, 0.003_2, 0.012_8, 0.051_2, 0.204_8, 0.819_2, 3.276_8, 13.107_2, 30.0];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    pub counts: [u64; BOUNDS.len() + 1],
    pub sum: f64,
    pub count: u64,
}

impl Buckets {
    pub fn observe(&mut self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let at = BOUNDS.partition_point(|&bound| bound < seconds);
        self.counts[at] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// (upper bound, count) pairs, `+Inf` last, as an exposition encoder takes them.
    pub fn pairs(&self) -> Vec<(f64, u64)> {
        BOUNDS.iter().copied().chain([f64::INFINITY]).zip(self.counts).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_at_or_below_their_bound() {
        let mut b = Buckets::default();
        b.observe(Duration::from_micros(50));
        b.observe(Duration::from_micros(51));
        b.observe(Duration::from_micros(200));
        b.observe(Duration::from_secs(40));
        assert_eq!(b.counts[0], 1, "50 µs is in le=0.00005");
        assert_eq!(b.counts[1], 2, "51 and 200 µs are in le=0.0002");
        assert_eq!(b.counts[BOUNDS.len()], 1, "past 30 s: +Inf");
        assert_eq!(b.count, 4);
    }
}
