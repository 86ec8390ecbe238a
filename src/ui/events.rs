//! The lifecycle timeline of the selected sidecar, newest at the bottom.

use super::theme::Theme;
use crate::api::Level;
use crate::app::state::{Focus, State};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let border = if state.focus == Focus::Detail { theme.title() } else { theme.dim() };
    let block = Block::new().borders(Borders::ALL).border_style(border).title(" events ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = state.selected() else { return };
    let events = &view.events;
    let rows = inner.height as usize;
    let end = events.len().saturating_sub(state.list_scroll);
    let start = end.saturating_sub(rows);
    let lines: Vec<Line> = events
        .range(start..end)
        .map(|e| {
            let style = match e.level {
                Level::Bad => theme.error(),
                Level::Warn => theme.warn(),
                Level::Good => theme.ok(),
                Level::Info => ratatui::style::Style::new(),
            };
            let at = crate::api::system_time(e.at_ms);
            let time = chrono::DateTime::<chrono::Local>::from(at).format("%H:%M:%S%.3f ");
            Line::from(vec![Span::styled(time.to_string(), theme.dim()), Span::styled(e.text.clone(), style)])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
