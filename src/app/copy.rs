//! Getting text out of the log pane: `v` selects lines (`j`/`k`/`g`/`G` move the end,
//! `Esc` leaves), `y` copies the selection (or, without one, the newest line shown), `Y`
//! the whole filtered view. The text is plain (no colour) and goes to the clipboard with
//! OSC 52, which works through tmux and ssh; the status line says how many lines. `P`
//! shows the view in `$PAGER`, `S` saves it to a file.

use super::msg::Effect;
use super::state::State;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// Lines a copy takes at most (OSC 52 payloads are limited by terminals).
const MAX_LINES: usize = 20_000;

/// Keys while a selection is open; `None` when there is none (the key goes on).
pub fn on_selection_key(state: &mut State, key: &KeyEvent) -> Option<Vec<Effect>> {
    let (anchor, cursor) = state.logs.selection?;
    let held = crate::app::log_view::collect(state, 0, usize::MAX).len();
    let oldest = held.saturating_sub(1);
    let cursor = match key.code {
        KeyCode::Char('j') | KeyCode::Down => cursor.saturating_sub(1),
        KeyCode::Char('k') | KeyCode::Up => (cursor + 1).min(oldest),
        KeyCode::Char('G') | KeyCode::End => 0,
        KeyCode::Char('g') | KeyCode::Home => oldest,
        KeyCode::Char('y') => {
            state.logs.selection = None;
            return Some(copy(state, anchor.min(cursor), anchor.max(cursor)));
        }
        KeyCode::Esc | KeyCode::Char('v') => {
            state.logs.selection = None;
            state.say("selection left");
            return Some(Vec::new());
        }
        _ => return Some(Vec::new()),
    };
    state.logs.selection = Some((anchor, cursor));
    // Keep the moving end on screen.
    let rows = crate::app::layout::areas(
        ratatui::layout::Rect::new(0, 0, state.size.0, state.size.1),
        state.sidecars().len(),
    )
    .detail
    .height
    .saturating_sub(2) as usize;
    if cursor < state.logs.scroll {
        state.logs.scroll = cursor;
    } else if rows > 0 && cursor >= state.logs.scroll + rows {
        state.logs.scroll = cursor + 1 - rows;
    }
    state.logs.follow = state.logs.scroll == 0;
    Some(Vec::new())
}

/// `v`: a selection starting at the newest line shown.
pub fn start_selection(state: &mut State) {
    let at = state.logs.scroll;
    state.logs.selection = Some((at, at));
    state.logs.follow = false;
    state.say("selecting: j/k/g/G extend, y copies, Esc leaves");
}

/// `y` without a selection: the newest line shown.
pub fn copy_line(state: &mut State) -> Vec<Effect> {
    let at = state.logs.scroll;
    copy(state, at, at)
}

/// `Y`: every line the view shows (filters applied), scrolled or not.
pub fn copy_view(state: &mut State) -> Vec<Effect> {
    copy(state, 0, usize::MAX - 1)
}

/// `P`: every line the view shows, in `$PAGER`.
pub fn page_view(state: &mut State) -> Vec<Effect> {
    vec![Effect::Page(view_text(state))]
}

/// `S`: every line the view shows, with times and the stream, to a file.
pub fn save_view(state: &mut State) -> Vec<Effect> {
    let sidecar = if state.logs.all {
        "all".to_string()
    } else {
        state.selected().map(|s| s.name().to_string()).unwrap_or_default()
    };
    let lines = crate::app::log_view::collect(state, 0, usize::MAX);
    let text: String = lines
        .iter()
        .map(|l| {
            let at = chrono::DateTime::<chrono::Local>::from(crate::api::system_time(l.line.at_ms));
            format!(
                "{} {} {}\n",
                at.format("%Y-%m-%d %H:%M:%S%.3f"),
                if l.line.stderr { "!" } else { "|" },
                l.plain()
            )
        })
        .collect();
    vec![Effect::Save { sidecar, text }]
}

fn view_text(state: &State) -> String {
    crate::app::log_view::collect(state, 0, usize::MAX).iter().map(|l| l.plain() + "\n").collect()
}

/// Lines `newest..=oldest` (positions from the newest line), oldest first.
fn copy(state: &mut State, newest: usize, oldest: usize) -> Vec<Effect> {
    let count = (oldest - newest + 1).min(MAX_LINES);
    let lines = crate::app::log_view::collect(state, newest, count);
    if lines.is_empty() {
        state.say("nothing to copy");
        return Vec::new();
    }
    let text: Vec<String> = lines.iter().map(|l| l.plain()).collect();
    let n = text.len();
    state.say(format!("copied {n} line{} to the clipboard (OSC 52)", if n == 1 { "" } else { "s" }));
    vec![Effect::Copy(text.join("\n") + "\n")]
}
