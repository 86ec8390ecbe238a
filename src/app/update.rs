//! `update`: a message in, state changed, effects out. No I/O here: the run loop carries
//! out the effects, which keeps every key testable without a terminal or processes.

use super::actions::act;
use super::keymap::{Action, action_for};
use super::msg::{Effect, Msg};
use super::state::{Focus, Overlay, State, Tab};
use crate::app::layout::{areas, table_body};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind};
use ratatui::layout::{Position, Rect};

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut effects = handle(state, msg);
    effects.extend(follow_logs(state));
    effects
}

/// The logs the pane shows must be followed: the selected sidecar's, or all of them.
/// Each is asked from where the model's copy ends, so nothing is fetched twice.
pub fn follow_logs(state: &mut State) -> Option<Effect> {
    let wanted: Vec<String> = if state.logs.all {
        state.sidecars().iter().map(|s| s.name().to_string()).collect()
    } else {
        state.selected().map(|s| s.name().to_string()).into_iter().collect()
    };
    if wanted == state.following {
        return None;
    }
    let from = wanted
        .iter()
        .filter_map(|name| Some((name.clone(), state.model.sidecars[state.model.index(name)?].logs.next_seq)))
        .collect();
    state.following = wanted;
    Some(Effect::FollowLogs(from))
}

fn handle(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        Msg::Key(key) => on_key(state, key),
        Msg::Paste(text) => {
            super::dialogs::on_paste(state, &text);
            Vec::new()
        }
        Msg::Notice(notice) => match notice {
            crate::api::Notice::Reloaded { ok, text } => {
                state.say(text.lines().next().unwrap_or_default().to_string());
                if ok {
                    vec![Effect::Resnapshot]
                } else {
                    state.overlay = Overlay::Report(text);
                    Vec::new()
                }
            }
            crate::api::Notice::Skipped { count } => {
                // What was skipped may be anything (a reload, limits, latency): start over
                // from a fresh snapshot.
                state.say(format!("the screen fell behind: {count} updates skipped"));
                vec![Effect::Resnapshot]
            }
            crate::api::Notice::Joined { ref engine, .. } => {
                state.say(crate::api::fleet::joined_text(engine));
                new_sidecars(state, |model| model.apply(notice));
                Vec::new()
            }
            notice => {
                state.model.apply(notice);
                Vec::new()
            }
        },
        Msg::Snapshot(snapshot) => {
            new_sidecars(state, |model| model.rebuild(*snapshot));
            Vec::new()
        }
        Msg::ReloadPlan(Ok(plan)) => {
            state.overlay = Overlay::ConfirmReload(plan);
            Vec::new()
        }
        Msg::ReloadPlan(Err(e)) | Msg::ReloadDone(Err(e)) => {
            state.say("the config was not reloaded");
            state.overlay = Overlay::Report(e);
            Vec::new()
        }
        Msg::ReloadDone(Ok(summary)) => {
            state.say(summary);
            Vec::new()
        }
        Msg::Mouse(mouse) => {
            let size = Rect::new(0, 0, state.size.0, state.size.1);
            let a = areas(size, crate::app::groups::table_rows(state));
            let at = Position::new(mouse.column, mouse.row);
            match mouse.kind {
                MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                    let up = mouse.kind == MouseEventKind::ScrollUp;
                    state.focus = if a.table.contains(at) { Focus::Table } else { Focus::Detail };
                    for _ in 0..3 {
                        act(state, if up { Action::Up } else { Action::Down });
                    }
                }
                MouseEventKind::Down(MouseButton::Left) if a.table.contains(at) => {
                    let body = table_body(a.table);
                    let order = state.order();
                    let lines = crate::app::groups::table_lines(state, &order, body.height as usize);
                    if body.contains(at)
                        && let Some(&crate::app::groups::TableLine::Sidecar(i)) =
                            lines.get((at.y - body.y) as usize)
                    {
                        state.selected = i;
                        state.focus = Focus::Table;
                    }
                }
                MouseEventKind::Down(MouseButton::Left) if a.detail.contains(at) => {
                    state.focus = Focus::Detail
                }
                _ => {}
            }
            Vec::new()
        }
        Msg::Resize(w, h) => {
            state.size = (w, h);
            Vec::new()
        }
        Msg::Done(text) => {
            state.say(text);
            Vec::new()
        }
        Msg::Reply(exchange) => {
            state.say(format!("{} {}", exchange.sidecar, exchange.summary()));
            match &mut state.overlay {
                Overlay::Composer(c) if c.sending => {
                    c.sending = false;
                    c.reply = Some(exchange);
                }
                _ => state.overlay = Overlay::Reply(exchange),
            }
            Vec::new()
        }
        Msg::LoadDone(report) => {
            // The status line said the run was going: now its result.
            state.say(report.lines().next().unwrap_or("load test done").to_string());
            state.overlay = Overlay::Report(report);
            Vec::new()
        }
        Msg::AllStopped => Vec::new(),
        Msg::QuitAborted(why) => {
            state.quitting = None;
            state.say(why);
            Vec::new()
        }
    }
}

/// First table row shown, so that the selection stays visible.
pub fn table_offset(state: &State, rows: usize, order: &[usize]) -> usize {
    let pos = order.iter().position(|&i| i == state.selected).unwrap_or(0);
    if rows == 0 { 0 } else { pos.saturating_sub(rows - 1) }
}

/// The set of sidecars changed (a snapshot, an engine joining): the selection stays on
/// the same sidecar, and what is shown is followed again.
fn new_sidecars(state: &mut State, change: impl FnOnce(&mut crate::app::model::Model)) {
    let selected = state.selected().map(|s| s.name().to_string());
    // A composer or load dialog points at a sidecar by position, which may now be
    // another one.
    if matches!(state.overlay, Overlay::Composer(_) | Overlay::Load(_)) {
        state.overlay = Overlay::None;
    }
    change(&mut state.model);
    state.selected = selected.and_then(|n| state.model.index(&n)).unwrap_or(0);
    state.following.clear();
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    if state.quitting.is_some() {
        // Quitting: a second q (or Ctrl-C) kills what is left.
        return if ctrl_c || key.code == KeyCode::Char('q') { vec![Effect::ForceQuit] } else { Vec::new() };
    }
    if ctrl_c {
        return quit(state);
    }
    if state.filter_typing {
        let filter = state.table_filter.get_or_insert_with(String::new);
        match key.code {
            KeyCode::Char(c) => filter.push(c),
            KeyCode::Backspace => drop(filter.pop()),
            KeyCode::Enter => {
                state.filter_typing = false;
                if filter.is_empty() {
                    state.table_filter = None;
                }
            }
            KeyCode::Esc => {
                state.filter_typing = false;
                state.table_filter = None;
            }
            _ => {}
        }
        // The selection stays on a row that is shown.
        let order = state.order();
        if !order.contains(&state.selected)
            && let Some(&first) = order.first()
        {
            state.selected = first;
        }
        return Vec::new();
    }
    if let Some(typing) = &mut state.logs.typing {
        match key.code {
            KeyCode::Char(c) => typing.push(c),
            KeyCode::Backspace => {
                typing.pop();
            }
            KeyCode::Enter => {
                let query = state.logs.typing.take().unwrap_or_default();
                state.logs.search = if query.is_empty() { None } else { Some(query) };
                state.logs.scroll = 0;
            }
            KeyCode::Esc => state.logs.typing = None,
            _ => {}
        }
        return Vec::new();
    }
    match std::mem::replace(&mut state.overlay, Overlay::None) {
        Overlay::None => {}
        Overlay::Help | Overlay::Reply(_) | Overlay::Report(_)
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?')
            ) =>
        {
            return Vec::new();
        }
        overlay @ (Overlay::Help | Overlay::Reply(_) | Overlay::Report(_)) => {
            state.overlay = overlay;
            return Vec::new();
        }
        Overlay::ConfirmReload(_) => {
            if key.code != KeyCode::Char('y') {
                state.say("reload cancelled: nothing changed");
                return Vec::new();
            }
            state.say("reloading…");
            return vec![Effect::Reload { dry_run: false }];
        }
        Overlay::ConfirmShutdown => {
            if key.code != KeyCode::Char('y') {
                state.say("the agent keeps running");
                return Vec::new();
            }
            state.quitting = Some(std::time::Instant::now());
            state.say("stopping the agent and every sidecar…");
            return vec![Effect::Shutdown];
        }
        Overlay::Composer(c) => return super::dialogs::on_composer_key(state, c, key),
        Overlay::Load(dialog) => return super::dialogs::on_load_key(state, dialog, key),
    }
    if state.focus == Focus::Detail
        && state.tab == Tab::Logs
        && let Some(effects) = super::copy::on_selection_key(state, &key)
    {
        return effects;
    }
    match action_for(&key) {
        Some(action) => act(state, action),
        None => Vec::new(),
    }
}

pub(super) fn quit(state: &mut State) -> Vec<Effect> {
    if state.attached() {
        return vec![Effect::Detach];
    }
    state.quitting = Some(std::time::Instant::now());
    state.say("stopping every sidecar… (q again or Ctrl-C to kill what is left)");
    vec![Effect::Shutdown]
}

pub(super) fn page(state: &State) -> usize {
    (state.size.1 as usize).saturating_sub(14).max(1)
}

/// Moves by `delta` lines in whatever the focused pane scrolls.
pub(super) fn scroll(state: &mut State, delta: isize) {
    if state.focus == Focus::Table {
        let order = state.order();
        if order.is_empty() {
            return;
        }
        let pos = order.iter().position(|&i| i == state.selected).unwrap_or(0) as isize;
        state.selected = order[(pos + delta).clamp(0, order.len() as isize - 1) as usize];
        state.traffic_selected = 0;
        state.traffic_open = false;
        state.list_scroll = 0;
        return;
    }
    match state.tab {
        Tab::Logs => {
            // Up is positive delta in lines from the bottom; the top is where the oldest
            // line held fills the first row.
            let held: usize = if state.logs.all {
                state.sidecars().iter().map(|s| s.logs.lines.len()).sum()
            } else {
                state.selected().map_or(0, |s| s.logs.lines.len())
            };
            let size = Rect::new(0, 0, state.size.0, state.size.1);
            let rows =
                areas(size, crate::app::groups::table_rows(state)).detail.height.saturating_sub(2) as usize;
            let top = held.saturating_sub(rows);
            state.logs.scroll = ((state.logs.scroll as isize - delta).max(0) as usize).min(top);
            if delta < 0 {
                state.logs.follow = false;
            }
        }
        // Newest first, from the top: down (`j`) goes to older exchanges.
        Tab::Traffic => {
            let last = state.selected().map_or(0, |v| v.traffic.len().saturating_sub(1));
            state.traffic_selected = ((state.traffic_selected as isize + delta).max(0) as usize).min(last);
        }
        _ => state.list_scroll = (state.list_scroll as isize - delta).max(0) as usize,
    }
}
