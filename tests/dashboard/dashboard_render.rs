//! Rendering into ratatui's TestBackend, at 80x24 and 160x48, every tab and overlay, from
//! a dashboard over a real engine with real sidecars that have really logged, answered,
//! crashed and been sampled.

use crate::common;

use common::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use sidetop::api::engine::Engine;
use sidetop::app::composer::Composer;
use sidetop::app::msg::Msg;
use sidetop::app::state::{Focus, LoadDialog, Overlay, State, Tab};
use sidetop::app::update::update;
use sidetop::config::ipc::RequestSpec;
use sidetop::supervisor::{Life, Options};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
env = { API_TOKEN = "hunter2" }
[sidecar.ipc]
protocol = "jsonrpc"
[[sidecar.request]]
name = "ping"
method = "ping"

[[sidecar]]
name = "crashy"
command = ["python3", "{sidecars}/segfault.py"]
env = { SEGFAULT_AFTER = "0" }
backoff = { initial = "0" }
crash_loop = { max_exits = 2, window = "1m" }

[[sidecar]]
name = "talker"
command = ["sh", "-c", "printf '\\033[31mred alert\\033[0m\\n'; printf 'title\\033]0;pwned\\007 clear\\033[2J bell\\007 done\\n'; echo oops >&2; exec sleep 60"]
"#;

fn text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn draw(state: &State, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| sidetop::ui::render(f, state)).unwrap();
    let screen = text(&terminal);
    assert!(
        !screen.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the screen:\n{screen}"
    );
    screen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_and_overlay_renders_at_both_sizes() {
    let m = marker();
    let (_dir, config) = config(CONFIG, &m);
    let engine = Engine::start(&config, Options::default(), Duration::from_millis(100)).unwrap();
    let sup = engine.supervisor.clone();
    let echo = sup.get("echo").unwrap();
    let echo = &*echo;
    wait_ready(echo).await;
    for _ in 0..20 {
        echo.request(&RequestSpec::Rpc { method: "ping".into(), params: None }).await.unwrap();
    }
    let failed = echo.request(&RequestSpec::Rpc { method: "fail".into(), params: None }).await.unwrap();
    wait_status(&sup.get("crashy").unwrap(), Duration::from_secs(10), |s| s.state == Life::CrashLoop).await;
    let talker = sup.get("talker").unwrap();
    let talker = &*talker;
    assert!(eventually(Duration::from_secs(5), || talker.logs().len() == 3).await);

    let report = sidetop::ipc::load::run(
        echo.ipc().unwrap().clone(),
        RequestSpec::Rpc { method: "echo".into(), params: Some(json!([1])) },
        sidetop::ipc::load::LoadPlan { requests: Some(50), duration: None, concurrency: 4 },
    )
    .await;
    let (mut state, mut link) = dashboard_of(&engine).await;
    // Every sidecar's log followed (the model keeps them after), and a few samples.
    state.logs.all = true;
    let lines = |s: &State| s.sidecars().iter().map(|v| v.logs.lines.len()).collect::<Vec<_>>();
    pump_until(&mut state, &mut link, Duration::from_secs(10), "logs and samples", |s| {
        let lines = lines(s);
        lines[2] == 3
            && lines[0] >= 1
            && s.sidecars()[0].samples.len() >= 3
            && s.sidecars()[0].traffic.iter().any(|e| e.method == "echo")
    })
    .await;
    state.logs.all = false;
    state.color = false;
    let fail_row = state.sidecars()[0].traffic.iter().rev().position(|e| e.method == "fail").unwrap();
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        state.size = (w, h);
        state.selected = 0;
        state.focus = Focus::Table;
        state.tab = Tab::Logs;

        let screen = draw(&state, w, h);
        assert!(screen.starts_with(&format!("sidetop {}", config.path.display())), "{screen}");
        for word in
            ["echo", "crashy", "talker", "crash-loop", "ready", "1 Logs", "5 Events", "? help", "q quit"]
        {
            assert!(screen.contains(word), "{w}x{h}: {word:?} missing:\n{screen}");
        }
        if w >= 120 {
            assert!(screen.contains("SIGSEGV"), "last exit column when wide:\n{screen}");
        }

        // Logs of the talker: colours as style, hostile sequences gone, stderr marked.
        state.selected = 2;
        let screen = draw(&state, w, h);
        assert!(screen.contains("red alert"), "{screen}");
        assert!(screen.contains("title clear bell done"), "escapes removed, text kept:\n{screen}");
        assert!(!screen.contains("pwned"), "{screen}");
        assert!(screen.contains("! oops"), "stderr marked:\n{screen}");

        state.logs.all = true;
        let screen = draw(&state, w, h);
        assert!(
            screen.contains("talker") && screen.contains("jsonrpc_echo starting"),
            "interleaved:\n{screen}"
        );
        state.logs.all = false;
        state.logs.search = Some("ALERT".into());
        let screen = draw(&state, w, h);
        assert!(
            screen.contains("red alert") && !screen.contains("oops") && screen.contains("filter \"ALERT\""),
            "{screen}"
        );
        state.logs.search = None;

        state.selected = 0;
        state.tab = Tab::Resources;
        let screen = draw(&state, w, h);
        assert!(screen.contains("CPU ") && screen.contains("RSS ") && screen.contains("threads"), "{screen}");
        assert!(
            screen.contains("API_TOKEN=********") && !screen.contains("hunter2"),
            "secrets masked:\n{screen}"
        );
        // A sidecar run through `sidetop wrap` says by which application.
        state.model.sidecars[0].info.wrapped_by = Some("pid 812: nvim app.py".into());
        let screen = draw(&state, w, h);
        assert!(screen.contains("wrapped by pid 812: nvim app.py"), "{screen}");
        assert!(screen.contains("API_TOKEN=********"), "the rest still shown:\n{screen}");
        state.model.sidecars[0].info.wrapped_by = None;
        // A sidecar left idle because its `needs` are missing says how to enable it.
        if w >= 120 {
            let saved = state.model.sidecars[0].info.clone();
            state.model.sidecars[0].info.life = sidetop::api::wire::Life::Idle;
            state.model.sidecars[0].info.pid = None;
            state.model.sidecars[0].info.state = "idle".into();
            state.model.sidecars[0].info.error = Some("not started: needs grpcio: run scripts/test".into());
            let screen = draw(&state, w, h);
            assert!(screen.contains("not started: needs grpcio: run scripts/test"), "{screen}");
            state.model.sidecars[0].info = saved;
        }

        state.tab = Tab::Latency;
        let screen = draw(&state, w, h);
        let methods: &[&str] = if h >= 40 { &["ping", "fail", "echo"] } else { &["fail", "echo"] };
        for word in ["p50", "p99.9", "(all)", "error 1"].iter().chain(methods) {
            assert!(screen.contains(word), "{w}x{h} latency: {word:?} missing:\n{screen}");
        }

        state.tab = Tab::Traffic;
        state.focus = Focus::Detail;
        state.traffic_selected = fail_row;
        let screen = draw(&state, w, h);
        assert!(screen.contains("-> fail") && screen.contains("error -32000"), "{screen}");
        state.traffic_open = true;
        let screen = draw(&state, w, h);
        assert!(screen.contains("requested failure") && screen.contains("response"), "{screen}");
        state.traffic_open = false;

        state.tab = Tab::Events;
        state.selected = 1;
        let screen = draw(&state, w, h);
        assert!(screen.contains("crash loop: gave up after 2 exits in 60s"), "{screen}");
        assert!(screen.contains("exited: SIGSEGV"), "{screen}");

        state.overlay = Overlay::Help;
        let screen = draw(&state, w, h);
        assert!(screen.contains("keys (Esc closes)") && screen.contains("compose a request"), "{screen}");

        state.overlay = Overlay::Reply(failed.clone());
        let screen = draw(&state, w, h);
        assert!(screen.contains("reply from echo") && screen.contains("requested failure"), "{screen}");

        state.selected = 0;
        state.overlay = Overlay::Composer(Box::new(Composer::new(0, &state.sidecars()[0].setup).unwrap()));
        update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
        for c in "[1,".chars() {
            update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        }
        update(&mut state, Msg::Key(KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE)));
        let screen = draw(&state, w, h);
        assert!(
            screen.contains("request to echo (JSON-RPC)")
                && screen.contains("not sent: invalid JSON at line 1"),
            "{screen}"
        );

        state.overlay = Overlay::Load(LoadDialog {
            requests: "1000".into(),
            concurrency: "8".into(),
            field: 0,
            error: None,
        });
        let screen = draw(&state, w, h);
        assert!(screen.contains("load test echo") && screen.contains("concurrency"), "{screen}");

        state.overlay = Overlay::Report(report.render());
        let screen = draw(&state, w, h);
        assert!(screen.contains("50 requests in") && screen.contains("outcomes: 50 ok"), "{screen}");
        state.overlay = Overlay::None;

        state.quitting = Some(Instant::now());
        let screen = draw(&state, w, h);
        assert!(
            screen.contains("quitting: stopping sidecars") && screen.contains("SIGKILL what is left"),
            "{screen}"
        );
        state.quitting = None;
    }
    sup.shutdown().await;
}

/// `attach --all`: the rows of several engines under a line per engine with its counts;
/// sorted by a column, the lines go (the order is no longer by engine).
/// Attached to 20 engines the header's config is every engine's file: it is cut, and the
/// counts by state still show (they were pushed off the line).
#[test]
fn the_header_counts_show_however_long_the_config_is() {
    let toml = "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\n[[sidecar]]\nname = \"b\"\ncommand = [\"true\"]\n\
                [[sidecar]]\nname = \"c\"\ncommand = [\"true\"]\n";
    let (_dir, config) = config(toml, &marker());
    let setups: Vec<sidetop::api::SidecarSetup> =
        config.sidecars.iter().map(sidetop::api::build::setup).collect();
    let infos = setups
        .iter()
        .zip(["ready", "ready", "lost"])
        .map(|(s, state)| sidetop::api::SidecarInfo {
            name: s.name.clone(),
            state: state.into(),
            ..Default::default()
        })
        .collect();
    let long: Vec<String> =
        (0..20).map(|i| format!("/home/operator/projects/service-{i:02}/sidetop.toml")).collect();
    let snapshot =
        sidetop::api::Snapshot { config: long.join(", "), setups, sidecars: infos, ..Default::default() };
    let state =
        State::new(sidetop::app::model::Model::from_snapshot(snapshot), sidetop::app::state::Mode::InProcess);
    for (w, h) in [(80, 24), (160, 48)] {
        let screen = draw(&state, w, h);
        let header = screen.lines().next().unwrap();
        assert!(header.contains("2 ready") && header.contains("1 lost"), "{w}x{h}: {header}");
        assert!(header.contains("service-00") && header.contains('…'), "{w}x{h}: {header}");
    }
}

#[test]
fn rows_of_several_engines_come_under_a_line_per_engine() {
    let toml = "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\n[[sidecar]]\nname = \"b\"\ncommand = [\"true\"]\n\
                [[sidecar]]\nname = \"c\"\ncommand = [\"true\"]\n";
    let (dir, config) = config(toml, &marker());
    let mut setups: Vec<sidetop::api::SidecarSetup> =
        config.sidecars.iter().map(sidetop::api::build::setup).collect();
    for (setup, engine) in setups.iter_mut().zip(["agent-one", "agent-one", "wrap-c-42"]) {
        setup.name = format!("{engine}/{}", setup.name);
    }
    let mut infos: Vec<sidetop::api::SidecarInfo> = setups
        .iter()
        .map(|s| sidetop::api::SidecarInfo {
            name: s.name.clone(),
            state: "ready".into(),
            ..Default::default()
        })
        .collect();
    infos[1].state = "lost".into();
    let snapshot =
        sidetop::api::Snapshot { config: "2 engines".into(), setups, sidecars: infos, ..Default::default() };
    let mut state =
        State::new(sidetop::app::model::Model::from_snapshot(snapshot), sidetop::app::state::Mode::InProcess);
    state.size = (120, 40);
    let screen = draw(&state, 120, 40);
    let line = |needle: &str| {
        screen.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{screen}")).to_string()
    };
    assert!(line("▾ agent-one").contains("1/2 ready") && line("▾ agent-one").contains("1 lost"), "{screen}");
    assert!(line("▾ wrap-c-42").contains("1/1 ready"), "{screen}");
    let order: Vec<usize> = ["▾ agent-one", "agent-one/a", "agent-one/b", "▾ wrap-c-42", "wrap-c-42/c"]
        .iter()
        .map(|n| screen.lines().position(|l| l.contains(n)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{screen}");
    // A click lands on the sidecar drawn there, not one line off for the engine's line.
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    for (name, index) in [("wrap-c-42/c", 2), ("agent-one/b", 1)] {
        let row = screen.lines().position(|l| l.contains(name)).unwrap() as u16;
        let click = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 3,
            row,
            modifiers: KeyModifiers::NONE,
        };
        update(&mut state, Msg::Mouse(click));
        assert_eq!(state.selected, index, "clicked {name}");
    }
    // z folds the selected sidecar's engine under its line; Z unfolds.
    state.selected = 0;
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE)));
    let folded = draw(&state, 120, 40);
    assert!(folded.contains("▸ agent-one") && !folded.contains("agent-one/a"), "{folded}");
    assert!(
        folded.contains("wrap-c-42/c") && state.selected == 2,
        "the selection moves to a row shown:\n{folded}"
    );
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char('Z'), KeyModifiers::NONE)));
    assert!(draw(&state, 120, 40).contains("agent-one/b"));
    // / in the table filters its rows by name, engine or state, as it is typed; Esc ends it.
    state.focus = Focus::Table;
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
    for c in "wrap".chars() {
        update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    let filtered = draw(&state, 120, 40);
    assert!(filtered.contains("wrap-c-42/c") && !filtered.contains("agent-one/a"), "{filtered}");
    assert!(filtered.contains("/wrap▏") && state.selected == 2, "{filtered}");
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(draw(&state, 120, 40).contains("/wrap: 1 shown"));
    // Esc once the filter is kept shows every row again, as it does while typing.
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(draw(&state, 120, 40).contains("agent-one/a"), "Esc after Enter shows every row again");
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)));
    update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(draw(&state, 120, 40).contains("agent-one/a"), "Esc shows every row again");
    // Narrow too, and without the lines once sorted by a column.
    assert!(draw(&state, 80, 24).contains("▾ agent-one"));
    // Where ENGINE/NAME does not fit, a row under its engine's line is its own name.
    let narrow = draw(&state, 70, 24);
    assert!(narrow.lines().any(|l| l.starts_with("│a ")) && !narrow.contains("agent-one/a "), "{narrow}");
    state.sort = sidetop::app::state::SortBy::Name;
    assert!(!draw(&state, 120, 40).contains("▾ agent-one"));
    drop(dir);
}
