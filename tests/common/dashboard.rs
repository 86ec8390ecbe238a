//! A dashboard model with no engine behind it (plain data, built from a real config's
//! sidecars) and the keys a person presses on it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sidetop::api::Snapshot;
use sidetop::app::model::Model;
use sidetop::app::msg::{Effect, Msg};
use sidetop::app::state::{Mode, State};
use sidetop::app::update::update;

/// The dashboard of `toml`'s sidecars as the first snapshot shows them, at 120x40.
pub fn offline_dashboard(toml: &str) -> (State, tempfile::TempDir) {
    let (dir, config) = super::config(toml, &super::marker());
    let setups = config.sidecars.iter().map(sidetop::api::build::setup).collect();
    let snapshot = Snapshot { config: "test.toml".into(), setups, ..Snapshot::default() };
    let mut state = State::new(Model::from_snapshot(snapshot), Mode::InProcess);
    state.size = (120, 40);
    (state, dir)
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Each character of `keys` as a key press, and the effects they asked for.
pub fn press(state: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars().flat_map(|c| update(state, key(KeyCode::Char(c)))).collect()
}
