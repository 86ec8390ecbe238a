//! The lifecycle timeline of the selected sidecar, newest at the bottom.

use super::theme::Theme;
use crate::app::state::{Focus, State};
use crate::supervisor::EventKind;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let border = if state.focus == Focus::Detail { theme.title() } else { theme.dim() };
    let block = Block::new().borders(Borders::ALL).border_style(border).title(" events ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(handle) = state.selected() else { return };
    let events = handle.events();
    let rows = inner.height as usize;
    let end = events.len().saturating_sub(state.list_scroll);
    let start = end.saturating_sub(rows);
    let lines: Vec<Line> = events[start..end]
        .iter()
        .map(|e| {
            let style = match &e.kind {
                EventKind::Exited { exit, .. } if !exit.is_success() => theme.error(),
                EventKind::CrashLoop { .. }
                | EventKind::SpawnFailed { .. }
                | EventKind::HandshakeFailed { .. }
                | EventKind::Unhealthy { .. } => theme.error(),
                EventKind::HealthFailed { .. }
                | EventKind::StopTimedOut { .. }
                | EventKind::Restarting { .. }
                | EventKind::KilledByOperator => theme.warn(),
                EventKind::Started { .. } | EventKind::Ready | EventKind::Healthy => theme.ok(),
                _ => ratatui::style::Style::new(),
            };
            let time = chrono::DateTime::<chrono::Local>::from(e.at).format("%H:%M:%S%.3f ");
            Line::from(vec![
                Span::styled(time.to_string(), theme.dim()),
                Span::styled(e.kind.to_string(), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
