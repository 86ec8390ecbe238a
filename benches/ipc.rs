//! IPC benchmark: round-trip latency of `ping` to `sidecars/jsonrpc_echo.py` through
//! sidetop's IPC client, and through a minimal direct pipe client written here (no
//! sidetop, same child), in one run; then requests/s through sidetop at concurrency 1
//! and 16; then all of it again with every exchange recorded to a file. Prints figures;
//! asserts nothing.
//!
//!     cargo bench --bench ipc

use sidetop::api::record::file::Recording;
use sidetop::config::Config;
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::load::{self, LoadPlan};
use sidetop::ipc::protocol::Origin;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 3000;
const WARMUP: usize = 200;

fn echo_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sidecars/jsonrpc_echo.py").display().to_string()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Write a line, read a line: the least any client can do.
fn direct() -> Vec<f64> {
    let mut child = Command::new("python3")
        .args(["-u", &echo_script()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap(); // the stray start-up line
    let mut samples = Vec::with_capacity(ROUNDS);
    for id in 0..WARMUP + ROUNDS {
        let request = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
        let start = Instant::now();
        stdin.write_all(request.as_bytes()).unwrap();
        stdin.flush().unwrap();
        line.clear();
        stdout.read_line(&mut line).unwrap();
        let took = start.elapsed();
        assert!(line.contains("pong"), "{line}");
        if id >= WARMUP {
            samples.push(took.as_secs_f64() * 1e6);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    samples
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let toml = format!(
        "[[sidecar]]\nname = \"echo\"\ncommand = [\"python3\", \"-u\", {:?}]\n[sidecar.ipc]\nprotocol = \"jsonrpc\"\n",
        echo_script()
    );
    let config = Config::parse(Path::new("bench.toml"), &toml).unwrap();
    let ping = RequestSpec::Rpc { method: "ping".into(), params: None };

    // Alternate the clients so all see the same machine conditions; the third is sidetop
    // with every exchange recorded to a file (`--record`).
    let recording = tempfile::NamedTempFile::new().unwrap();
    let (mut via_direct, mut via_sidetop, mut via_recorded) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rps1, mut rps16, mut rps16_recorded) = (Vec::new(), Vec::new(), Vec::new());
    let mut recorded = 0;
    for _ in 0..2 {
        via_direct.extend(direct());
        let (samples, r1, r16, _) = runtime.block_on(through_sidetop(&config, &ping, None));
        via_sidetop.extend(samples);
        rps1.push(r1);
        rps16.push(r16);
        let (samples, _, r16, written) =
            runtime.block_on(through_sidetop(&config, &ping, Some(recording.path())));
        via_recorded.extend(samples);
        rps16_recorded.push(r16);
        recorded += written;
    }
    let (d50, d99) = (pct(&mut via_direct, 0.5), pct(&mut via_direct, 0.99));
    let (s50, s99) = (pct(&mut via_sidetop, 0.5), pct(&mut via_sidetop, 0.99));
    println!(
        "sidetop IPC benchmark: ping to sidecars/jsonrpc_echo.py, {} round trips per client",
        via_direct.len()
    );
    println!("direct pipe client: p50 {d50:.1} us   p99 {d99:.1} us");
    println!("through sidetop:    p50 {s50:.1} us   p99 {s99:.1} us");
    println!(
        "overhead:           p50 {:.1} us   p99 {:.1} us   (target: p50 <= 20 us)",
        s50 - d50,
        s99 - d99
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "requests/s through sidetop: concurrency 1: {:.0}   concurrency 16: {:.0}   (3 s runs: {rps1:.0?} / {rps16:.0?})",
        mean(&rps1),
        mean(&rps16)
    );
    let (r50, r99) = (pct(&mut via_recorded, 0.5), pct(&mut via_recorded, 0.99));
    println!(
        "recording every exchange: p50 {r50:.1} us   p99 {r99:.1} us   (+{:.1} us p50 against no recording); concurrency 16: {:.0}/s ({:.2}x); {recorded} exchanges written",
        r50 - s50,
        mean(&rps16_recorded),
        mean(&rps16_recorded) / mean(&rps16)
    );
}

/// Round trips one at a time, then 3 s load runs at concurrency 1 and 16; with a
/// recording to `record` when given (and how many exchanges it wrote).
async fn through_sidetop(
    config: &Config,
    ping: &RequestSpec,
    record: Option<&Path>,
) -> (Vec<f64>, f64, f64, u64) {
    let sup = Supervisor::start(config, Options::default()).unwrap();
    let recording = record.map(|path| {
        Recording::start(sup.subscribe_exchanges(), path, None, 1 << 30, Box::new(|_| {})).unwrap()
    });
    let h = sup.get("echo").unwrap().clone();
    let mut rx = h.watch();
    rx.wait_for(|s| s.state == Life::Running && s.ready).await.unwrap();
    let ipc = h.ipc().unwrap().clone();
    // From a task on the runtime, as the dashboard and `sidetop request` call it.
    let (task_ipc, task_ping) = (ipc.clone(), ping.clone());
    let samples = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(ROUNDS);
        for i in 0..WARMUP + ROUNDS {
            let start = Instant::now();
            let ex = task_ipc.request(&task_ping, Origin::Operator).await;
            let took = start.elapsed();
            assert!(ex.outcome.is_ok(), "{ex:?}");
            if i >= WARMUP {
                samples.push(took.as_secs_f64() * 1e6);
            }
        }
        samples
    })
    .await
    .unwrap();
    let mut rps = [0.0; 2];
    for (c, out) in [1usize, 16].into_iter().zip(rps.iter_mut()) {
        let plan = LoadPlan { requests: None, duration: Some(Duration::from_secs(3)), concurrency: c };
        let report = load::run(ipc.clone(), ping.clone(), plan).await;
        assert_eq!(report.summary.outcomes.failures(), 0);
        *out = report.summary.per_second;
    }
    let written = match recording {
        Some(r) => {
            let counts = r.counts.clone();
            r.stop().await.unwrap();
            assert_eq!(counts.lost.load(std::sync::atomic::Ordering::Relaxed), 0, "the recorder fell behind");
            counts.written.load(std::sync::atomic::Ordering::Relaxed)
        }
        None => 0,
    };
    sup.shutdown().await;
    (samples, rps[0], rps[1], written)
}
