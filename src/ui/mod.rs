//! Drawing the dashboard from `&State`: nothing here changes anything. One file per pane.

mod events;
mod header;
pub mod latency;
mod latency_chart;
pub mod logs;
mod overlays;
mod resources;
mod table;
pub mod theme;
mod traffic;

use crate::app::keymap::footer_bindings;
use crate::app::state::{Focus, Overlay, State, Tab};
use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::time::Duration;
use theme::Theme;

/// How long a status message stays.
const STATUS_FOR: Duration = Duration::from_secs(8);

pub fn render(frame: &mut Frame, state: &State) {
    let theme = Theme { color: state.color };
    let area = frame.area();
    let a = crate::app::layout::areas(area, crate::app::groups::table_rows(state));
    header::render(frame, a.header, state, &theme);
    table::render(frame, a.table, state, &theme);
    tabs(frame, a.tabs, state, &theme);
    match state.tab {
        Tab::Logs => logs::render(frame, a.detail, state, &theme),
        Tab::Resources => resources::render(frame, a.detail, state, &theme),
        Tab::Latency => latency::render(frame, a.detail, state, &theme),
        Tab::Traffic => traffic::render(frame, a.detail, state, &theme),
        Tab::Events => events::render(frame, a.detail, state, &theme),
    }
    if let Some((text, at)) = &state.status
        && at.elapsed() < STATUS_FOR
    {
        let line = Line::from(super::ui::sanitize_lines(text).into_iter().next().unwrap_or_default().spans);
        frame.render_widget(Paragraph::new(line).style(theme.warn()), a.status);
    }
    footer(frame, a.footer, state, &theme);
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help => overlays::help(frame, area, &theme),
        Overlay::Reply(exchange) => overlays::reply(frame, area, exchange, &theme),
        Overlay::Report(text) => overlays::report(frame, area, text, &theme),
        Overlay::Composer(c) => overlays::composer(frame, area, c, state, &theme),
        Overlay::Load(d) => overlays::load(frame, area, d, state, &theme),
        Overlay::ConfirmShutdown => overlays::confirm_shutdown(frame, area, state, &theme),
        Overlay::ConfirmReload(plan) => overlays::confirm_reload(frame, area, plan, &theme),
    }
    if state.quitting.is_some() {
        overlays::quitting(frame, area, state, &theme);
    }
}

fn tabs(frame: &mut Frame, area: ratatui::layout::Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let style = if *tab == state.tab {
            theme.title().add_modifier(ratatui::style::Modifier::REVERSED)
        } else {
            theme.dim()
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, tab.title()), style));
        spans.push(Span::raw(" "));
    }
    if let Some(s) = state.selected() {
        let focus = if state.focus == Focus::Detail { "" } else { " (Tab to focus)" };
        spans.push(Span::styled(format!(" {}{focus}", s.name()), theme.bold()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn footer(frame: &mut Frame, area: ratatui::layout::Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    for b in footer_bindings(state) {
        spans.push(Span::styled(b.keys.to_string(), theme.bold()));
        spans.push(Span::styled(format!(" {}  ", b.short), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Text from outside (replies, messages) as lines with nothing a terminal would obey.
pub fn sanitize_lines(text: &str) -> Vec<Line<'static>> {
    text.lines().map(|l| Line::raw(crate::text::ansi::plain(l.as_bytes()))).collect()
}

/// What the latency and traffic tabs say for a sidecar sidetop does not talk to.
fn no_ipc(frame: &mut Frame, area: ratatui::layout::Rect, theme: &Theme) {
    frame.render_widget(
        Paragraph::new("no [sidecar.ipc]: sidetop does not talk to this sidecar").style(theme.dim()),
        area,
    );
}
