//! Recent exchanges of the selected sidecar, newest first; Enter opens one to show its
//! request and response pretty-printed.

use super::theme::Theme;
use crate::app::state::{Focus, State};
use crate::config::ipc::Speaks;
use crate::ipc::protocol::{Exchange, Origin};
use crate::metrics::latency::format_us;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use std::sync::Arc;

use crate::ipc::readable::pretty;

/// Who an exchange came from, in words.
fn who(origin: Origin) -> &'static str {
    match origin {
        Origin::Operator => "sent by you",
        Origin::Load => "load test",
        Origin::Health => "health check",
        Origin::Handshake => "handshake",
        Origin::Sidecar => "from the sidecar",
        Origin::Application => "from the application",
    }
}

pub fn render_exchange(frame: &mut Frame, area: Rect, exchange: &Exchange, theme: &Theme) {
    let outcome_style = if exchange.outcome.is_ok() { theme.ok() } else { theme.error() };
    let latency = exchange.latency.map(|l| format_us(l.as_micros() as u64)).unwrap_or_else(|| "-".into());
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", exchange.method), theme.bold()),
            Span::styled(exchange.outcome.to_string(), outcome_style),
            Span::styled(format!(" · {latency} · {}", who(exchange.origin)), theme.dim()),
        ]),
        Line::raw(""),
    ];
    // The response first: on a small screen it is what the operator came for.
    lines.push(Line::styled("response", theme.title()));
    match &exchange.response {
        Some(response) if !response.is_empty() => lines.extend(super::sanitize_lines(&pretty(response))),
        _ => lines.push(Line::styled("(none)", theme.dim())),
    }
    if let Some(request) = &exchange.request {
        lines.push(Line::raw(""));
        lines.push(Line::styled("request", theme.title()));
        lines.extend(super::sanitize_lines(&pretty(request)));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

/// `MCP server: name 1.2 · MCP 2025-06-18 · prompts, resources, tools · 6 tools`, or a
/// language server with its diagnostics.
fn server_line(view: &crate::app::model::SidecarView) -> Option<String> {
    let discovery = view.discovery.as_ref()?;
    let server = discovery.server.as_ref()?;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match view.setup.speaks {
        Speaks::Mcp => {
            let mut offer = vec![plural(discovery.tools.len(), "tool")];
            if !discovery.resources.is_empty() {
                offer.push(plural(discovery.resources.len(), "resource"));
            }
            if !discovery.prompts.is_empty() {
                offer.push(plural(discovery.prompts.len(), "prompt"));
            }
            let trouble = discovery.error.as_ref().map(|e| format!(" · {e}")).unwrap_or_default();
            Some(format!(
                "MCP server: {} · {} (T to call one){trouble}",
                server.describe("MCP"),
                offer.join(", ")
            ))
        }
        Speaks::Lsp => {
            let diagnostics =
                view.latency.as_ref().and_then(|l| l.diagnostics).map_or(String::new(), |(docs, n)| {
                    format!(" · diagnostics: {n} in {}", plural(docs, "document"))
                });
            Some(format!("language server: {}{diagnostics}", server.describe("LSP")))
        }
        Speaks::Plain => None,
    }
}

/// `ping 0.31ms · pushes: ticks 9.8/s (120), heartbeat 1.0/s (12)`: the WebSocket round
/// trip and what the sidecar sends on its own, per method, with its rate.
fn pushes_line(view: &crate::app::model::SidecarView) -> Option<String> {
    let latency = view.latency.as_ref()?;
    let mut parts = Vec::new();
    if let Some(us) = latency.ping_us {
        parts.push(format!("ping {}", format_us(us)));
    }
    let mut pushes: Vec<&(String, u64, f64)> = latency.pushes.iter().collect();
    pushes.sort_by_key(|p| std::cmp::Reverse(p.1));
    if !pushes.is_empty() {
        let each: Vec<String> = pushes
            .iter()
            .take(6)
            .map(|(method, count, rate)| format!("{method} {rate:.1}/s ({count})"))
            .collect();
        parts.push(format!("pushes: {}", each.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let border = if state.focus == Focus::Detail { theme.title() } else { theme.dim() };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(" traffic (newest first; Enter opens, y/Y copy, e edits) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = state.selected().filter(|v| v.has_ipc()) else {
        return super::no_ipc(frame, inner, theme);
    };
    // Who the server is and what it offers (MCP, LSP), what it pushes, above its traffic.
    let about: Vec<String> = server_line(view).into_iter().chain(pushes_line(view)).collect();
    // Wrapped: the server line is long, and what it ends with matters (T to call one).
    let width = inner.width.max(1) as usize;
    let rows: u16 = about.iter().map(|l| l.chars().count().div_ceil(width).max(1) as u16).sum();
    let inner = match rows {
        0 => inner,
        n if inner.height > n + 2 => {
            let [top, rest] = Layout::vertical([Constraint::Length(n), Constraint::Fill(1)]).areas(inner);
            let lines: Vec<Line> = about.into_iter().map(|l| Line::styled(l, theme.dim())).collect();
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), top);
            rest
        }
        _ => inner,
    };
    let traffic: Vec<&Arc<Exchange>> = view.traffic.iter().rev().collect();
    if traffic.is_empty() {
        frame.render_widget(
            Paragraph::new("no exchanges yet: press t to send the default request").style(theme.dim()),
            inner,
        );
        return;
    }
    let selected = state.traffic_selected.min(traffic.len() - 1);
    let (list_area, detail_area) = if state.traffic_open {
        let [l, d] =
            Layout::vertical([Constraint::Length(inner.height / 3), Constraint::Fill(1)]).areas(inner);
        (l, Some(d))
    } else {
        (inner, None)
    };
    let rows = list_area.height as usize;
    let offset = selected.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = traffic
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows)
        .map(|(i, e)| {
            let time = chrono::DateTime::<chrono::Local>::from(e.at).format("%H:%M:%S%.3f");
            let arrow = if e.origin == Origin::Sidecar { "<-" } else { "->" };
            let latency = e.latency.map(|l| format_us(l.as_micros() as u64)).unwrap_or_default();
            let style = if e.outcome.is_ok() { theme.dim() } else { theme.error() };
            let line = Line::from(vec![
                Span::raw(format!("{time} {arrow} ")),
                Span::styled(format!("{:<24} ", e.method), theme.bold()),
                Span::raw(format!("{latency:>9} ")),
                Span::styled(e.outcome.to_string(), style),
                Span::styled(if e.origin == Origin::Health { " (health)" } else { "" }, theme.dim()),
            ]);
            if i == selected { line.style(theme.selected()) } else { line }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list_area);
    if let Some(detail) = detail_area {
        let detail_block = Block::new().borders(Borders::TOP).border_style(theme.dim());
        let inner = detail_block.inner(detail);
        frame.render_widget(detail_block, detail);
        render_exchange(frame, inner, traffic[selected], theme);
    }
}
