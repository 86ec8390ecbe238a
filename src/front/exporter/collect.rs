//! What a scrape reads: every sidecar's state, restarts, exits, CPU, memory, output and
//! IPC latency, gathered from the engine at scrape time (copied out under its locks, then
//! encoded with none held) and written with `prometheus-client`'s encoders.

use crate::api::engine::Engine;
use crate::metrics::buckets::Buckets;
use crate::metrics::latency::OutcomeKind;
use crate::supervisor::{Life, Tallies};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::BTreeMap;
use std::sync::Arc;

const STATES: [Life; 10] = [
    Life::Idle,
    Life::Waiting,
    Life::Starting,
    Life::Running,
    Life::Stopping,
    Life::Stopped,
    Life::Exited,
    Life::Backoff,
    Life::CrashLoop,
    Life::Failed,
];

/// One sidecar's figures at the moment of the scrape.
struct Row {
    name: String,
    state: Life,
    pid: Option<u32>,
    restarts: u32,
    start_time: Option<f64>,
    tallies: Tallies,
    stream_lines: [u64; 2],
    stream_bytes: [u64; 2],
    scrollback_dropped: u64,
    log_file_dropped: Option<u64>,
    cpu_seconds: f64,
    rss: u64,
    processes: u32,
    ipc: Option<IpcRow>,
}

struct IpcRow {
    buckets: BTreeMap<(String, OutcomeKind), Buckets>,
    protocol_errors: u64,
    late: u64,
}

pub struct EngineCollector(pub Arc<Engine>);

impl std::fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineCollector")
    }
}

impl EngineCollector {
    fn rows(&self) -> Vec<Row> {
        let engine = &self.0;
        let resources = engine.resources();
        engine
            .supervisor
            .sidecars()
            .iter()
            .map(|h| {
                let status = h.status();
                let (stream_lines, stream_bytes, scrollback_dropped) = {
                    let logs = h.logs();
                    (logs.stream_lines, logs.stream_bytes, logs.dropped_lines)
                };
                let sampled =
                    resources.names.iter().position(|n| *n == h.name).map(|i| &resources.sidecars[i]);
                let latest = sampled.and_then(|r| r.latest().copied()).filter(|_| status.state.has_process());
                Row {
                    name: h.name.to_string(),
                    state: status.state,
                    pid: status.pid,
                    restarts: status.restarts,
                    start_time: h
                        .started_at()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs_f64()),
                    tallies: h.tallies(),
                    stream_lines,
                    stream_bytes,
                    scrollback_dropped,
                    log_file_dropped: h.log_file_counts().map(|c| c.dropped),
                    cpu_seconds: sampled.map_or(0.0, |r| r.cpu_seconds),
                    rss: latest.map_or(0, |s| s.rss),
                    processes: latest.map_or(0, |s| s.processes),
                    ipc: h.ipc().map(|ipc| {
                        let m = ipc.metrics();
                        IpcRow {
                            buckets: m.buckets.clone(),
                            protocol_errors: m.protocol_errors,
                            late: m.late,
                        }
                    }),
                }
            })
            .collect()
    }
}

/// One metric family: a descriptor, then one sample per label set.
fn family<'a, V>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, V)>,
    encode: impl Fn(V, prometheus_client::encoding::MetricEncoder) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        encode(value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(v: u64, m: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
    ConstCounter::new(v).encode(m)
}

fn gauge(v: f64, m: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
    ConstGauge::new(v).encode(m)
}

fn method_label(method: &str) -> String {
    if method == crate::ipc::stats::OTHER_METHODS { "other".to_string() } else { method.to_string() }
}

impl Collector for EngineCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let rows = self.rows();
        let s = |r: &Row| vec![("sidecar", r.name.clone())];
        enc.encode_descriptor("sidetop_build", "sidetop's version", None, MetricType::Info)?
            .encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        use MetricType::{Counter, Gauge};
        family(
            &mut enc,
            "sidetop_sidecar_up",
            "1 while the sidecar's process runs",
            Gauge,
            rows.iter().map(|r| (s(r), if r.pid.is_some() { 1.0 } else { 0.0 })),
            gauge,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_state",
            "1 for the sidecar's lifecycle state, 0 for the others",
            Gauge,
            rows.iter().flat_map(|r| {
                STATES.iter().map(move |st| {
                    (
                        vec![("sidecar", r.name.clone()), ("state", st.as_str().to_string())],
                        if *st == r.state { 1.0 } else { 0.0 },
                    )
                })
            }),
            gauge,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_restarts",
            "Starts after the first, automatic or by an operator",
            Counter,
            rows.iter().map(|r| (s(r), u64::from(r.restarts))),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_exits",
            "Exits by reason: the exit code, or the signal's name",
            Counter,
            rows.iter().flat_map(|r| {
                r.tallies.exits.iter().map(move |(reason, n)| {
                    (vec![("sidecar", r.name.clone()), ("reason", reason.clone())], *n)
                })
            }),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_start_time_seconds",
            "When the current process started (Unix time)",
            Gauge,
            rows.iter().filter_map(|r| Some((s(r), r.start_time?))),
            gauge,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_cpu_seconds",
            "CPU time of the sidecar and its descendants",
            Counter,
            rows.iter().map(|r| (s(r), r.cpu_seconds)),
            |v, m| ConstCounter::new(v).encode(m),
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_resident_memory_bytes",
            "Resident memory of the sidecar and its descendants",
            Gauge,
            rows.iter().map(|r| (s(r), r.rss as f64)),
            gauge,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_processes",
            "Processes: the sidecar and its descendants",
            Gauge,
            rows.iter().map(|r| (s(r), f64::from(r.processes))),
            gauge,
        )?;
        let streams = |r: &Row, of: [u64; 2]| {
            let name = r.name.clone();
            ["stdout", "stderr"]
                .into_iter()
                .zip(of)
                .map(move |(stream, n)| (vec![("sidecar", name.clone()), ("stream", stream.to_string())], n))
        };
        family(
            &mut enc,
            "sidetop_sidecar_output_lines",
            "Lines the sidecar wrote",
            Counter,
            rows.iter().flat_map(|r| streams(r, r.stream_lines)),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_output_bytes",
            "Bytes the sidecar wrote",
            Counter,
            rows.iter().flat_map(|r| streams(r, r.stream_bytes)),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_scrollback_dropped_lines",
            "Lines that left the scrollback to respect its bounds",
            Counter,
            rows.iter().map(|r| (s(r), r.scrollback_dropped)),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_log_file_dropped_lines",
            "Lines that never reached the log file (non-blocking mode)",
            Counter,
            rows.iter().filter_map(|r| Some((s(r), r.log_file_dropped?))),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_sidecar_health_check_failures",
            "Failed health checks",
            Counter,
            rows.iter().map(|r| (s(r), r.tallies.health_failures)),
            counter,
        )?;
        let ipc = || rows.iter().filter_map(|r| Some((r, r.ipc.as_ref()?)));
        family(
            &mut enc,
            "sidetop_ipc_request_duration_seconds",
            "IPC request latency by method and outcome",
            MetricType::Histogram,
            ipc().flat_map(|(r, i)| {
                i.buckets.iter().map(move |((method, outcome), b)| {
                    (
                        vec![
                            ("sidecar", r.name.clone()),
                            ("method", method_label(method)),
                            ("outcome", outcome.as_str().to_string()),
                        ],
                        b,
                    )
                })
            }),
            |b: &Buckets, mut m| m.encode_histogram::<NoLabelSet>(b.sum, b.count, &b.pairs(), None),
        )?;
        family(
            &mut enc,
            "sidetop_ipc_protocol_errors",
            "Malformed frames, unknown reply ids, oversize frames",
            Counter,
            ipc().map(|(r, i)| (s(r), i.protocol_errors)),
            counter,
        )?;
        family(
            &mut enc,
            "sidetop_ipc_late_replies",
            "Replies that came after their request timed out",
            Counter,
            ipc().map(|(r, i)| (s(r), i.late)),
            counter,
        )?;
        Ok(())
    }
}
