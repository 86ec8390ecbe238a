//! Which log lines the log pane shows: one sidecar's, or every sidecar's interleaved by
//! time and tagged by name, after the filters (stderr only, search). Shared by render and
//! by copying (`y`, `Y`), which must agree on what "the lines on screen" are.

use super::state::State;
use crate::api::LogLineInfo;
use crate::text::ansi;

pub struct Shown<'a> {
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
        Some(q) if q.is_ascii() && crate::text::sanitize::is_plain_ascii(bytes) => {
            ansi::contains_ignore_ascii_case(bytes, q.as_bytes())
        }
        Some(q) if q.is_ascii() => {
            scratch.clear();
            if !ansi::ascii_without_csi(bytes, scratch) {
                scratch.clear();
                scratch.extend_from_slice(bytes);
                ansi::strip_sgr(scratch);
            }
            ansi::contains_ignore_ascii_case(scratch, q.as_bytes())
        }
        Some(q) => ansi::plain(bytes).to_lowercase().contains(q),
        None => true,
    }
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
pub fn collect(state: &State, skip: usize, rows: usize) -> Vec<Shown<'_>> {
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
