//! An engine joining a dashboard over several (`attach --all`): its snapshot alone is
//! merged in; the other engines' rows, the selection and the log lines already there
//! stay as they were.

use crate::common;

use common::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sidetop::api::{LogLineInfo, Notice, SidecarInfo, SidecarSetup, Snapshot};
use sidetop::app::msg::Msg;
use sidetop::app::state::State;
use sidetop::app::update::update;

fn draw(state: &State, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| sidetop::ui::render(f, state)).unwrap();
    let buffer = terminal.backend().buffer();
    let width = buffer.area.width as usize;
    let cells: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
    cells.chunks(width).map(|row| row.concat()).collect::<Vec<_>>().join("\n")
}

/// A snapshot of `names` (`ENGINE/NAME`), each in `state`.
fn part(config: &str, names: &[(&str, &str)]) -> Snapshot {
    let toml: String = names
        .iter()
        .enumerate()
        .map(|(i, _)| format!("[[sidecar]]\nname = \"s{i}\"\ncommand = [\"true\"]\n"))
        .collect();
    let (_dir, parsed) = config_of(&toml);
    let setups: Vec<SidecarSetup> = parsed
        .sidecars
        .iter()
        .map(sidetop::api::build::setup)
        .zip(names)
        .map(|(mut setup, (name, _))| {
            setup.name = name.to_string();
            setup
        })
        .collect();
    let sidecars = names
        .iter()
        .map(|(name, state)| SidecarInfo {
            name: name.to_string(),
            state: state.to_string(),
            ..Default::default()
        })
        .collect();
    Snapshot { config: config.into(), setups, sidecars, ..Default::default() }
}

fn config_of(toml: &str) -> (tempfile::TempDir, sidetop::config::Config) {
    config(toml, &marker())
}

#[test]
fn an_engine_that_joins_is_merged_in_and_the_others_stay_as_they_were() {
    let whole = part(
        "one.toml, wrap-c",
        &[("agent-one/a", "ready"), ("agent-one/b", "lost"), ("wrap-c-42/c", "ready")],
    );
    let mut state =
        State::new(sidetop::app::model::Model::from_snapshot(whole), sidetop::app::state::Mode::InProcess);
    state.size = (120, 40);
    let line =
        |seq: u64| LogLineInfo { seq, at_ms: 0, stderr: false, text: format!("line {seq}"), cut: false };
    for name in ["agent-one/a", "wrap-c-42/c"] {
        let lines = (0..3).map(line).collect();
        update(&mut state, Msg::Notice(Notice::Log { sidecar: name.into(), lines, gone: 0 }));
    }
    state.selected = 2;

    // agent-one comes back with a sidecar more: its rows are replaced where they were.
    let back =
        part("one.toml", &[("agent-one/a", "ready"), ("agent-one/b", "ready"), ("agent-one/d", "ready")]);
    let joined = Notice::Joined {
        engine: "agent-one".into(),
        config: "one.toml, wrap-c".into(),
        snapshot: Box::new(back),
    };
    update(&mut state, Msg::Notice(joined));
    let names: Vec<&str> = state.model.sidecars.iter().map(|v| v.name()).collect();
    assert_eq!(names, ["agent-one/a", "agent-one/b", "agent-one/d", "wrap-c-42/c"]);
    assert_eq!(state.selected().unwrap().name(), "wrap-c-42/c", "the selection stays on its sidecar");
    assert_eq!(state.model.sidecars[0].logs.lines.len(), 3, "the lines already there stay");
    assert_eq!(state.model.sidecars[3].logs.lines.len(), 3, "another engine's sidecar is untouched");
    assert_eq!(state.model.sidecars[1].info.state, "ready");

    // A new engine goes after the others, and the header's config is every engine's.
    let new = part("two.toml", &[("agent-two/e", "ready")]);
    let config = "one.toml, wrap-c, two.toml".to_string();
    update(
        &mut state,
        Msg::Notice(Notice::Joined { engine: "agent-two".into(), config, snapshot: Box::new(new) }),
    );
    let screen = draw(&state, 120, 40);
    let at =
        |needle: &str| screen.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{screen}"));
    assert!(at("▾ agent-one") < at("agent-one/d") && at("▾ wrap-c-42") < at("▾ agent-two"), "{screen}");
    assert!(screen.lines().nth(at("▾ agent-one")).unwrap().contains("3/3 ready"), "{screen}");
    assert!(
        screen.lines().next().unwrap().contains("two.toml") && screen.contains("engine agent-two joined"),
        "{screen}"
    );
    assert_eq!(state.selected().unwrap().name(), "wrap-c-42/c");
}
