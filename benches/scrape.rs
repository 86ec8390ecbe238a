//! Cost of one Prometheus scrape: 50 sidecars x 20 methods with recorded exchanges, the
//! exposition rendered as a scrape renders it (both formats). Prints figures; asserts
//! nothing. Target: <= 2 ms of sidetop CPU per scrape.
//!
//!     cargo bench --bench scrape

use sidetop::api::engine::Engine;
use sidetop::config::Config;
use sidetop::ipc::protocol::{Exchange, Origin, Outcome};
use sidetop::supervisor::Options;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const SIDECARS: usize = 50;
const SCRAPES: usize = 200;

fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage with a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The case (every method also fails now and then), then a quieter fleet.
    runtime.block_on(scenario(20, true));
    runtime.block_on(scenario(5, false));
}

async fn scenario(methods: usize, errors: bool) {
    {
        let mut toml = String::from("[defaults]\nautostart = false\n");
        for i in 0..SIDECARS {
            toml.push_str(&format!(
                "[[sidecar]]\nname = \"sidecar-{i:02}\"\ncommand = [\"true\"]\n[sidecar.ipc]\nprotocol = \"jsonrpc\"\n"
            ));
        }
        let config = Config::parse(Path::new("bench.toml"), &toml).unwrap();
        let engine = Engine::start(&config, Options::default(), Duration::from_secs(1)).unwrap();
        let now = Instant::now();
        for h in engine.supervisor.sidecars() {
            let ipc = h.ipc().unwrap();
            let mut metrics = ipc.metrics();
            for m in 0..methods {
                for n in 0..200u64 {
                    let outcome = if errors && n % 50 == 0 {
                        Outcome::RpcError { code: -1, message: "x".into() }
                    } else {
                        Outcome::Ok
                    };
                    let exchange = Arc::new(Exchange {
                        sidecar: h.name.clone(),
                        at: SystemTime::now(),
                        method: format!("method_{m:02}"),
                        origin: Origin::Operator,
                        request: None,
                        response: None,
                        latency: Some(Duration::from_micros(30 + n * 97 % 20_000)),
                        outcome,
                        status: None,
                        spec: None,
                    });
                    metrics.record(&exchange, now);
                }
            }
        }
        let registry = sidetop::front::exporter::registry(engine.clone());
        let outcomes = if errors { "ok and error outcomes" } else { "ok only" };
        println!(
            "sidetop scrape: {SIDECARS} sidecars x {methods} methods ({outcomes}), {SCRAPES} scrapes per format"
        );
        for (name, accept) in
            [("Prometheus text", "text/plain"), ("OpenMetrics", "application/openmetrics-text")]
        {
            let mut times = Vec::with_capacity(SCRAPES);
            let mut size = 0;
            let cpu0 = cpu_time();
            for _ in 0..SCRAPES {
                let start = Instant::now();
                let (_, body) = sidetop::front::exporter::render(&registry, accept);
                times.push(start.elapsed().as_secs_f64() * 1e3);
                size = body.len();
            }
            let cpu = (cpu_time() - cpu0).as_secs_f64() * 1e3 / SCRAPES as f64;
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{name:<16} wall median {:.2} ms, p99 {:.2} ms; CPU {cpu:.2} ms per scrape; body {:.0} KB   (target <= 2 ms CPU)",
                times[SCRAPES / 2],
                times[SCRAPES * 99 / 100],
                size as f64 / 1024.0
            );
        }
        engine.supervisor.shutdown().await;
    }
}
