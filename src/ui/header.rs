//! The top line: config, counts by state, host CPU and memory, clock.

use super::theme::{Theme, bytes};
use crate::app::state::State;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut counts: BTreeMap<&'static str, (usize, &'static str, ratatui::style::Style)> = BTreeMap::new();
    for s in &state.sidecars {
        let status = s.status();
        let (symbol, label, style) = theme.state(&status);
        counts.entry(label).or_insert((0, symbol, style)).0 += 1;
    }
    let mut spans =
        vec![Span::styled("sidetop ", theme.title()), Span::raw(format!("{}  ", state.config_path))];
    for (label, (n, symbol, style)) in counts {
        spans.push(Span::styled(format!("{symbol} {n} {label}  "), style));
    }
    let r = state.resources.lock().unwrap_or_else(|e| e.into_inner());
    let clock = chrono::Local::now().format("%H:%M:%S").to_string();
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    // The longest right-hand side that fits: host figures go first when narrow.
    let right = [
        format!(
            "host CPU {:.0}%  mem {}/{}  {clock}",
            r.host_cpu,
            bytes(r.host_mem_used),
            bytes(r.host_mem_total)
        ),
        format!("CPU {:.0}%  {clock}", r.host_cpu),
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
