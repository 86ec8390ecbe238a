//! Latency over the last five minutes: p50, p99 and max per second on a log scale, with
//! errors and timeouts per second beneath on the same time axis, labelled with the wall
//! clock so a spike lines up with the logs and events of the same seconds.

use super::theme::Theme;
use crate::metrics::latency::format_us;
use crate::metrics::timeline::{SPAN_SECS, SecondPoint};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline};
use std::time::{Duration, UNIX_EPOCH};

/// `points` are oldest first; `now` is the unix second at the right edge.
pub fn render(frame: &mut Frame, area: Rect, points: &[SecondPoint], now: u64, theme: &Theme) {
    let block = Block::new().title(Line::from(vec![
        Span::styled("last 5 min, per second: ", theme.dim()),
        Span::styled("p50", theme.fg(Color::Green)),
        Span::raw(" "),
        Span::styled("p99", theme.fg(Color::Yellow)),
        Span::raw(" "),
        Span::styled("max", theme.fg(Color::Red)),
        Span::styled(" (log scale)", theme.dim()),
    ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 4 || inner.width < 20 {
        return;
    }
    let start = now.saturating_sub(SPAN_SECS - 1);
    let shown: Vec<&SecondPoint> = points.iter().filter(|p| p.at >= start && p.at <= now).collect();
    let [chart_area, errors_area, timeouts_area, axis_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    // The counts share the chart's x axis: their labels are as wide as its y labels.
    let errors: u32 = shown.iter().map(|p| p.errors).sum();
    let timeouts: u32 = shown.iter().map(|p| p.timeouts).sum();
    let labels = [format!("errors {errors}"), format!("timeouts {timeouts}")];
    let label_w = labels.iter().map(|l| l.len() as u16 + 1).max().unwrap_or(0).max(y_label_width(&shown));
    if shown.iter().any(|p| p.max > 0) {
        latency_lines(frame, chart_area, &shown, start, label_w, theme);
    } else {
        frame.render_widget(
            Paragraph::new(Line::styled("no replies in the last 5 minutes", theme.dim())),
            chart_area,
        );
    }
    counts_row(frame, errors_area, &labels[0], &shown, |p| p.errors, label_w, start, theme);
    counts_row(frame, timeouts_area, &labels[1], &shown, |p| p.timeouts, label_w, start, theme);
    time_axis(frame, axis_area, label_w, (start, now), theme);
}

/// Wall-clock times under the plot: its first second, the middle one, and now. Drawn here
/// rather than by `Chart`, which narrows its plot to fit the last label, so the plot and
/// the count rows span exactly the same columns.
fn time_axis(frame: &mut Frame, area: Rect, label_w: u16, (start, now): (u64, u64), theme: &Theme) {
    let [_, axis] = Layout::horizontal([Constraint::Length(label_w), Constraint::Fill(1)]).areas(area);
    let (first, middle, last) = (clock(start), clock(start + (now - start) / 2), clock(now));
    let width = axis.width as usize;
    if width < first.len() + last.len() + 2 {
        return;
    }
    let mut text = format!("{first:<width$}");
    text.replace_range(width - last.len().., &last);
    let mid_at = (width - middle.len()) / 2;
    if mid_at > first.len() + 1 && mid_at + middle.len() + 1 < width - last.len() {
        text.replace_range(mid_at..mid_at + middle.len(), &middle);
    }
    frame.render_widget(Paragraph::new(Span::styled(text, theme.dim())), axis);
}

fn y_bounds(points: &[&SecondPoint]) -> (f64, f64) {
    let lowest = points.iter().filter(|p| p.p50 > 0).map(|p| p.p50).min().unwrap_or(1).max(1);
    let highest = points.iter().map(|p| p.max).max().unwrap_or(1).max(lowest + 1);
    let (lo, hi) = ((lowest as f64).log10().floor(), (highest as f64).log10().ceil());
    (lo, if hi > lo { hi } else { lo + 1.0 })
}

fn y_labels(points: &[&SecondPoint]) -> Vec<String> {
    let (lo, hi) = y_bounds(points);
    [lo, (lo + hi) / 2.0, hi].iter().map(|e| format_us(10f64.powf(*e).round() as u64)).collect()
}

fn y_label_width(points: &[&SecondPoint]) -> u16 {
    y_labels(points).iter().map(|l| l.chars().count()).max().unwrap_or(5) as u16 + 1
}

fn clock(unix: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(unix);
    chrono::DateTime::<chrono::Local>::from(at).format("%H:%M:%S").to_string()
}

/// `label_w`: the width of the y labels with the axis line, so the plot starts where the
/// count rows beneath start.
fn latency_lines(
    frame: &mut Frame,
    area: Rect,
    points: &[&SecondPoint],
    start: u64,
    label_w: u16,
    theme: &Theme,
) {
    let series = |value: fn(&SecondPoint) -> u64| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| value(p) > 0)
            .map(|p| ((p.at - start) as f64, (value(p) as f64).log10()))
            .collect()
    };
    let (p50, p99, max) = (series(|p| p.p50), series(|p| p.p99), series(|p| p.max));
    fn line<'d>(name: &'static str, data: &'d [(f64, f64)], style: Style) -> Dataset<'d> {
        Dataset::default()
            .name(name)
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style)
            .data(data)
    }
    let (lo, hi) = y_bounds(points);
    let pad = label_w.saturating_sub(1) as usize;
    let y_labels: Vec<Span> = y_labels(points).into_iter().map(|l| Span::raw(format!("{l:>pad$}"))).collect();
    let chart = Chart::new(vec![
        line("max", &max, theme.fg(Color::Red)),
        line("p99", &p99, theme.fg(Color::Yellow)),
        line("p50", &p50, theme.fg(Color::Green)),
    ])
    .x_axis(Axis::default().bounds([0.0, (SPAN_SECS - 1) as f64]))
    .y_axis(Axis::default().bounds([lo, hi]).labels(y_labels).style(theme.dim()))
    .legend_position(None);
    frame.render_widget(chart, area);
}

/// One row of per-second counts under the chart: its label with the total, then a
/// sparkline over the same five minutes (each column the sum of the seconds it covers).
#[allow(clippy::too_many_arguments)]
fn counts_row(
    frame: &mut Frame,
    area: Rect,
    label: &str,
    points: &[&SecondPoint],
    value: fn(&SecondPoint) -> u32,
    label_w: u16,
    start: u64,
    theme: &Theme,
) {
    let [label_area, bars] =
        Layout::horizontal([Constraint::Length(label_w), Constraint::Fill(1)]).areas(area);
    let total: u64 = points.iter().map(|p| value(p) as u64).sum();
    let style = if total > 0 { theme.error() } else { theme.dim() };
    frame.render_widget(Paragraph::new(Span::styled(label.to_string(), style)), label_area);
    let columns = bars.width.max(1) as u64;
    let mut data = vec![0u64; columns as usize];
    for p in points {
        let column = ((p.at - start) * columns / SPAN_SECS).min(columns - 1);
        data[column as usize] += value(p) as u64;
    }
    frame.render_widget(Sparkline::default().data(&data).style(style), bars);
}
