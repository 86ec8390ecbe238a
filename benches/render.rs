//! Frame render time: the dashboard over 50 sidecars holding 10,000 log lines each, drawn
//! at 200x50 into ratatui's TestBackend, per tab and for the interleaved all-logs view.
//! Prints figures; asserts nothing.
//!
//!     cargo bench --bench render

use bytes::Bytes;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sidetop::api::{Notice, ResourceInfo, Snapshot, build};
use sidetop::app::model::Model;
use sidetop::app::state::{Focus, Mode, State, Tab};
use sidetop::config::Config;
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::Origin;
use sidetop::metrics::resources::Sample;
use sidetop::supervisor::scrollback::{LogLine, Stream};
use sidetop::supervisor::{Options, Supervisor};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const SIDECARS: usize = 50;
const LINES: usize = 10_000;
const FRAMES: usize = 300;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut toml = String::from("[defaults]\nautostart = false\n");
        for i in 0..SIDECARS {
            toml.push_str(&format!(
                "[[sidecar]]\nname = \"sidecar-{i:02}\"\ncommand = [\"true\"]\n[sidecar.ipc]\nprotocol = \"json-lines\"\n"
            ));
        }
        let config = Config::parse(Path::new("bench.toml"), &toml).unwrap();
        let sup = Supervisor::start(&config, Options::default()).unwrap();
        let now = SystemTime::now();
        for (i, s) in sup.sidecars().iter().enumerate() {
            let mut logs = s.logs();
            for n in 0..LINES {
                let text = format!("\x1b[32mINFO\x1b[0m sidecar {i} handled request {n} for user-{} in {}ms", n * 7 % 1000, n % 250);
                let stream = if n % 10 == 0 { Stream::Stderr } else { Stream::Stdout };
                logs.push(LogLine { at: now + Duration::from_micros((n * SIDECARS + i) as u64), stream, cut: false, bytes: Bytes::from(text) });
            }
        }
        // Latency data for the latency tab: requests that fail fast (no process) still
        // record outcomes; add real-looking latencies through the metrics directly.
        for s in sup.sidecars().iter().take(5) {
            let ipc = s.ipc().unwrap();
            for _ in 0..200 {
                ipc.request(&RequestSpec::Line { value: serde_json::json!({"pair": "BTC-USD"}) }, Origin::Operator).await;
            }
        }
        let history = ResourceInfo {
            samples: (0..300).map(|n| Sample { cpu: (n % 50) as f32, rss: 20_000_000 + n * 1000, threads: 4, processes: 1 }).collect(),
            limits: vec![("open files".into(), "1024".into())],
        };
        // The dashboard's model, as the engine API would fill it: a snapshot, then every
        // sidecar's scrollback.
        let sidecars = sup.sidecars();
        let snapshot = Snapshot {
            config: "bench.toml".into(),
            interval_ms: 1000,
            setups: config.sidecars.iter().map(build::setup).collect(),
            sidecars: sidecars.iter().map(|h| build::info(h)).collect(),
            resources: vec![history; SIDECARS],
            latency: sidecars.iter().map(|h| h.ipc().map(|ipc| build::latency(&ipc.metrics()))).collect(),
            traffic: sidecars.iter().map(|h| h.ipc().map(|ipc| ipc.metrics().traffic.iter().cloned().collect()).unwrap_or_default()).collect(),
            ..Snapshot::default()
        };
        let mut model = Model::from_snapshot(snapshot);
        for h in &sidecars {
            let (lines, _, _) = build::lines_from(h, 0, usize::MAX, false);
            model.apply(Notice::Log { sidecar: h.name.to_string(), lines, gone: 0 });
        }
        let mut state = State::new(model, Mode::InProcess);
        state.size = (200, 50);
        state.selected = 25;
        state.focus = Focus::Detail;
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();

        println!("sidetop render benchmark: {SIDECARS} sidecars x {LINES} lines, 200x50, {FRAMES} frames per case");
        type Setup = Box<dyn Fn(&mut State)>;
        let cases: [(&str, Setup); 7] = [
            ("logs (one sidecar)", Box::new(|s: &mut State| s.tab = Tab::Logs)),
            ("logs, all sidecars interleaved", Box::new(|s: &mut State| s.logs.all = true)),
            ("logs, search filter", Box::new(|s: &mut State| {
                s.logs.all = false;
                s.logs.search = Some("user-42".into());
            })),
            ("resources", Box::new(|s: &mut State| {
                s.logs.search = None;
                s.tab = Tab::Resources;
            })),
            ("latency", Box::new(|s: &mut State| {
                s.selected = 0;
                s.tab = Tab::Latency;
            })),
            ("traffic", Box::new(|s: &mut State| s.tab = Tab::Traffic)),
            ("events", Box::new(|s: &mut State| s.tab = Tab::Events)),
        ];
        for (name, setup) in cases {
            setup(&mut state);
            let mut times = Vec::with_capacity(FRAMES);
            for _ in 0..FRAMES {
                let start = Instant::now();
                terminal.draw(|f| sidetop::ui::render(f, &state)).unwrap();
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{name:<32} median {:.3} ms   p99 {:.3} ms   (target <= 2 ms)",
                times[FRAMES / 2],
                times[FRAMES * 99 / 100]
            );
        }
    });
}
