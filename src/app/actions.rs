//! What each action of the keymap does to the state, and the effects it asks for.

use super::composer::Composer;
use super::keymap::Action;
use super::msg::Effect;
use super::state::{Focus, LoadDialog, Overlay, SortBy, State, Tab};
use super::update::{page, quit, scroll};

pub(crate) fn act(state: &mut State, action: Action) -> Vec<Effect> {
    let sel = state.selected;
    let name = state.selected().map(|s| s.name().to_string()).unwrap_or_default();
    match action {
        Action::Up => scroll(state, -1),
        Action::Down => scroll(state, 1),
        Action::PageUp => scroll(state, -(page(state) as isize)),
        Action::PageDown => scroll(state, page(state) as isize),
        Action::Top => match state.focus {
            Focus::Table => scroll(state, -(state.sidecars().len() as isize)),
            Focus::Detail => scroll(state, -(isize::MAX / 2)),
        },
        Action::Bottom => match (state.focus, state.tab) {
            (Focus::Table, _) => scroll(state, state.sidecars().len() as isize),
            (Focus::Detail, Tab::Logs) => {
                state.logs.scroll = 0;
                state.logs.follow = true;
            }
            (Focus::Detail, Tab::Traffic) => state.traffic_selected = 0,
            (Focus::Detail, _) => state.list_scroll = 0,
        },
        Action::NextPane | Action::PrevPane => {
            state.focus = if state.focus == Focus::Table { Focus::Detail } else { Focus::Table };
        }
        Action::ShowTab(tab) => {
            state.tab = tab;
            state.list_scroll = 0;
        }
        Action::AllLogs => {
            state.tab = Tab::Logs;
            state.logs.all = !state.logs.all;
            state.logs.scroll = 0;
            state.say(if state.logs.all {
                "logs: every sidecar, interleaved"
            } else {
                "logs: the selected sidecar"
            });
        }
        Action::Restart => {
            state.say(format!("restarting {name}…"));
            return vec![Effect::Restart(sel)];
        }
        Action::Start => {
            state.say(format!("starting {name}…"));
            return vec![Effect::Start(sel)];
        }
        Action::Stop => {
            state.say(format!("stopping {name}…"));
            return vec![Effect::Stop(sel)];
        }
        Action::Kill => {
            state.say(format!("killing {name} (SIGKILL to its process group)…"));
            return vec![Effect::Kill(sel)];
        }
        Action::Test => {
            let Some(view) = state.selected() else { return Vec::new() };
            if !view.has_ipc() {
                state.say(format!("{name} has no [sidecar.ipc]: nothing to send"));
            } else if let Some(template) = view.setup.requests.first() {
                let spec = template.spec.clone();
                state.say(format!("{name}: sending {}…", template.name));
                return vec![Effect::Request { sidecar: sel, spec }];
            } else if view.setup.speaks == crate::config::ipc::Speaks::Mcp {
                // Every MCP server answers `ping`; its tools are in the composer (T).
                state.say(format!("{name}: sending ping…"));
                let spec = crate::config::ipc::RequestSpec::Rpc { method: "ping".into(), params: None };
                return vec![Effect::Request { sidecar: sel, spec }];
            } else {
                state.say(format!("{name} has no request templates: press T to compose one"));
            }
        }
        Action::Compose => match state.selected().and_then(|view| Composer::for_view(sel, view)) {
            Some(c) => state.overlay = Overlay::Composer(Box::new(c)),
            None => state.say(format!("{name} has no [sidecar.ipc]: nothing to send")),
        },
        Action::Load => {
            let Some(view) = state.selected() else { return Vec::new() };
            if !view.has_ipc() || view.setup.requests.is_empty() {
                state.say(format!("{name}: a load test sends its default request template, and it has none"));
            } else {
                state.overlay = Overlay::Load(LoadDialog {
                    requests: "1000".into(),
                    concurrency: "8".into(),
                    field: 0,
                    error: None,
                });
            }
        }
        // Over several engines, `/` in the table filters its rows; else it searches the logs.
        Action::Search if state.focus == Focus::Table && super::groups::engines(state).is_some() => {
            state.filter_typing = true;
            state.table_filter.get_or_insert_with(String::new);
        }
        Action::Search => {
            state.tab = Tab::Logs;
            state.logs.typing = Some(state.logs.search.clone().unwrap_or_default());
        }
        Action::NextMatch | Action::PrevMatch => {
            if state.logs.search.is_some() {
                state.focus = Focus::Detail;
                scroll(state, if action == Action::NextMatch { 1 } else { -1 });
            }
        }
        Action::Follow => {
            state.logs.follow = !state.logs.follow;
            if state.logs.follow {
                state.logs.scroll = 0;
            }
            state.say(if state.logs.follow { "follow on" } else { "follow paused" });
        }
        Action::StderrOnly if state.tab == Tab::Traffic => return super::traffic::edit(state),
        Action::StderrOnly => state.logs.stderr_only = !state.logs.stderr_only,
        Action::Wrap => state.logs.wrap = !state.logs.wrap,
        Action::Timestamps => state.logs.timestamps = !state.logs.timestamps,
        Action::Clear => {
            state.logs.scroll = 0;
            if let Some(view) = state.model.sidecars.get_mut(sel) {
                view.logs.clear();
            }
            return vec![Effect::ClearLogs(sel)];
        }
        Action::Sort => {
            let at = SortBy::ALL.iter().position(|s| *s == state.sort).unwrap_or(0);
            state.sort = SortBy::ALL[(at + 1) % SortBy::ALL.len()];
            state.say(format!("sorted by {}", state.sort.label()));
        }
        Action::SortReverse => state.sort_reversed = !state.sort_reversed,
        Action::Fold => {
            let engine =
                state.selected().and_then(|s| super::groups::engine_of(s.name())).map(str::to_string);
            match engine {
                Some(engine) if super::groups::groups(state).is_some() => {
                    state.folded.insert(engine.clone());
                    if let Some(&first) = state.order().first() {
                        state.selected = first;
                    }
                    state.say(format!("folded {engine} (Z unfolds)"));
                }
                _ => state.say("z folds an engine's rows over several engines (attach --all)".to_string()),
            }
        }
        Action::Unfold => state.folded.clear(),
        Action::Open => {
            // A sidecar in crash loop: the events that led there.
            let crash_loop = state.selected().is_some_and(|s| s.info.life == crate::api::Life::CrashLoop);
            if state.focus == Focus::Table && crash_loop {
                state.tab = Tab::Events;
                state.focus = Focus::Detail;
                state.list_scroll = 0;
            } else if state.tab == Tab::Traffic {
                state.traffic_open = !state.traffic_open;
            }
        }
        Action::Help => state.overlay = Overlay::Help,
        Action::Quit | Action::ForceQuit => return quit(state),
        Action::StopAgent if state.attached() => state.overlay = Overlay::ConfirmShutdown,
        Action::StopAgent => return quit(state),
        Action::CopyLine if state.tab == Tab::Traffic => return super::traffic::copy_response(state),
        Action::CopyView if state.tab == Tab::Traffic => return super::traffic::copy_exchange(state),
        Action::Select | Action::CopyLine | Action::CopyView | Action::Page | Action::Save
            if state.tab != Tab::Logs =>
        {
            state.say("that key works in the logs tab (1)");
        }
        Action::Page => return super::copy::page_view(state),
        Action::Save => return super::copy::save_view(state),
        Action::Select => {
            state.focus = Focus::Detail;
            super::copy::start_selection(state);
        }
        Action::CopyLine => return super::copy::copy_line(state),
        Action::CopyView => return super::copy::copy_view(state),
        Action::Reload => {
            state.say("reading the config again…");
            return vec![Effect::Reload { dry_run: true }];
        }
        // The table's filter too, once typed (Enter kept it): Esc shows every row again.
        Action::Escape => {
            state.logs.search = None;
            state.traffic_open = false;
            state.table_filter = None;
        }
    }
    Vec::new()
}
