//! The top line: config, counts by state, host CPU and memory, clock.

use super::theme::{Theme, bytes};
use crate::app::state::{Mode, State};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut counts: BTreeMap<&str, (usize, &'static str, ratatui::style::Style)> = BTreeMap::new();
    for s in state.sidecars() {
        let (symbol, label, style) = theme.state(&s.info);
        counts.entry(label).or_insert((0, symbol, style)).0 += 1;
    }
    let whose = match &state.mode {
        Mode::InProcess => String::new(),
        // Over several engines `to` is where they are; how many changes as they come and go.
        Mode::Attached { to } => match state.model.engines.len() {
            0 => format!("attached to {to} · "),
            1 => format!("attached to 1 engine {to} · "),
            n => format!("attached to {n} engines {to} · "),
        },
    };
    let counts: Vec<Span> = counts
        .into_iter()
        .map(|(label, (n, symbol, style))| Span::styled(format!("{symbol} {n} {label}  "), style))
        .collect();
    // The counts always show: a long config (every engine's, attached to many) is cut to
    // the room they and the clock leave.
    let counted: usize = counts.iter().map(|s| s.content.chars().count()).sum();
    let room = (area.width as usize).saturating_sub("sidetop ".len() + counted + CLOCK_ROOM);
    let mut spans = vec![
        Span::styled("sidetop ", theme.title()),
        Span::raw(cut(&format!("{whose}{}", state.model.config), room)),
    ];
    spans.extend(counts);
    let r = &state.model.host;
    let clock = chrono::Local::now().format("%H:%M:%S").to_string();
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    // The longest right-hand side that fits: host figures go first when narrow.
    let right = [
        format!("host CPU {:.0}%  mem {}/{}  {clock}", r.cpu, bytes(r.mem_used), bytes(r.mem_total)),
        format!("CPU {:.0}%  {clock}", r.cpu),
        clock.clone(),
    ]
    .into_iter()
    .find(|text| used + text.chars().count() < area.width as usize)
    .unwrap_or_default();
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Kept for the clock at the right of the line.
const CLOCK_ROOM: usize = 10;

/// `text` and two spaces in at most `room` columns, cut with `…` when longer.
fn cut(text: &str, room: usize) -> String {
    let room = room.max(12);
    if text.chars().count() + 2 <= room {
        return format!("{text}  ");
    }
    let kept: String = text.chars().take(room.saturating_sub(3)).collect();
    format!("{kept}…  ")
}
