//! Latency of the selected sidecar's exchanges: percentiles per method and overall, since
//! start and over the last minute; outcomes by kind; latency over the last five minutes
//! and a histogram since start.

use super::theme::Theme;
use crate::api::MethodLatency;
use crate::app::state::State;
use crate::metrics::latency::{OutcomeKind, format_us};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Row, Table};

/// Rows for one method: since start, and (unless `compact`) the last minute.
fn rows<'a>(stats: &MethodLatency, compact: bool, theme: &Theme) -> Vec<Row<'a>> {
    let mut out = Vec::new();
    let name = &stats.method;
    let windows =
        if compact { vec![("all", &stats.all)] } else { vec![("all", &stats.all), ("60s", &stats.minute)] };
    for (window, s) in windows {
        let failures = s.outcomes.failures();
        out.push(Row::new(vec![
            Span::raw(if window == "all" { name.to_string() } else { String::new() }),
            Span::styled(window.to_string(), theme.dim()),
            Span::raw(s.count.to_string()),
            Span::raw(format_us(s.p50)),
            Span::raw(format_us(s.p90)),
            Span::raw(format_us(s.p99)),
            Span::raw(format_us(s.p999)),
            Span::raw(format_us(s.max)),
            Span::raw(format!("{:.1}", s.per_second)),
            Span::styled(failures.to_string(), if failures > 0 { theme.error() } else { theme.dim() }),
        ]));
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = Block::new().borders(Borders::ALL).border_style(theme.dim()).title(" latency ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = state.selected().filter(|v| v.has_ipc()) else {
        return super::no_ipc(frame, inner, theme);
    };
    let default = Default::default();
    let m = view.latency.as_ref().unwrap_or(&default);
    let all = &m.overall.all;
    let mut outcome_spans = vec![Span::styled("outcomes: ", theme.bold())];
    for kind in OutcomeKind::ALL {
        let n = all.outcomes.get(kind);
        let style = if kind == OutcomeKind::Ok || n == 0 { theme.dim() } else { theme.error() };
        outcome_spans.push(Span::styled(format!("{} {}  ", kind.as_str(), n), style));
    }
    outcome_spans.push(Span::styled(
        format!(
            "late {}  protocol errors {}  from sidecar {}  outliers {}",
            m.late, m.protocol_errors, m.incoming, m.outliers
        ),
        theme.dim(),
    ));
    let methods = m.methods.len();
    // Short screens: one row per method (the overall row keeps its last-minute twin).
    let compact = inner.height < 20;
    let needed = if compact { methods + 3 } else { 2 * (methods + 1) + 1 };
    let table_h = needed.min((inner.height as usize).saturating_sub(5).max(3)) as u16;
    let [outcomes, table_area, chart_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(table_h), Constraint::Fill(1)])
            .areas(inner);
    frame.render_widget(Paragraph::new(Line::from(outcome_spans)), outcomes);
    let mut table_rows = rows(&m.overall, false, theme);
    for stats in &m.methods {
        table_rows.extend(rows(stats, compact, theme));
    }
    let header = Row::new(["method", "", "count", "p50", "p90", "p99", "p99.9", "max", "req/s", "errors"])
        .style(theme.bold());
    let method_width =
        m.methods.iter().map(|k| k.method.chars().count()).max().unwrap_or(6).clamp(6, 32) as u16;
    let widths = [
        Constraint::Length(method_width),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    frame.render_widget(Table::new(table_rows, widths).header(header), table_area);

    if chart_area.height < 6 {
        return;
    }
    // Over time beside the distribution when there is room for both, else over time only.
    let (over_time, histogram_area) = if m.bins.is_empty() {
        (chart_area, None)
    } else if chart_area.width >= 90 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(chart_area);
        (left, Some(right))
    } else if chart_area.height >= 16 {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(chart_area);
        (top, Some(bottom))
    } else {
        (chart_area, None)
    };
    super::latency_chart::render(frame, over_time, &m.timeline, view.engine_now(), theme);
    if let Some(area) = histogram_area {
        histogram(frame, area, &m.bins, theme);
    }
}

/// Every exchange since start, in log-spaced bins.
fn histogram(frame: &mut Frame, chart_area: Rect, bins: &[(u64, u64)], theme: &Theme) {
    if bins.is_empty() || chart_area.height < 3 {
        return;
    }
    let count = (chart_area.width as usize / 9).clamp(3, 16);
    let bars: Vec<Bar> = merge_bins(bins, count)
        .into_iter()
        .map(|(upper, count)| Bar::default().value(count).label(Line::from(format_us(upper))))
        .collect();
    let chart = BarChart::default()
        .block(Block::new().title(Line::styled("since start (upper bound of each bin)", theme.dim())))
        .data(BarGroup::default().bars(&bars))
        .bar_width(8)
        .bar_gap(1)
        .bar_style(theme.fg(ratatui::style::Color::Cyan));
    frame.render_widget(chart, chart_area);
}

/// At most `n` bins, merging neighbours (the engine sends a fixed number).
fn merge_bins(bins: &[(u64, u64)], n: usize) -> Vec<(u64, u64)> {
    let per = bins.len().div_ceil(n.max(1)).max(1);
    bins.chunks(per).map(|c| (c[c.len() - 1].0, c.iter().map(|b| b.1).sum())).collect()
}
