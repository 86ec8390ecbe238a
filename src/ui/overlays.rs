//! Boxes drawn over the dashboard: help, the request composer, a reply, the load dialog
//! and its report, and the list of sidecars still stopping while sidetop quits.

use super::theme::Theme;
use crate::app::composer::{Composer, Field, Kind, TextArea};
use crate::app::keymap::BINDINGS;
use crate::app::state::{LoadDialog, State};
use crate::ipc::protocol::Exchange;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// A centered rectangle of at most `w` x `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn boxed(frame: &mut Frame, area: Rect, title: &str, theme: &Theme) -> Rect {
    let block = Block::new().borders(Borders::ALL).border_style(theme.title()).title(format!(" {title} "));
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    inner
}

pub fn help(frame: &mut Frame, area: Rect, theme: &Theme) {
    // One column when it fits; else two, each description cut to its column (80x24).
    let rows = area.height.saturating_sub(4) as usize;
    let columns = if BINDINGS.len() <= rows { 1 } else { 2 };
    let per_column = BINDINGS.len().div_ceil(columns);
    let width = if columns == 1 { 76 } else { area.width.saturating_sub(2) };
    let r = centered(area, width, per_column as u16 + 2);
    let inner = boxed(frame, r, "keys (Esc closes)", theme);
    let column_width = (inner.width as usize / columns).max(20);
    let cell = |b: &crate::app::keymap::Binding| {
        let what: String = b.what.chars().take(column_width.saturating_sub(13)).collect();
        let pad = column_width.saturating_sub(13 + what.chars().count());
        vec![
            Span::styled(format!("{:>11}  ", b.keys), theme.bold()),
            Span::raw(what),
            Span::raw(" ".repeat(pad)),
        ]
    };
    let lines: Vec<Line> = (0..per_column)
        .map(|row| {
            let spans = (0..columns)
                .filter_map(|c| BINDINGS.get(c * per_column + row))
                .flat_map(cell)
                .collect::<Vec<_>>();
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn reply(frame: &mut Frame, area: Rect, exchange: &Exchange, theme: &Theme) {
    let r = centered(area, area.width.saturating_sub(8).max(40), area.height.saturating_sub(4).max(10));
    let inner = boxed(frame, r, &format!("reply from {} (Esc closes)", exchange.sidecar), theme);
    super::traffic::render_exchange(frame, inner, exchange, theme);
}

pub fn report(frame: &mut Frame, area: Rect, text: &str, theme: &Theme) {
    let r = centered(area, 72, text.lines().count() as u16 + 2);
    let inner = boxed(frame, r, "result (Esc closes)", theme);
    frame.render_widget(Paragraph::new(text.to_string()), inner);
}

pub fn load(frame: &mut Frame, area: Rect, dialog: &LoadDialog, state: &State, theme: &Theme) {
    let r = centered(area, 60, 8);
    let name = state.selected().map(|s| s.name().to_string()).unwrap_or_default();
    let inner = boxed(frame, r, &format!("load test {name}"), theme);
    let field = |i: usize, label: &str, value: &str| {
        let style = if dialog.field == i { theme.selected() } else { ratatui::style::Style::new() };
        Line::from(vec![Span::raw(format!("{label:>12}: ")), Span::styled(format!("{value:<8}"), style)])
    };
    let mut lines = vec![
        field(0, "requests", &dialog.requests),
        field(1, "concurrency", &dialog.concurrency),
        Line::styled("Enter starts · Tab switches · Esc cancels", theme.dim()),
    ];
    if let Some(e) = &dialog.error {
        lines.push(Line::styled(e.clone(), theme.error()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn text_lines(area: &TextArea, focused: bool, theme: &Theme) -> Vec<Line<'static>> {
    area.lines
        .iter()
        .enumerate()
        .map(|(row, text)| {
            if !focused || row != area.row {
                return Line::raw(text.clone());
            }
            // Draw the cursor as a reversed cell.
            let chars: Vec<char> = text.chars().collect();
            let before: String = chars[..area.col.min(chars.len())].iter().collect();
            let at: String = chars.get(area.col).map_or(" ".to_string(), |c| c.to_string());
            let after: String = chars.get(area.col + 1..).map_or(String::new(), |r| r.iter().collect());
            Line::from(vec![Span::raw(before), Span::styled(at, theme.selected()), Span::raw(after)])
        })
        .collect()
}

/// The newest progress an MCP server reported since `since` (`[mcp progress] 3/6 step 3
/// of 6`), for the request in flight.
fn progress_since(
    view: &crate::app::model::SidecarView,
    since: Option<std::time::SystemTime>,
) -> Option<String> {
    let since = since?;
    let report = view
        .traffic
        .iter()
        .rev()
        .take_while(|e| e.at >= since)
        .find(|e| e.method == "notifications/progress")?;
    let message: serde_json::Value = serde_json::from_str(report.response.as_deref()?).ok()?;
    crate::ipc::meaning::log_line(view.setup.speaks, &report.method, message.get("params")?)
}

pub fn composer(frame: &mut Frame, area: Rect, c: &Composer, state: &State, theme: &Theme) {
    let r = centered(area, area.width.saturating_sub(4).max(40), area.height.saturating_sub(2).max(12));
    let view = &state.sidecars()[c.sidecar];
    let kind = match (c.kind, view.setup.speaks, &view.setup.protocol) {
        (_, crate::config::ipc::Speaks::Mcp, _) => "MCP",
        (_, crate::config::ipc::Speaks::Lsp, _) => "LSP",
        (_, _, Some(crate::config::ipc::Protocol::Grpc { .. })) => "gRPC",
        (Kind::Rpc, _, _) => "JSON-RPC",
        (Kind::Line, _, _) => "json-lines",
        (Kind::Http, _, _) => "HTTP",
    };
    let inner = boxed(frame, r, &format!("request to {} ({kind})", view.name()), theme);
    let [top, body_area, error_area, reply_area, hint] = Layout::vertical([
        Constraint::Length(if c.kind == Kind::Line {
            1
        } else if c.kind == Kind::Http {
            3
        } else {
            2
        }),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let template = match c.template.and_then(|t| c.templates.get(t)) {
        Some(t) => match &t.description {
            Some(about) => format!("template: {} (F2 next) — {about}", t.name),
            None => format!("template: {} (F2 next)", t.name),
        },
        None if c.templates.is_empty() => "template: none".to_string(),
        None => "template: edited (F2 loads the next one)".to_string(),
    };
    let label = |f: Field, name: &str| {
        Span::styled(format!("{name:>7}: "), if c.field == f { theme.title() } else { theme.dim() })
    };
    // What ↑/↓ would fill in, while the field they complete is being edited.
    let template = match c.matching() {
        seen if !seen.is_empty() && Some(c.field) == c.completion_field() => {
            let what = if c.kind == Kind::Http { "paths" } else { "methods" };
            format!("{template} · ↑/↓ {what}: {}", seen.join(", "))
        }
        _ => template,
    };
    let mut top_lines = vec![Line::styled(template, theme.dim())];
    if c.kind != Kind::Line {
        let mut l = vec![label(Field::Method, "method")];
        l.extend(text_lines(&c.method, c.field == Field::Method, theme).remove(0).spans);
        top_lines.push(Line::from(l));
    }
    if c.kind == Kind::Http {
        let mut l = vec![label(Field::Path, "path")];
        l.extend(text_lines(&c.path, c.field == Field::Path, theme).remove(0).spans);
        top_lines.push(Line::from(l));
    }
    frame.render_widget(Paragraph::new(top_lines), top);
    let body_title = match c.kind {
        Kind::Rpc => " params (JSON) ",
        Kind::Line => " value (JSON) ",
        Kind::Http => " body (JSON) ",
    };
    let body_block = Block::new()
        .borders(Borders::ALL)
        .border_style(if c.field == Field::Body { theme.title() } else { theme.dim() })
        .title(body_title);
    frame.render_widget(
        Paragraph::new(text_lines(&c.body, c.field == Field::Body, theme)).block(body_block),
        body_area,
    );
    if let Some(e) = &c.error {
        frame
            .render_widget(Paragraph::new(Line::styled(format!("not sent: {e}"), theme.error())), error_area);
    } else if c.sending {
        let text = match progress_since(view, c.sent_at) {
            Some(progress) => format!("sending… {progress}"),
            None => "sending…".to_string(),
        };
        frame.render_widget(Paragraph::new(Line::styled(text, theme.dim())), error_area);
    }
    let reply_block = Block::new().borders(Borders::TOP).border_style(theme.dim()).title(" reply ");
    let reply_inner = reply_block.inner(reply_area);
    frame.render_widget(reply_block, reply_area);
    if let Some(reply) = &c.reply {
        super::traffic::render_exchange(frame, reply_inner, reply, theme);
    }
    frame.render_widget(
        Paragraph::new(Line::styled(
            "Tab field · Ctrl-S/F5 send · Ctrl-P/N earlier sends · F2 template · Esc close",
            theme.dim(),
        )),
        hint,
    );
}

pub fn quitting(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(since) = state.quitting else { return };
    let still: Vec<Line> = state
        .sidecars()
        .iter()
        .filter_map(|s| {
            let status = &s.info;
            status.life.has_process().then(|| {
                Line::raw(format!(
                    "{:<16} {} (pid {}) for {}",
                    s.name(),
                    status.state,
                    status.pid.unwrap_or(0),
                    crate::text::duration::short_duration(since.elapsed())
                ))
            })
        })
        .collect();
    let r = centered(area, 64, still.len() as u16 + 4);
    let inner = boxed(frame, r, "quitting: stopping sidecars", theme);
    let mut lines = still;
    lines.push(Line::styled("q or Ctrl-C again: SIGKILL what is left", theme.warn()));
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn confirm_shutdown(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let running = state.sidecars().iter().filter(|s| s.info.life.has_process()).count();
    let r = centered(area, 64, 6);
    let inner = boxed(frame, r, "stop the agent?", theme);
    let lines = vec![
        Line::raw(format!(
            "The agent (pid {}) stops, and with it {running} running sidecar(s).",
            state.model.pid
        )),
        Line::raw("To leave them running, detach with q instead."),
        Line::styled("y: stop everything · any other key: keep running", theme.warn()),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
}

pub fn confirm_reload(frame: &mut Frame, area: Rect, plan: &str, theme: &Theme) {
    let body = plan.strip_prefix("reload: ").unwrap_or(plan);
    let mut lines: Vec<Line> = body
        .split(", ")
        .map(|part| {
            Line::raw(format!(
                "  {}",
                super::sanitize_lines(part).into_iter().next().map(|l| l.to_string()).unwrap_or_default()
            ))
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled("y: apply · any other key: change nothing", theme.warn()));
    let r = centered(area, area.width.saturating_sub(8).clamp(40, 100), lines.len() as u16 + 3);
    let inner = boxed(frame, r, "reload the config?", theme);
    frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
}
