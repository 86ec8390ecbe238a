//! `update` from key to state change to effect, for every default key, on a dashboard
//! model built from a real config's sidecars: plain data, no engine (`update` does no I/O).

use crate::common;

use common::*;
use ratatui::crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use sidetop::app::msg::{Effect, LoadPlanEq, Msg};
use sidetop::app::state::Mode;
use sidetop::app::state::{Focus, Overlay, SortBy, State, Tab};
use sidetop::app::update::update;
use sidetop::config::ipc::RequestSpec;

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

async fn dashboard() -> (State, (), tempfile::TempDir) {
    let (mut state, dir) = offline_dashboard(CONFIG);
    // The first sidecar's log is followed from the start, as the run loop does.
    assert!(sidetop::app::update::follow_logs(&mut state).is_some());
    (state, (), dir)
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

/// Lines in every sidecar's scrollback, as the engine would send them.
fn fill_logs(s: &mut State, n: u64) {
    for name in ["alpha", "echo", "gamma"] {
        let lines = (0..n)
            .map(|seq| sidetop::api::LogLineInfo {
                seq,
                at_ms: seq,
                stderr: false,
                text: format!("{name} {seq}"),
                cut: false,
            })
            .collect();
        update(s, Msg::Notice(sidetop::api::Notice::Log { sidecar: name.into(), lines, gone: 0 }));
    }
}

#[tokio::test]
async fn log_view_keys() {
    let (mut s, _sup, _d) = dashboard().await;
    fill_logs(&mut s, 200);
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
    fill_logs(&mut s, 200);
    let mouse = |kind, row| Msg::Mouse(MouseEvent { kind, column: 5, row, modifiers: KeyModifiers::NONE });
    // Table: header line at 0, border at 1, column titles at 2, rows from 3.
    update(&mut s, mouse(MouseEventKind::Down(MouseButton::Left), 5));
    assert_eq!((s.selected, s.focus), (2, Focus::Table));
    update(&mut s, mouse(MouseEventKind::ScrollUp, 30));
    assert_eq!((s.focus, s.logs.scroll, s.logs.follow), (Focus::Detail, 3, false));
    update(&mut s, mouse(MouseEventKind::ScrollDown, 30));
    assert_eq!(s.logs.scroll, 0);
}

#[tokio::test]
async fn the_log_pane_follows_what_it_shows() {
    let (mut s, _sup, _d) = dashboard().await;
    assert_eq!(s.following, vec!["alpha".to_string()]);
    let effects = press(&mut s, "j");
    assert_eq!(effects, vec![Effect::FollowLogs(vec![("echo".into(), 0)])]);
    // Lines arrive; following again later starts after them, not from the start.
    let line = |seq: u64| sidetop::api::LogLineInfo {
        seq,
        at_ms: 1,
        stderr: false,
        text: format!("line {seq}"),
        cut: false,
    };
    let notice =
        sidetop::api::Notice::Log { sidecar: "echo".into(), lines: (0..5).map(line).collect(), gone: 0 };
    update(&mut s, Msg::Notice(notice));
    // The same lines again (a follow restarted from an older point) are not kept twice.
    let again =
        sidetop::api::Notice::Log { sidecar: "echo".into(), lines: (3..6).map(line).collect(), gone: 0 };
    update(&mut s, Msg::Notice(again));
    assert_eq!(s.sidecars()[1].logs.lines.len(), 6);
    press(&mut s, "k");
    assert_eq!(press(&mut s, "j"), vec![Effect::FollowLogs(vec![("echo".into(), 6)])]);
    // `a`: every sidecar's.
    let effects = press(&mut s, "a");
    assert_eq!(
        effects,
        vec![Effect::FollowLogs(vec![("alpha".into(), 0), ("echo".into(), 6), ("gamma".into(), 0)])]
    );
    assert!(press(&mut s, "jk").is_empty(), "moving changes nothing while every log is shown");
}

#[tokio::test]
async fn attached_q_detaches_and_capital_q_asks_before_stopping_the_agent() {
    let (mut s, _sup, _d) = dashboard().await;
    s.mode = Mode::Attached { to: "agent 1 on test.sock".into() };
    assert_eq!(press(&mut s, "q"), vec![Effect::Detach]);
    assert!(s.quitting.is_none());
    assert!(press(&mut s, "Q").is_empty());
    assert!(matches!(s.overlay, Overlay::ConfirmShutdown));
    assert!(press(&mut s, "n").is_empty(), "anything but y keeps the agent");
    assert!(matches!(s.overlay, Overlay::None));
    press(&mut s, "Q");
    assert_eq!(press(&mut s, "y"), vec![Effect::Shutdown]);
    // In-process, Q is q: stop everything.
    let (mut s, _sup, _d) = dashboard().await;
    assert_eq!(press(&mut s, "Q"), vec![Effect::Shutdown]);
}

#[tokio::test]
async fn notices_that_raced_the_snapshot_are_kept_once() {
    let (mut s, _sup, _d) = dashboard().await;
    let event = sidetop::api::EventInfo {
        sidecar: "echo".into(),
        at_ms: 5,
        text: "started (pid 7)".into(),
        level: sidetop::api::Level::Good,
    };
    update(&mut s, Msg::Notice(sidetop::api::Notice::Event(event.clone())));
    update(&mut s, Msg::Notice(sidetop::api::Notice::Event(event)));
    assert_eq!(s.sidecars()[1].events.len(), 1);
    let round = |taken: u64, cpu: f32| {
        sidetop::api::Notice::Samples(sidetop::api::Samples {
            taken,
            sidecars: ["alpha", "echo", "gamma"]
                .map(|n| (n.to_string(), sidetop::metrics::resources::Sample { cpu, ..Default::default() }))
                .to_vec(),
            ..Default::default()
        })
    };
    update(&mut s, Msg::Notice(round(2, 1.0)));
    update(&mut s, Msg::Notice(round(1, 9.0)));
    update(&mut s, Msg::Notice(round(2, 9.0)));
    assert_eq!(s.sidecars()[0].samples.len(), 1, "older and repeated rounds are skipped");
}

#[tokio::test]
async fn scrolling_stops_at_the_oldest_line() {
    let (mut s, _sup, _d) = dashboard().await;
    fill_logs(&mut s, 200);
    update(&mut s, key(KeyCode::Tab));
    press(&mut s, "g");
    let rows = s.logs.scroll;
    assert!(rows > 0 && rows < 200, "the top leaves a screenful: scroll {rows}");
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.logs.scroll, rows, "no further than the top");
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.logs.scroll, rows - 1);
}

#[tokio::test]
async fn capital_r_asks_before_reloading_and_follows_the_new_set() {
    let (mut s, _sup, _d) = dashboard().await;
    assert_eq!(press(&mut s, "R"), vec![Effect::Reload { dry_run: true }]);
    update(&mut s, Msg::ReloadPlan(Ok("reload: +1 started (delta), 3 unchanged".into())));
    assert!(matches!(&s.overlay, Overlay::ConfirmReload(plan) if plan.contains("delta")));
    assert!(press(&mut s, "x").is_empty(), "anything but y changes nothing");
    assert!(s.status.as_ref().unwrap().0.contains("cancelled"));
    press(&mut s, "R");
    update(&mut s, Msg::ReloadPlan(Ok("reload: +1 started (delta), 3 unchanged".into())));
    assert_eq!(press(&mut s, "y"), vec![Effect::Reload { dry_run: false }]);
    // The engine says it reloaded: a new snapshot, then the logs of what is shown again.
    let reloaded = sidetop::api::Notice::Reloaded { ok: true, text: "reload: +1 started (delta)".into() };
    assert_eq!(update(&mut s, Msg::Notice(reloaded)), vec![Effect::Resnapshot]);
    // A refused reload shows why, and takes no snapshot.
    let refused =
        sidetop::api::Notice::Reloaded { ok: false, text: "reload refused: x.toml:3:1: bad".into() };
    assert!(update(&mut s, Msg::Notice(refused)).is_empty());
    assert!(matches!(&s.overlay, Overlay::Report(text) if text.contains("x.toml:3:1")));
    // An invalid file found by the dry run: the error, no confirmation.
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, Msg::ReloadPlan(Err("reload refused, nothing changed: x.toml:3:1: bad".into())));
    assert!(matches!(&s.overlay, Overlay::Report(text) if text.contains("x.toml:3:1")));
}

#[tokio::test]
async fn v_y_and_capital_y_copy_plain_lines() {
    let (mut s, _sup, _d) = dashboard().await;
    let line = |seq: u64, text: &str| sidetop::api::LogLineInfo {
        seq,
        at_ms: seq,
        stderr: false,
        text: text.into(),
        cut: false,
    };
    let lines = vec![line(0, "first"), line(1, "\u{1b}[32mINFO\u{1b}[0m second"), line(2, "third")];
    update(&mut s, Msg::Notice(sidetop::api::Notice::Log { sidecar: "alpha".into(), lines, gone: 0 }));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(press(&mut s, "y"), vec![Effect::Copy("third\n".into())], "y: the newest line shown");
    assert!(s.status.as_ref().unwrap().0.contains("copied 1 line"));
    assert_eq!(press(&mut s, "Y"), vec![Effect::Copy("first\nINFO second\nthird\n".into())], "no colour");
    // v, then up twice: the last three lines; y copies them and leaves the selection.
    assert!(press(&mut s, "vkk").is_empty());
    assert_eq!(s.logs.selection, Some((0, 2)));
    assert_eq!(press(&mut s, "j"), vec![]);
    assert_eq!(press(&mut s, "y"), vec![Effect::Copy("INFO second\nthird\n".into())]);
    assert_eq!(s.logs.selection, None);
    // Esc leaves a selection without copying; k past the oldest line stops there.
    press(&mut s, "vkkkkk");
    assert_eq!(s.logs.selection, Some((0, 2)));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.logs.selection, None);
}

#[tokio::test]
async fn capital_p_pages_and_capital_s_saves_the_view() {
    let (mut s, _sup, _d) = dashboard().await;
    fill_logs(&mut s, 3);
    assert_eq!(press(&mut s, "P"), vec![Effect::Page("alpha 0\nalpha 1\nalpha 2\n".into())]);
    match press(&mut s, "S").as_slice() {
        [Effect::Save { sidecar, text }] => {
            assert_eq!(sidecar, "alpha");
            assert_eq!(text.lines().count(), 3);
            assert!(text.lines().all(|l| l.contains(" | alpha ")), "{text}");
        }
        other => panic!("{other:?}"),
    }
    press(&mut s, "2");
    assert!(press(&mut s, "P").is_empty(), "only in the logs tab");
}

#[tokio::test]
async fn enter_on_a_sidecar_in_crash_loop_shows_its_events() {
    let (mut s, _sup, _d) = dashboard().await;
    let info = sidetop::api::SidecarInfo {
        name: "alpha".into(),
        life: sidetop::api::Life::CrashLoop,
        state: "crash-loop".into(),
        ..Default::default()
    };
    update(&mut s, Msg::Notice(sidetop::api::Notice::Status { sidecars: vec![info], partial: true }));
    update(&mut s, key(KeyCode::Enter));
    assert_eq!((s.tab, s.focus), (Tab::Events, Focus::Detail));
    // On another sidecar Enter keeps its meaning.
    update(&mut s, key(KeyCode::BackTab));
    press(&mut s, "j1");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.tab, Tab::Logs);
}

/// A paste is text, never keys: "Kxr\n" over the table kills, stops and restarts nothing;
/// in the composer it lands in the focused field and its line break does not send; in the
/// log search it becomes the query.
#[tokio::test]
async fn a_paste_goes_to_the_focused_text_field_and_never_acts() {
    let (mut s, _sup, _d) = dashboard().await;
    press(&mut s, "j");
    assert_eq!(update(&mut s, Msg::Paste("Kxr\nqQ".into())), []);
    assert!(matches!(s.overlay, Overlay::None) && s.quitting.is_none());
    assert!(s.status.as_ref().unwrap().0.starts_with("paste ignored"), "{:?}", s.status);

    press(&mut s, "T");
    update(&mut s, key(KeyCode::Tab)); // to the body
    let Overlay::Composer(c) = &mut s.overlay else { panic!("composer") };
    c.body = sidetop::app::composer::TextArea::from("");
    assert_eq!(
        update(&mut s, Msg::Paste("{\"a\":\r\n 1}".into())),
        [],
        "a line break in a paste never sends"
    );
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(c.body.text(), "{\"a\":\n 1}");
    update(&mut s, key(KeyCode::BackTab)); // to the method: one line, the break is a space
    let Overlay::Composer(c) = &mut s.overlay else { panic!() };
    c.method = sidetop::app::composer::TextArea::from("");
    assert_eq!(update(&mut s, Msg::Paste("ec\nho\x1b".into())), []);
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(c.method.text(), "ec ho", "control characters dropped");
    update(&mut s, key(KeyCode::Esc));

    update(&mut s, key(KeyCode::Tab));
    press(&mut s, "/");
    update(&mut s, Msg::Paste("Kx\tr".into()));
    assert_eq!(s.logs.typing.as_deref(), Some("Kx r"));
}

/// A partial sampling round names only the sidecars whose figures changed: the others
/// had the same again, and their history moves on with the round (a resource graph of a
/// quiet sidecar keeps pace with a busy one's).
#[test]
fn a_partial_sampling_round_repeats_the_figures_of_those_it_leaves_out() {
    let (mut s, _dir) = offline_dashboard(CONFIG);
    let sample = |cpu: f32| sidetop::metrics::resources::Sample { cpu, rss: 4096, threads: 1, processes: 1 };
    let round = |taken: u64, sidecars: Vec<(String, sidetop::metrics::resources::Sample)>, partial: bool| {
        Msg::Notice(sidetop::api::Notice::Samples(sidetop::api::Samples {
            taken,
            host: Default::default(),
            sidecars,
            limits: Vec::new(),
            partial,
        }))
    };
    update(&mut s, round(1, vec![("alpha".into(), sample(1.0)), ("echo".into(), sample(2.0))], false));
    update(&mut s, round(2, vec![("alpha".into(), sample(50.0))], true));
    update(&mut s, round(3, vec![], true));
    let cpu = |s: &State, i: usize| s.sidecars()[i].samples.iter().map(|x| x.cpu).collect::<Vec<_>>();
    assert_eq!(cpu(&s, 0), [1.0, 50.0, 50.0]);
    assert_eq!(cpu(&s, 1), [2.0, 2.0, 2.0]);
    // A whole round leaves out nobody: a sidecar not in it gets nothing.
    update(&mut s, round(4, vec![("alpha".into(), sample(3.0))], false));
    assert_eq!((cpu(&s, 0).len(), cpu(&s, 1).len()), (4, 3));
}
