//! What `ctl latency` and `ctl traffic` print: the figures of the dashboard's latency and
//! traffic tabs, as a table for people or one JSON object per line for scripts.

use crate::api::{LatencyInfo, MethodLatency};
use crate::ipc::protocol::Exchange;
use crate::metrics::latency::format_us;
use serde_json::json;

/// One row per method and origin (since start): count, p50, p90, p99, max, errors.
pub fn print_latency(latency: &LatencyInfo, json: bool) {
    if json {
        for row in &latency.origins {
            println!("{}", row_json(row));
        }
        return;
    }
    let width = latency.origins.iter().map(|m| m.method.len()).max().unwrap_or(6).max(6);
    println!(
        "{:width$}  {:<11} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "METHOD", "ORIGIN", "COUNT", "P50", "P90", "P99", "MAX", "ERRORS"
    );
    for row in &latency.origins {
        let s = &row.all;
        let origin = row.origin.map_or("-".to_string(), origin_name);
        println!(
            "{:width$}  {origin:<11} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
            row.method,
            s.count,
            format_us(s.p50),
            format_us(s.p90),
            format_us(s.p99),
            format_us(s.max),
            s.outcomes.failures(),
        );
    }
    if latency.late > 0 || latency.protocol_errors > 0 {
        println!("late replies {}, protocol errors {}", latency.late, latency.protocol_errors);
    }
}

fn row_json(row: &MethodLatency) -> serde_json::Value {
    let s = &row.all;
    json!({
        "method": row.method,
        "origin": row.origin,
        "count": s.count,
        "p50_us": s.p50,
        "p90_us": s.p90,
        "p99_us": s.p99,
        "max_us": s.max,
        "errors": s.outcomes.failures(),
    })
}

fn origin_name(origin: crate::ipc::protocol::Origin) -> String {
    serde_json::to_value(origin).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `12:00:01.123 application -> tools/call add 1.2ms ok`, then the request and reply
/// on their own lines (each on one line, so a terminal stays readable).
pub fn print_exchange(exchange: &Exchange, json: bool) {
    if json {
        println!("{}", json!(exchange));
        return;
    }
    let at = crate::text::stamp::Stamp::new(crate::text::stamp::CLOCK).text(exchange.at).to_string();
    println!("{at} {} {}", origin_name(exchange.origin), exchange.summary());
    for (arrow, text) in [("  >", &exchange.request), ("  <", &exchange.response)] {
        if let Some(text) = text {
            println!(
                "{arrow} {}",
                crate::text::sanitize::sanitize(text.trim_end().replace('\n', " ").as_bytes())
            );
        }
    }
}
