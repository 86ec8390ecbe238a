//! `update` from key to state change to effect, for every default key, on a dashboard
//! built over a real engine (sidecars not started: `update` does no I/O anyway).

mod common;

use common::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use sidetop::app::msg::{Effect, LoadPlanEq, Msg};
use sidetop::app::state::{Focus, Overlay, SortBy, State, Tab};
use sidetop::app::update::update;
use sidetop::config::ipc::RequestSpec;
use sidetop::metrics::resources::Resources;
use sidetop::supervisor::{Options, Supervisor};
use std::sync::{Arc, Mutex};

const CONFIG: &str = r#"
[defaults]
autostart = false

[[sidecar]]
name = "alpha"
command = ["true"]

[[sidecar]]
name = "echo"
command = ["python3", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
[[sidecar.request]]
name = "ping"
method = "ping"
[[sidecar.request]]
name = "echo"
method = "echo"
params = { a = 1 }

[[sidecar]]
name = "gamma"
command = ["true"]
"#;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn press(state: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars().flat_map(|c| update(state, key(KeyCode::Char(c)))).collect()
}

async fn dashboard() -> (State, Supervisor, tempfile::TempDir) {
    let (dir, config) = config(CONFIG, &marker());
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let resources =
        Arc::new(Mutex::new(Resources { sidecars: vec![Default::default(); 3], ..Default::default() }));
    let mut state = State::new("test.toml".into(), sup.sidecars().to_vec(), resources);
    state.size = (120, 40);
    (state, sup, dir)
}

#[tokio::test]
async fn movement_tabs_and_panes() {
    let (mut s, _sup, _d) = dashboard().await;
    assert_eq!(s.selected, 0);
    press(&mut s, "j");
    assert_eq!(s.selected, 1);
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.selected, 2);
    press(&mut s, "j");
    assert_eq!(s.selected, 2, "stays on the last row");
    update(&mut s, key(KeyCode::Up));
    press(&mut s, "k");
    assert_eq!(s.selected, 0);
    press(&mut s, "G");
    assert_eq!(s.selected, 2);
    press(&mut s, "g");
    assert_eq!(s.selected, 0);
    update(&mut s, key(KeyCode::PageDown));
    assert_eq!(s.selected, 2);
    update(&mut s, key(KeyCode::PageUp));
    assert_eq!(s.selected, 0);

    for (c, tab) in [
        ('1', Tab::Logs),
        ('2', Tab::Resources),
        ('3', Tab::Latency),
        ('4', Tab::Traffic),
        ('5', Tab::Events),
    ] {
        press(&mut s, &c.to_string());
        assert_eq!(s.tab, tab);
    }
    assert_eq!(s.focus, Focus::Table);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.focus, Focus::Detail);
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(s.focus, Focus::Table);
}

#[tokio::test]
async fn actions_on_the_selected_sidecar() {
    let (mut s, _sup, _d) = dashboard().await;
    press(&mut s, "j");
    assert_eq!(press(&mut s, "r"), [Effect::Restart(1)]);
    assert!(s.status.as_ref().unwrap().0.contains("restarting echo"));
    assert_eq!(press(&mut s, "s"), [Effect::Start(1)]);
    assert_eq!(press(&mut s, "x"), [Effect::Stop(1)]);
    assert_eq!(press(&mut s, "K"), [Effect::Kill(1)]);
    assert_eq!(
        press(&mut s, "t"),
        [Effect::Request { sidecar: 1, spec: RequestSpec::Rpc { method: "ping".into(), params: None } }]
    );
    press(&mut s, "k");
    assert_eq!(press(&mut s, "t"), [], "alpha has no IPC");
    assert!(s.status.as_ref().unwrap().0.contains("no [sidecar.ipc]"));
    assert_eq!(press(&mut s, "c"), [Effect::ClearLogs(0)]);
}

#[tokio::test]
async fn log_view_keys() {
    let (mut s, _sup, _d) = dashboard().await;
    update(&mut s, key(KeyCode::Tab));
    assert!(s.logs.follow);
    update(&mut s, key(KeyCode::Up));
    assert_eq!((s.logs.scroll, s.logs.follow), (1, false), "scrolling up pauses follow");
    press(&mut s, "G");
    assert_eq!((s.logs.scroll, s.logs.follow), (0, true), "G resumes");
    press(&mut s, "f");
    assert!(!s.logs.follow);
    press(&mut s, "f");
    assert!(s.logs.follow);
    press(&mut s, "e");
    assert!(s.logs.stderr_only);
    press(&mut s, "w");
    assert!(s.logs.wrap);
    press(&mut s, "d");
    assert!(s.logs.timestamps);
    press(&mut s, "a");
    assert!(s.logs.all);

    press(&mut s, "/");
    assert_eq!(s.logs.typing.as_deref(), Some(""));
    assert_eq!(press(&mut s, "rK"), [], "keys are text while typing a search");
    assert_eq!(s.logs.typing.as_deref(), Some("rK"));
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Enter));
    assert_eq!((s.logs.search.as_deref(), s.logs.typing.as_deref()), (Some("r"), None));
    press(&mut s, "N");
    assert_eq!(s.logs.scroll, 1);
    press(&mut s, "n");
    assert_eq!(s.logs.scroll, 0);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.logs.search, None);
}

#[tokio::test]
async fn sort_traffic_help_and_quit() {
    let (mut s, _sup, _d) = dashboard().await;
    press(&mut s, "o");
    assert_eq!(s.sort, SortBy::Name);
    press(&mut s, "O");
    assert!(s.sort_reversed);
    assert_eq!(s.order(), [2, 1, 0], "names reversed: gamma, echo, alpha");

    press(&mut s, "4");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.traffic_open);
    update(&mut s, key(KeyCode::Enter));
    assert!(!s.traffic_open);

    press(&mut s, "?");
    assert!(matches!(s.overlay, Overlay::Help));
    assert_eq!(press(&mut s, "r"), [], "keys do nothing under help");
    update(&mut s, key(KeyCode::Esc));
    assert!(matches!(s.overlay, Overlay::None));

    assert_eq!(press(&mut s, "q"), [Effect::Shutdown]);
    assert!(s.quitting.is_some());
    assert_eq!(press(&mut s, "r"), []);
    assert_eq!(press(&mut s, "q"), [Effect::ForceQuit], "a second q kills what is left");
    let (mut s, _sup, _d) = dashboard().await;
    assert_eq!(update(&mut s, ctrl('c')), [Effect::Shutdown]);
    assert_eq!(update(&mut s, ctrl('c')), [Effect::ForceQuit]);
}

#[tokio::test]
async fn composer_checks_json_sends_and_recalls() {
    let (mut s, _sup, _d) = dashboard().await;
    press(&mut s, "T");
    assert!(s.status.as_ref().unwrap().0.contains("alpha has no [sidecar.ipc]"));
    press(&mut s, "j");
    press(&mut s, "T");
    let Overlay::Composer(c) = &s.overlay else { panic!("composer") };
    assert_eq!(c.method.text(), "ping", "starts from the first template");

    update(&mut s, key(KeyCode::F(2)));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!((c.method.text(), c.body.text()), ("echo".to_string(), "{\n  \"a\": 1\n}".to_string()));

    // Break the JSON: not sent, error with its position.
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Char(',')));
    assert_eq!(update(&mut s, ctrl('s')), []);
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert!(c.error.as_deref().unwrap().starts_with("invalid JSON at line 3, column"), "{:?}", c.error);
    update(&mut s, key(KeyCode::Backspace));
    let effects = update(&mut s, key(KeyCode::F(5)));
    let params = serde_json::json!({"a": 1});
    assert_eq!(
        effects,
        [Effect::Request {
            sidecar: 1,
            spec: RequestSpec::Rpc { method: "echo".into(), params: Some(params.clone()) }
        }]
    );

    // A reply lands in the composer, not in a separate overlay.
    update(&mut s, key(KeyCode::F(2)));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(c.method.text(), "ping");
    update(&mut s, ctrl('p'));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(
        (c.method.text(), c.body.text()),
        ("echo".to_string(), "{\n  \"a\": 1\n}".to_string()),
        "recalled"
    );
    update(&mut s, key(KeyCode::Esc));
    assert!(matches!(s.overlay, Overlay::None));
}

#[tokio::test]
async fn load_dialog_starts_a_load_run() {
    let (mut s, _sup, _d) = dashboard().await;
    press(&mut s, "jL");
    assert!(matches!(s.overlay, Overlay::Load(_)));
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Backspace));
    press(&mut s, "4");
    let effects = update(&mut s, key(KeyCode::Enter));
    let spec = RequestSpec::Rpc { method: "ping".into(), params: None };
    assert_eq!(
        effects,
        [Effect::Load { sidecar: 1, spec, plan: LoadPlanEq { requests: 10, concurrency: 4 } }]
    );
    assert_eq!(s.tab, Tab::Latency, "watch the histogram fill");
}

#[tokio::test]
async fn mouse_wheel_scrolls_and_click_selects() {
    let (mut s, _sup, _d) = dashboard().await;
    let mouse = |kind, row| Msg::Mouse(MouseEvent { kind, column: 5, row, modifiers: KeyModifiers::NONE });
    // Table: header line at 0, border at 1, column titles at 2, rows from 3.
    update(&mut s, mouse(MouseEventKind::Down(MouseButton::Left), 5));
    assert_eq!((s.selected, s.focus), (2, Focus::Table));
    update(&mut s, mouse(MouseEventKind::ScrollUp, 30));
    assert_eq!((s.focus, s.logs.scroll, s.logs.follow), (Focus::Detail, 3, false));
    update(&mut s, mouse(MouseEventKind::ScrollDown, 30));
    assert_eq!(s.logs.scroll, 0);
}
