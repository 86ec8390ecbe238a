//! The sidecar table: one row each, answering "is everything OK?" at a glance.

use super::theme::{Theme, bytes};
use crate::api::Life;
use crate::app::groups;
use crate::app::state::{Focus, State};
use crate::metrics::latency::format_us;
use crate::text::duration::short_duration;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

/// `▾ ENGINE` in the name column, `2/3 ready` under STATE, what else is wrong under
/// LAST EXIT (`1 crash loop, 1 lost`).
fn group_line(state: &State, engine: &str, theme: &Theme, wide: bool) -> Row<'static> {
    let mine: Vec<_> =
        state.sidecars().iter().filter(|s| groups::engine_of(s.name()) == Some(engine)).collect();
    let count = |f: &dyn Fn(&crate::api::SidecarInfo) -> bool| mine.iter().filter(|s| f(&s.info)).count();
    let mut trouble = Vec::new();
    for (n, what) in [
        (count(&|i| i.state == "unhealthy"), "unhealthy"),
        (count(&|i| i.life == Life::CrashLoop), "crash loop"),
        (count(&|i| i.life == Life::Exited), "exited"),
        (count(&|i| i.state == "lost"), "lost"),
    ] {
        if n > 0 {
            trouble.push(format!("{n} {what}"));
        }
    }
    let style = if trouble.is_empty() { theme.dim() } else { theme.warn() };
    let mut cells = vec![
        Cell::from(Span::styled(
            format!(
                "{} {}",
                if state.folded.contains(engine) { "▸" } else { "▾" },
                groups::engine_label(engine)
            ),
            theme.bold(),
        )),
        Cell::from(Span::styled(
            format!("{}/{} ready", count(&|i| i.state == "ready"), mine.len()),
            theme.dim(),
        )),
        Cell::from(""),
        Cell::from(""),
        Cell::from(""),
        Cell::from(Span::styled(trouble.join(", "), style)),
    ];
    if !wide {
        cells.truncate(5);
        cells.remove(2);
    }
    Row::new(cells)
}

/// A row's name as shown: its own only, without its engine, when `bare`.
fn shown_name(name: &str, bare: bool) -> &str {
    match (bare, name.split_once(crate::api::fleet::SEPARATOR)) {
        (true, Some((_, own))) => own,
        _ => name,
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let wide = area.width >= 120;
    let order = state.order();
    let groups = groups::groups(state);
    // Over several engines the names carry their engine, ENGINE/NAME, given room up to 40;
    // where even that does not fit the rest of the columns, the rows under an engine's
    // line show their own names only.
    let full_width = state.sidecars().iter().map(|s| s.name().chars().count()).max().unwrap_or(4);
    let other_columns: usize = if wide { 99 } else { 66 };
    let bare = groups.is_some() && full_width + other_columns > area.width.saturating_sub(2) as usize;
    let shown = |name: &'_ str| -> String { shown_name(name, bare).to_string() };
    let most = if groups.is_some() { 40 } else { 24 };
    let name_width = state
        .sidecars()
        .iter()
        .map(|s| shown_name(s.name(), bare).chars().count())
        .chain(groups.iter().flatten().map(|e| groups::engine_label(e).chars().count() + 2))
        .max()
        .unwrap_or(4)
        .clamp(4, most) as u16;
    let mut rows = Vec::new();
    for line in groups::table_lines(state, &order, area.height.saturating_sub(3) as usize) {
        let i = match line {
            groups::TableLine::Engine(engine) => {
                rows.push(group_line(state, engine, theme, wide));
                continue;
            }
            groups::TableLine::Sidecar(i) => i,
        };
        let s = &state.sidecars()[i];
        let status = &s.info;
        let (symbol, label, style) = theme.state(status);
        let latest = s.latest();
        let (p50, p99, errors) = match (&s.latency, s.has_ipc()) {
            (Some(l), _) if !l.bins.is_empty() => (
                format_us(l.overall.all.p50),
                format_us(l.overall.all.p99),
                (l.overall.all.outcomes.failures() + l.protocol_errors).to_string(),
            ),
            (Some(l), _) => ("-".into(), "-".into(), l.protocol_errors.to_string()),
            (None, true) => ("-".into(), "-".into(), "0".into()),
            (None, false) => ("".into(), "".into(), "".into()),
        };
        let last_exit = match (&status.error, &status.last_exit) {
            // Could not start, or would not (its `needs` are missing): what to do.
            (Some(e), _) if matches!(status.life, Life::Failed | Life::Idle) => e.clone(),
            (_, Some(exit)) => exit.replace("exit code ", "code "),
            _ => String::new(),
        };
        let uptime = s.uptime().map(short_duration).unwrap_or_default();
        let mut cells = vec![
            Cell::from(shown(s.name())),
            Cell::from(Line::from(vec![Span::styled(format!("{symbol} {label}"), style)])),
            Cell::from(status.pid.map(|p| p.to_string()).unwrap_or_default()),
            Cell::from(uptime),
            Cell::from(status.restarts.to_string()),
            Cell::from(last_exit),
            Cell::from(latest.map(|l| format!("{:.1}", l.cpu)).unwrap_or_default()),
            Cell::from(latest.map(|l| bytes(l.rss)).unwrap_or_default()),
            Cell::from(p50),
            Cell::from(p99),
            Cell::from(Span::styled(
                errors.clone(),
                if errors.is_empty() || errors == "0" { theme.dim() } else { theme.error() },
            )),
        ];
        if !wide {
            cells.remove(5); // last exit: in the events tab when narrow
            cells.remove(2); // pid
        }
        let row = Row::new(cells);
        rows.push(if i == state.selected { row.style(theme.selected()) } else { row });
    }
    let mut header =
        vec!["NAME", "STATE", "PID", "UPTIME", "RST", "LAST EXIT", "CPU%", "RSS", "p50", "p99", "ERR"];
    let mut widths = vec![
        Constraint::Length(name_width),
        Constraint::Length(13),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(3),
        // What went wrong, or what to do (a `needs` hint): the room left over, 24 at least.
        Constraint::Min(24),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(4),
    ];
    if !wide {
        for i in [5, 2] {
            header.remove(i);
            widths.remove(i);
        }
    }
    let filter = match (&state.table_filter, state.filter_typing) {
        (Some(f), true) => format!(" /{f}▏"),
        (Some(f), false) => format!(" /{f}: {} shown", state.order().len()),
        (None, _) => String::new(),
    };
    let title = format!(
        " sidecars ({}){}{filter} ",
        state.sidecars().len(),
        if state.sort == crate::app::state::SortBy::Config && !state.sort_reversed {
            String::new()
        } else {
            format!(" by {}{}", state.sort.label(), if state.sort_reversed { ", reversed" } else { "" })
        }
    );
    let border = if state.focus == Focus::Table { theme.title() } else { theme.dim() };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.bold()))
        .column_spacing(1)
        .block(Block::new().borders(Borders::ALL).border_style(border).title(title));
    frame.render_widget(table, area);
}
