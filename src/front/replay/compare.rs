//! Then against now: recorded exchanges beside their replays, per method (count, p50 and
//! p99 then and now, failures) and one by one (outcomes that got worse, with both
//! replies). Pure: no I/O, so the verdict is tested on its own.

use crate::api::record::file::Record;
use crate::metrics::latency::format_us;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How a replayed request went.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// `ok`, `error`, `timeout`, ... (as recorded).
    pub outcome: String,
    /// The outcome in words when not ok.
    pub error: Option<String>,
    pub response: Option<String>,
    pub latency_us: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MethodRow {
    pub method: String,
    pub count: u64,
    pub p50: (u64, u64),
    pub p99: (u64, u64),
    pub failures: (u64, u64),
    /// p50 now against then, as a fraction (0.25 = 25% slower); `None` without replies.
    pub change: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Worse {
    /// Position in the replayed sequence, from 1.
    pub number: usize,
    pub method: String,
    pub then: String,
    pub now: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub rows: Vec<MethodRow>,
    pub worse: Vec<Worse>,
    /// Outcomes that got better (failed then, succeed now).
    pub better: usize,
    /// Methods whose p50 regressed past the limit, in words.
    pub regressions: Vec<String>,
    pub max_regression: f64,
}

/// How bad an outcome is: a reply beats an error reply, which beats no reply at all.
fn rank(outcome: &str) -> u8 {
    match outcome {
        "ok" => 0,
        "error" => 1,
        _ => 2,
    }
}

/// Worse outcomes listed at most, with their replies.
const WORSE_SHOWN: usize = 10;
/// Reply text quoted per side.
const QUOTED: usize = 200;

fn quote(outcome: &str, error: Option<&str>, response: Option<&str>) -> String {
    let mut text = error.unwrap_or(outcome).to_string();
    if let Some(response) = response {
        let one_line: String = response.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(QUOTED).collect();
        let more = if cut.len() < one_line.len() { "…" } else { "" };
        let _ = write!(text, ": {cut}{more}");
    }
    text
}

/// Up to an hour, in microseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

fn percentile(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() { 0 } else { h.value_at_quantile(q) }
}

/// Below this, a slower p50 is never a regression: a shared machine's scheduling alone
/// moves a fast method's p50 by tens of microseconds between runs.
pub const MIN_NOISE_US: u64 = 250;

/// The recording's own spread: twice its interquartile range, at least `MIN_NOISE_US`.
/// A method whose latencies varied by a millisecond then may vary by that much now.
pub fn noise_floor(then: &Histogram<u64>) -> u64 {
    let iqr = percentile(then, 0.75).saturating_sub(percentile(then, 0.25));
    (2 * iqr).max(MIN_NOISE_US)
}

/// How much a method's p50 may grow before it is a regression: `max_regression` of its
/// p50 then, or the noise floor, whichever is more. The rule, in the README: a method
/// regressed when `p50 now - p50 then > max(max_regression x p50 then, 2 x IQR then,
/// 250 µs)`.
pub fn allowed_slowdown(then: &Histogram<u64>, max_regression: f64) -> u64 {
    let relative = (percentile(then, 0.5) as f64 * max_regression) as u64;
    relative.max(noise_floor(then))
}

pub fn compare(pairs: &[(&Record, Replayed)], max_regression: f64) -> Comparison {
    struct Acc {
        count: u64,
        then: Histogram<u64>,
        now: Histogram<u64>,
        failures: (u64, u64),
    }
    let mut methods: BTreeMap<&str, Acc> = BTreeMap::new();
    let mut worse = Vec::new();
    let mut better = 0;
    for (i, (then, now)) in pairs.iter().enumerate() {
        let acc = methods.entry(then.method.as_str()).or_insert_with(|| Acc {
            count: 0,
            then: histogram(),
            now: histogram(),
            failures: (0, 0),
        });
        acc.count += 1;
        if let Some(us) = then.latency_us {
            acc.then.saturating_record(us.max(1));
        }
        if let Some(us) = now.latency_us {
            acc.now.saturating_record(us.max(1));
        }
        acc.failures.0 += u64::from(!then.is_ok());
        acc.failures.1 += u64::from(now.outcome != "ok");
        match rank(&now.outcome).cmp(&rank(&then.outcome)) {
            std::cmp::Ordering::Greater => worse.push(Worse {
                number: i + 1,
                method: then.method.clone(),
                then: quote(&then.outcome, then.error.as_deref(), then.response.as_deref()),
                now: quote(&now.outcome, now.error.as_deref(), now.response.as_deref()),
            }),
            std::cmp::Ordering::Less => better += 1,
            std::cmp::Ordering::Equal => {}
        }
    }
    let mut regressions = Vec::new();
    let rows = methods
        .into_iter()
        .map(|(method, acc)| {
            let p50 = (percentile(&acc.then, 0.5), percentile(&acc.now, 0.5));
            let change = (p50.0 > 0 && p50.1 > 0).then(|| p50.1 as f64 / p50.0 as f64 - 1.0);
            let allowed = allowed_slowdown(&acc.then, max_regression);
            if change.is_some() && p50.1.saturating_sub(p50.0) > allowed {
                regressions.push(format!(
                    "{method}: p50 {} then, {} now (+{:.0}%, +{}: more than the {} allowed, {:.0}% of p50 \
                     then and at least {} of noise)",
                    format_us(p50.0),
                    format_us(p50.1),
                    change.unwrap_or(0.0) * 100.0,
                    format_us(p50.1 - p50.0),
                    format_us(allowed),
                    max_regression * 100.0,
                    format_us(noise_floor(&acc.then)),
                ));
            }
            MethodRow {
                method: method.to_string(),
                count: acc.count,
                p50,
                p99: (percentile(&acc.then, 0.99), percentile(&acc.now, 0.99)),
                failures: acc.failures,
                change,
            }
        })
        .collect();
    Comparison { rows, worse, better, regressions, max_regression }
}

impl Comparison {
    /// An outcome got worse or a p50 regressed past the limit.
    pub fn failed(&self) -> bool {
        !self.worse.is_empty() || !self.regressions.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self.rows.iter().map(|r| r.method.chars().count()).max().unwrap_or(6).max(6);
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>9}  {:>9}  {:>7}  {:>9}  {:>9}  {:>13}",
            "method", "count", "p50 then", "p50 now", "change", "p99 then", "p99 now", "failed then→now"
        );
        for r in &self.rows {
            let change = r.change.map_or("-".to_string(), |c| format!("{:+.1}%", c * 100.0));
            let _ = writeln!(
                out,
                "{:<width$}  {:>6}  {:>9}  {:>9}  {:>7}  {:>9}  {:>9}  {:>13}",
                r.method,
                r.count,
                format_us(r.p50.0),
                format_us(r.p50.1),
                change,
                format_us(r.p99.0),
                format_us(r.p99.1),
                format!("{} → {}", r.failures.0, r.failures.1)
            );
        }
        if self.better > 0 {
            let _ = writeln!(out, "{} outcomes got better (failed then, answered now)", self.better);
        }
        if !self.worse.is_empty() {
            let _ = writeln!(out, "{} outcomes got worse:", self.worse.len());
            for w in self.worse.iter().take(WORSE_SHOWN) {
                let _ =
                    writeln!(out, "  #{} {}\n    then: {}\n    now:  {}", w.number, w.method, w.then, w.now);
            }
            if self.worse.len() > WORSE_SHOWN {
                let _ = writeln!(out, "  … and {} more", self.worse.len() - WORSE_SHOWN);
            }
        }
        for r in &self.regressions {
            let _ = writeln!(out, "regression: {r}");
        }
        let verdict = if self.failed() {
            "worse than the recording"
        } else {
            "no outcome got worse, no p50 regressed past the limit"
        };
        let _ = writeln!(out, "{verdict}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::Origin;

    fn record(method: &str, outcome: &str, latency_us: u64) -> Record {
        Record {
            at_us: 0,
            sidecar: "s".into(),
            origin: Origin::Load,
            method: method.into(),
            spec: None,
            request: None,
            response: Some("{\"result\": 1}".into()),
            latency_us: Some(latency_us),
            outcome: outcome.into(),
            error: (outcome != "ok").then(|| format!("{outcome}!")),
            status: None,
        }
    }

    fn now(outcome: &str, latency_us: Option<u64>) -> Replayed {
        Replayed {
            outcome: outcome.into(),
            error: (outcome != "ok").then(|| "timeout after 5s".into()),
            response: None,
            latency_us,
        }
    }

    #[test]
    fn the_same_traffic_passes() {
        let then: Vec<Record> = (0..100).map(|i| record("get", "ok", 1000 + i)).collect();
        let pairs: Vec<_> = then.iter().map(|r| (r, now("ok", Some(r.latency_us.unwrap() + 50)))).collect();
        let c = compare(&pairs, 0.2);
        assert!(!c.failed(), "{}", c.render());
        assert_eq!(c.rows[0].count, 100);
    }

    #[test]
    fn a_slower_p50_past_the_limit_is_a_regression_named_by_method() {
        let then: Vec<Record> =
            (0..10).map(|_| record("get", "ok", 1000)).chain([record("put", "ok", 500)]).collect();
        let pairs: Vec<_> =
            then.iter().map(|r| (r, now("ok", Some(if r.method == "get" { 1300 } else { 500 })))).collect();
        let c = compare(&pairs, 0.2);
        assert!(c.failed());
        assert_eq!(c.regressions.len(), 1, "{:?}", c.regressions);
        assert!(
            c.regressions[0].starts_with("get: p50 1.00ms then, 1.30ms now (+30%"),
            "{:?}",
            c.regressions
        );
        assert!(!compare(&pairs, 0.35).failed(), "within a looser limit");
    }

    /// The noise floor: a fast method's p50 doubling by scheduling noise is no
    /// regression; 2 ms more is, for a 60 µs method and a 20 ms one alike (5% limit).
    #[test]
    fn the_noise_floor_spares_noise_and_catches_two_milliseconds() {
        let verdict = |then_us: u64, now_us: u64| {
            let then: Vec<Record> = (0..300).map(|i| record("m", "ok", then_us + i % 7)).collect();
            let pairs: Vec<_> = then.iter().map(|r| (r, now("ok", Some(now_us)))).collect();
            compare(&pairs, 0.05).failed()
        };
        assert!(!verdict(60, 130), "+70 µs on a 60 µs method is noise");
        assert!(verdict(60, 2060), "+2 ms on a 60 µs method");
        assert!(!verdict(20_000, 20_400), "+2% on 20 ms");
        assert!(verdict(20_000, 22_000), "+2 ms on 20 ms");
    }

    #[test]
    fn an_answer_that_became_a_timeout_is_listed_with_both_replies() {
        let then = [record("get", "ok", 1000), record("get", "error", 1000), record("get", "timeout", 1000)];
        let pairs = vec![
            (&then[0], now("timeout", None)),
            (&then[1], now("error", Some(1000))),
            (&then[2], now("ok", Some(1000))),
        ];
        let c = compare(&pairs, 0.2);
        assert_eq!(c.worse.len(), 1);
        assert_eq!(c.better, 1);
        let w = &c.worse[0];
        assert_eq!(
            (w.number, w.then.as_str(), w.now.as_str()),
            (1, "ok: {\"result\": 1}", "timeout after 5s")
        );
        assert!(c.render().contains(
            "1 outcomes got worse:\n  #1 get\n    then: ok: {\"result\": 1}\n    now:  timeout after 5s"
        ));
    }
}
