//! `sidetop replay FILE`: start the recorded sidecars from the config (as `sidetop request`
//! does), send the recorded requests again (at their recorded pace, faster, or as fast as
//! `-c` allows) and compare: per method, count and p50/p99 then and now; one by one, the
//! outcomes that got worse. Exit 1 when an outcome got worse or a p50 regressed past
//! `--max-regression`: how an operator checks a new build against yesterday's traffic.

pub mod compare;
pub mod schedule;

use crate::api::link::Caller;
use crate::api::record::file::Record;
use crate::config::Config;
use crate::config::ipc::RequestSpec;
use crate::front::cli::ReplayArgs;
use crate::front::exit_codes::{EXIT_FAILED, EXIT_NOT_READY, EXIT_USAGE};
use crate::ipc::protocol::{Exchange, Origin};
use compare::Replayed;
use serde_json::json;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How fast the recorded requests go out again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// At the recorded pace divided by this factor (`1x`, `2x`, `0.5x`).
    Times(f64),
    /// As fast as the concurrency allows.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(text: &str) -> Result<Speed, String> {
        if text == "max" {
            return Ok(Speed::Max);
        }
        let factor = text.strip_suffix('x').unwrap_or(text);
        match factor.parse::<f64>() {
            Ok(f) if f > 0.0 && f.is_finite() => Ok(Speed::Times(f)),
            _ => Err(format!("{text:?} is not a speed: give 1x, 2x, 0.5x or max")),
        }
    }
}

/// `20%` or `0.2`.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    };
    value
        .ok()
        .filter(|v| *v >= 0.0 && v.is_finite())
        .ok_or_else(|| format!("{text:?} is not a percentage like 20%"))
}

/// The recorded requests worth sending again: the operator's and load runs' (health
/// checks and handshakes the engine does by itself), and the application's HTTP calls
/// through the measuring proxy (its JSON-RPC calls belong to its own session, which a
/// replay does not have), for `only` or every sidecar.
fn replayable<'a>(records: &'a [Record], only: Option<&str>) -> Vec<&'a Record> {
    let mut out: Vec<&Record> = records
        .iter()
        .filter(|r| {
            matches!(
                (&r.spec, r.origin),
                (Some(_), Origin::Operator | Origin::Load)
                    | (Some(RequestSpec::Http { .. }), Origin::Application)
            )
        })
        .filter(|r| only.is_none_or(|name| r.sidecar == name))
        .collect();
    out.sort_by_key(|r| r.at_us);
    out
}

pub async fn run(config: &Config, args: &ReplayArgs) -> ExitCode {
    let (records, lost) = match crate::api::record::file::read(&args.file) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let todo = replayable(&records, args.sidecar.as_deref());
    if todo.is_empty() {
        let whose = args.sidecar.as_deref().map_or(String::new(), |s| format!(" of {s}"));
        eprintln!("error: {} has no operator or load requests{whose} to replay", args.file.display());
        return ExitCode::from(EXIT_USAGE);
    }
    let names: BTreeSet<String> = todo.iter().map(|r| r.sidecar.clone()).collect();
    if let Some(missing) = names.iter().find(|n| config.sidecar(n).is_none()) {
        eprintln!(
            "error: the recording has sidecar {missing:?}, which {} does not define",
            config.path.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let (engine, mut link) = match crate::front::start::start_only(config, names.iter().map(String::as_str)) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for name in &names {
        if let Err(why) = crate::front::start::wait_ready(&mut link, name, args.ready_timeout).await {
            eprintln!("error: {name} did not become ready: {why}");
            engine.supervisor.shutdown().await;
            return ExitCode::from(EXIT_NOT_READY);
        }
    }
    let pace = match args.speed {
        Speed::Max => "as fast as it answers".to_string(),
        Speed::Times(f) => format!("{f}x the recorded pace"),
    };
    eprintln!(
        "replaying {} requests to {} from {} ({pace}, at most {} at once){}",
        todo.len(),
        names.iter().cloned().collect::<Vec<_>>().join(", "),
        args.file.display(),
        args.concurrency,
        if lost > 0 { format!("; the recording lost {lost} exchanges") } else { String::new() }
    );
    warm_up(&link.caller, &todo, args.ready_timeout).await;
    let replayed = send_all(&link.caller, &todo, args.speed, args.concurrency).await;
    engine.supervisor.shutdown().await;
    let pairs: Vec<(&Record, Replayed)> = todo.into_iter().zip(replayed).collect();
    let comparison = compare::compare(&pairs, args.max_regression);
    print!("{}", comparison.render());
    if comparison.failed() { ExitCode::from(EXIT_FAILED) } else { ExitCode::SUCCESS }
}

/// Requests sent (and thrown away) per recorded method before the replay is timed: the
/// sidecar's first requests pay for its start-up (imports, JIT, caches), the recording's
/// did not.
const WARMUP: usize = 20;

/// Warms each recorded method up with its first recorded request, one at a time; a
/// sidecar that is not answering yet (ready at spawn, still starting) is waited for up
/// to `patience`.
async fn warm_up(caller: &Caller, todo: &[&Record], patience: Duration) {
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + patience;
    for record in todo {
        if !seen.insert((record.sidecar.as_str(), record.method.as_str())) {
            continue;
        }
        let mut sent = 0;
        while sent < WARMUP && tokio::time::Instant::now() < deadline {
            let reply = caller.call("request", json!({"sidecar": record.sidecar, "spec": record.spec})).await;
            if reply.is_ok_and(|r| answered(&r)) {
                sent += 1;
            } else if sent == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            } else {
                sent += 1;
            }
        }
    }
}

/// The sidecar answered, even if with an error of its protocol (a 404, a JSON-RPC error:
/// a recording of failing calls replays them failing), as opposed to not answering yet.
fn answered(reply: &serde_json::Value) -> bool {
    use crate::ipc::protocol::Outcome;
    reply["ok"].as_bool() == Some(true)
        || serde_json::from_value::<Exchange>(reply["exchange"].clone()).is_ok_and(|e| {
            matches!(e.outcome, Outcome::HttpStatus(_) | Outcome::RpcError { .. } | Outcome::ToolError(_))
        })
}

/// Sends each request at its time (or as soon as it may, `Max`), never with more in
/// flight than the recording had at that moment (see `schedule`), nor more than
/// `concurrency`; the results come back in the recorded order.
async fn send_all(caller: &Caller, todo: &[&Record], speed: Speed, concurrency: usize) -> Vec<Replayed> {
    let plan = schedule::schedule(todo);
    let frontier = Arc::new(std::sync::Mutex::new(schedule::Frontier::new(todo.len())));
    let (done_tx, mut done) = tokio::sync::watch::channel(0usize);
    let done_tx = Arc::new(done_tx);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let first = todo.first().map_or(0, |r| r.at_us);
    let begun = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(todo.len());
    for (i, record) in todo.iter().enumerate() {
        if let Speed::Times(factor) = speed {
            let offset = Duration::from_micros(record.at_us - first).div_f64(factor);
            tokio::time::sleep_until(begun + offset).await;
        }
        let _ = done.wait_for(|&n| n >= plan.waits_for[i]).await;
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let reply = caller.call("request", json!({"sidecar": record.sidecar, "spec": record.spec}));
        let (frontier, done_tx, rank) = (frontier.clone(), done_tx.clone(), plan.finish_rank[i]);
        tasks.push(tokio::spawn(async move {
            let result = reply.await;
            drop(permit);
            let now = frontier.lock().unwrap_or_else(|e| e.into_inner()).finish(rank);
            done_tx.send_replace(now);
            result
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(match task.await {
            Ok(Ok(reply)) => match serde_json::from_value::<Exchange>(reply["exchange"].clone()) {
                Ok(exchange) => Replayed {
                    outcome: exchange.outcome.kind().as_str().to_string(),
                    error: (!exchange.outcome.is_ok()).then(|| exchange.outcome.to_string()),
                    response: exchange.response,
                    latency_us: exchange.latency.map(|l| l.as_micros() as u64),
                },
                Err(e) => failed(format!("an unreadable reply: {e}")),
            },
            Ok(Err((_, e))) => failed(e),
            Err(e) => failed(e.to_string()),
        });
    }
    out
}

fn failed(why: String) -> Replayed {
    Replayed { outcome: "transport".into(), error: Some(why), response: None, latency_us: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_and_percentages_parse() {
        assert_eq!("1x".parse::<Speed>(), Ok(Speed::Times(1.0)));
        assert_eq!("0.5x".parse::<Speed>(), Ok(Speed::Times(0.5)));
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert!("0x".parse::<Speed>().is_err() && "fast".parse::<Speed>().is_err());
        assert_eq!(parse_fraction("20%"), Ok(0.2));
        assert_eq!(parse_fraction("0.5"), Ok(0.5));
        assert!(parse_fraction("-3%").is_err());
    }
}
