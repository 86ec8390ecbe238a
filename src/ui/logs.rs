//! The log pane: one sidecar's output, or every sidecar's interleaved by time and tagged
//! by name. Only the lines on screen are styled; filters (stderr only, search) apply
//! before scrolling so the view shows matching lines only.

use super::theme::Theme;
use crate::app::log_view::{Shown, collect};
use crate::app::state::{Focus, State};
use crate::text::ansi;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

fn highlighted(text: &str, query: &str, base: Style, mark: Style) -> Vec<Span<'static>> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    // Lowercasing can change byte lengths outside ASCII; then just show the line.
    if lower.len() != text.len() {
        return vec![Span::styled(text.to_string(), base)];
    }
    while let Some(found) = lower[at..].find(query) {
        let start = at + found;
        if start > at {
            out.push(Span::styled(text[at..start].to_string(), base));
        }
        out.push(Span::styled(text[start..start + query.len()].to_string(), mark));
        at = start + query.len();
    }
    if at < text.len() {
        out.push(Span::styled(text[at..].to_string(), base));
    }
    out
}

fn render_line(state: &State, shown: &Shown, theme: &Theme, name_width: usize) -> Line<'static> {
    let mut spans = Vec::new();
    if state.logs.timestamps {
        let at = crate::api::system_time(shown.line.at_ms);
        let stamp = chrono::DateTime::<chrono::Local>::from(at).format("%H:%M:%S%.3f ");
        spans.push(Span::styled(stamp.to_string(), theme.dim()));
    }
    if let Some((name, _)) = shown.name {
        spans.push(Span::styled(format!("{name:<name_width$} "), theme.name_color(name)));
    }
    let err = shown.line.stderr;
    spans.push(Span::styled(if err { "!" } else { " " }, theme.stderr()));
    spans.push(Span::raw(" "));
    let base = if err { theme.stderr() } else { Style::new() };
    match &state.logs.search {
        Some(q) => spans.extend(highlighted(
            &ansi::plain(shown.line.text.as_bytes()),
            &q.to_lowercase(),
            base,
            theme.highlight(),
        )),
        None => spans.extend(ansi::spans(shown.line.text.as_bytes(), base, theme.color)),
    }
    if shown.line.cut {
        spans.push(Span::styled(" [line cut]", theme.dim()));
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let inner_rows = area.height.saturating_sub(2) as usize;
    let shown = collect(state, state.logs.scroll, inner_rows);
    let name_width =
        if state.logs.all { state.sidecars().iter().map(|s| s.name().len()).max().unwrap_or(0) } else { 0 };
    // A selection (`v`) is drawn reversed; positions count from the newest line shown.
    let selected = state.logs.selection.map(|(a, b)| (a.min(b), a.max(b)));
    let bottom = state.logs.scroll + shown.len().saturating_sub(1);
    let lines: Vec<Line> = shown
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let line = render_line(state, s, theme, name_width);
            match selected {
                Some((lo, hi)) if (lo..=hi).contains(&(bottom - i)) => line.style(theme.selected()),
                _ => line,
            }
        })
        .collect();

    let mut title = String::from(" ");
    if state.logs.all {
        title.push_str("all sidecars");
    } else if let Some(s) = state.selected() {
        title.push_str(&format!("{} · {} lines", s.name(), s.info.lines));
        if s.info.lines_dropped > 0 {
            title.push_str(&format!(", {} dropped", s.info.lines_dropped));
        }
        if let Some(dropped) = s.info.log_file_dropped.filter(|&d| d > 0) {
            title.push_str(&format!(", {dropped} not in the log file"));
        }
    }
    let flags = [
        (state.logs.follow, "follow"),
        (!state.logs.follow, "paused"),
        (state.logs.wrap, "wrap"),
        (state.logs.stderr_only, "stderr only"),
        (state.logs.timestamps, "times"),
    ];
    for (on, word) in flags {
        if on {
            title.push_str(&format!(" · {word}"));
        }
    }
    if let Some(q) = &state.logs.search {
        title.push_str(&format!(" · filter {q:?}"));
    }
    title.push(' ');
    let border = if state.focus == Focus::Detail { theme.title() } else { theme.dim() };
    let block = Block::new().borders(Borders::ALL).border_style(border).title(title);
    let mut paragraph = Paragraph::new(lines).block(block);
    if state.logs.wrap {
        // Keep the newest line at the bottom: scroll past what wrapping pushed out.
        let width = area.width.saturating_sub(2).max(1) as usize;
        let rows: usize = shown.iter().map(|s| s.line.text.len().max(1).div_ceil(width)).sum();
        paragraph = paragraph.wrap(Wrap { trim: false }).scroll((rows.saturating_sub(inner_rows) as u16, 0));
    }
    frame.render_widget(paragraph, area);
    if let Some(typing) = &state.logs.typing {
        let prompt = Rect {
            x: area.x + 1,
            y: area.y + area.height.saturating_sub(1),
            width: area.width.saturating_sub(2),
            height: 1,
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("/", theme.title()),
                Span::raw(typing.clone()),
                Span::styled("█", theme.dim()),
            ])),
            prompt,
        );
    }
}
