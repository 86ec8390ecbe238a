//! The log pane: one sidecar's output, or every sidecar's interleaved by time and tagged
//! by name. Only the lines on screen are styled; filters (stderr only, search) apply
//! before scrolling so the view shows matching lines only.

use super::ansi;
use super::theme::Theme;
use crate::api::LogLineInfo;
use crate::app::state::{Focus, State};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
pub(crate) struct Shown<'a> {
    pub line: &'a LogLineInfo,
    /// In the interleaved view: the sidecar's name and index.
    pub name: Option<(&'a str, usize)>,
}

impl Shown<'_> {
    /// The line as copied: text without colour, tagged by name in the interleaved view.
    pub fn plain(&self) -> String {
        let text = ansi::plain(self.line.text.as_bytes());
        match self.name {
            Some((name, _)) => format!("{name} {text}"),
            None => text,
        }
    }
}

/// Whether a line passes the filters; `scratch` is reused between lines so searching
/// thousands of them allocates nothing.
fn matches(state: &State, line: &LogLineInfo, lowered_query: Option<&str>, scratch: &mut Vec<u8>) -> bool {
    if state.logs.stderr_only && !line.stderr {
        return false;
    }
    let bytes = line.text.as_bytes();
    match lowered_query {
        // Most lines are plain ASCII: search their bytes without building strings.
        Some(q) if q.is_ascii() && crate::sanitize::is_plain_ascii(bytes) => {
            contains_ignore_ascii_case(bytes, q.as_bytes())
        }
        Some(q) if q.is_ascii() => {
            scratch.clear();
            if !ascii_without_csi(bytes, scratch) {
                scratch.clear();
                scratch.extend_from_slice(bytes);
                strip_sgr(scratch);
            }
            contains_ignore_ascii_case(scratch, q.as_bytes())
        }
        Some(q) => ansi::plain(bytes).to_lowercase().contains(q),
        None => true,
    }
}

/// The common coloured log line: printable ASCII and CSI sequences only. Copies the text
/// without the sequences; false (and a partial copy) for anything else.
fn ascii_without_csi(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x20..=0x7e => {
                out.push(bytes[i]);
                i += 1;
            }
            0x1b if bytes.get(i + 1) == Some(&b'[') => {
                match bytes[i + 2..].iter().position(|b| (0x40..=0x7e).contains(b)) {
                    Some(end) => i += end + 3,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
    true
}

/// Removes the SGR sequences the sanitizer kept, in place (only text is searched).
fn strip_sgr(text: &mut Vec<u8>) {
    let mut write = 0;
    let mut read = 0;
    while read < text.len() {
        if text[read] == 0x1b {
            match text[read..].iter().position(|&b| b == b'm') {
                Some(end) => read += end + 1,
                None => break,
            }
            continue;
        }
        text[write] = text[read];
        write += 1;
        read += 1;
    }
    text.truncate(write);
}

/// `needle` must be lowercase ASCII.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else { return true };
    let mut at = 0;
    while let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), &haystack[at..]) {
        let start = at + i;
        match haystack.get(start..start + needle.len()) {
            Some(window) if window.eq_ignore_ascii_case(needle) => return true,
            Some(_) => at = start + 1,
            None => return false,
        }
    }
    false
}

/// The newest `want` lines after skipping `skip` (all filtered), oldest first, from one
/// sidecar's ring.
fn newest<'a>(
    state: &'a State,
    index: usize,
    skip: usize,
    want: usize,
    query: Option<&str>,
) -> Vec<Shown<'a>> {
    let view = &state.sidecars()[index];
    let name = state.logs.all.then(|| (view.name(), index));
    let mut scratch = Vec::new();
    let mut out: Vec<Shown> = view
        .logs
        .lines
        .iter()
        .rev()
        .filter(|l| matches(state, l, query, &mut scratch))
        .skip(skip)
        .take(want)
        .map(|line| Shown { line, name })
        .collect();
    // Scrolled past the oldest match (a filter shows fewer lines than are held): show
    // the oldest screenful rather than nothing.
    if out.len() < want && skip > 0 {
        out = view
            .logs
            .lines
            .iter()
            .filter(|l| matches(state, l, query, &mut scratch))
            .take(want)
            .map(|line| Shown { line, name })
            .collect();
        out.reverse();
    }
    out.reverse();
    out
}

/// The lines the pane shows (filters applied), oldest first: `rows` of them after skipping
/// the newest `skip`. Also what `y` and `Y` copy.
pub(crate) fn collect(state: &State, skip: usize, rows: usize) -> Vec<Shown<'_>> {
    let query = state.logs.search.as_ref().map(|q| q.to_lowercase());
    let query = query.as_deref();
    if !state.logs.all {
        return match state.selected() {
            Some(_) => newest(state, state.selected, skip, rows, query),
            None => Vec::new(),
        };
    }
    let want = skip.saturating_add(rows);
    let mut all: Vec<Shown> =
        (0..state.sidecars().len()).flat_map(|i| newest(state, i, 0, want, query)).collect();
    all.sort_by_key(|s| (s.line.at_ms, s.name.map_or(0, |n| n.1)));
    let end = all.len().saturating_sub(skip);
    let start = end.saturating_sub(rows);
    all.drain(start..end).collect()
}

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
