//! The latency tab's chart over time, rendered into ratatui's `TestBackend` from a model
//! that received a latency summary: a spike and its errors show at the second they
//! happened, on a wall-clock axis.

use crate::common;

use common::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sidetop::api::{LatencyInfo, Notice};
use sidetop::app::state::{State, Tab};
use sidetop::metrics::timeline::SecondPoint;

const CONFIG: &str = r#"
[defaults]
autostart = false
[[sidecar]]
name = "echo"
command = ["python3", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
"#;

const NOW: u64 = 1_790_000_000;
const SPIKE_AGO: u64 = 20;

fn state_with_spike() -> (State, tempfile::TempDir) {
    let (mut state, dir) = offline_dashboard(CONFIG);
    let timeline = (0..120)
        .map(|ago| {
            let spike = ago == SPIKE_AGO;
            SecondPoint {
                at: NOW - ago,
                count: 100,
                p50: 1_000,
                p99: if spike { 800_000 } else { 3_000 },
                max: if spike { 2_000_000 } else { 5_000 },
                errors: if spike { 4 } else { 0 },
                timeouts: if spike { 2 } else { 0 },
            }
        })
        .rev()
        .collect();
    let latency = LatencyInfo { timeline, now: NOW, ..LatencyInfo::default() };
    state.model.apply(Notice::Latency { sidecar: "echo".into(), latency: Box::new(latency) });
    state.tab = Tab::Latency;
    state.color = false;
    (state, dir)
}

fn rows(state: &State, w: u16, h: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| sidetop::ui::render(f, state)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..h).map(|y| (0..w).map(|x| buffer[(x, y)].symbol()).collect()).collect()
}

fn clock(unix: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    chrono::DateTime::<chrono::Local>::from(at).format("%H:%M:%S").to_string()
}

#[test]
fn a_spike_and_its_errors_show_at_their_second() {
    let (mut state, _dir) = state_with_spike();
    for (w, h) in [(120u16, 40u16), (80, 24), (200, 50)] {
        state.size = (w, h);
        let rows = rows(&state, w, h);
        let screen = rows.join("\n");
        for word in ["last 5 min", "p50", "p99", "max", "errors 4", "timeouts 2"] {
            assert!(screen.contains(word), "{w}x{h}: {word:?} missing:\n{screen}");
        }
        // The right edge is the engine's clock now (give or take the second the test took).
        assert!(
            screen.contains(&clock(NOW)) || screen.contains(&clock(NOW + 1)),
            "{w}x{h}: the clock at the right edge:\n{screen}"
        );
        assert!(screen.contains(&clock(NOW - 299)) || screen.contains(&clock(NOW - 298)), "{screen}");
        assert!(
            screen.contains("2.00s") || screen.contains("10.00s"),
            "a log-scale label above the spike:\n{screen}"
        );
        // The errors row: one bar, near the right edge (20 s of 300 before it), measured
        // against the chart's own time axis (its first and last clock labels).
        let axis =
            rows.iter().find(|r| r.contains(&clock(NOW - 299)) || r.contains(&clock(NOW - 298))).unwrap();
        let col = |row: &str, at: usize| row[..at].chars().count();
        let left = [clock(NOW - 299), clock(NOW - 298)].iter().find_map(|c| axis.find(c.as_str())).unwrap();
        let right = [clock(NOW), clock(NOW + 1)].iter().find_map(|c| axis.find(c.as_str())).unwrap();
        let (left, right) = (col(axis, left), col(axis, right) + 8);
        let errors = rows.iter().find(|r| r.contains("errors 4")).expect("errors row");
        let bars: Vec<usize> = errors
            .chars()
            .enumerate()
            .filter(|(i, c)| *i > left && *i < right && !" │".contains(*c))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bars.len(), 1, "one column has errors: {errors:?}\n{screen}");
        let at = (bars[0] - left) as f64 / (right - left) as f64;
        assert!((0.85..1.0).contains(&at), "the spike's column sits {at:.2} along: {errors:?}");
    }
}

#[test]
fn the_chart_scrolls_with_the_clock_when_traffic_stops() {
    let (mut state, _dir) = state_with_spike();
    state.size = (120, 40);
    let quiet = LatencyInfo { timeline: Vec::new(), now: NOW + 600, ..LatencyInfo::default() };
    state.model.apply(Notice::Latency { sidecar: "echo".into(), latency: Box::new(quiet) });
    let screen = rows(&state, 120, 40).join("\n");
    assert!(screen.contains("no replies in the last 5 minutes"), "{screen}");
    assert!(screen.contains("errors 0") && screen.contains("timeouts 0"), "{screen}");
}
