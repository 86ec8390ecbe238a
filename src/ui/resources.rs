//! CPU and memory history of the selected sidecar (its descendants counted in), with
//! threads, process count and the limits that are set.

use super::theme::{Theme, bytes};
use crate::app::state::State;
use crate::text::duration::short_duration;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = Block::new().borders(Borders::ALL).border_style(theme.dim()).title(" resources ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = state.selected() else { return };
    let interval = state.model.interval;
    let width = inner.width as usize;
    let recent: Vec<_> = view.samples.iter().rev().take(width).rev().copied().collect();
    let latest = view.samples.back().copied().unwrap_or_default();
    let cpu_max = recent.iter().map(|s| s.cpu).fold(0.0f32, f32::max);
    let rss_max = recent.iter().map(|s| s.rss).max().unwrap_or(0);
    let span = interval * recent.len() as u32;
    // Run by an application through `sidetop wrap`: which one, above the rest.
    let wrapped = view.info.wrapped_by.as_ref().map(|by| format!("wrapped by {by}\n"));
    let [info, cpu_title, cpu, rss_title, rss] = Layout::vertical([
        Constraint::Length(3 + u16::from(wrapped.is_some())),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    let limits = if view.limits.is_empty() {
        "limits: none set".to_string()
    } else {
        format!(
            "limits: {}",
            view.limits.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        )
    };
    let env = &view.setup.env;
    let limits = if env.is_empty() { limits } else { format!("{limits}\nenv: {}", env.join(" ")) };
    let running = view.info.pid.is_some();
    let text = if running {
        format!(
            "{} process{} · {} threads · sampled every {}\n{limits}",
            latest.processes,
            if latest.processes == 1 { "" } else { "es (with descendants)" },
            latest.threads,
            short_duration(interval)
        )
    } else {
        format!("not running · sampled every {}", short_duration(interval))
    };
    let text = format!("{}{text}", wrapped.unwrap_or_default());
    frame.render_widget(Paragraph::new(text).style(theme.dim()), info);
    let over = short_duration(span);
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!("CPU {:.1}% now, {cpu_max:.1}% peak over {over}", latest.cpu),
            theme.bold(),
        )),
        cpu_title,
    );
    let cpu_data: Vec<u64> = recent.iter().map(|s| (s.cpu * 10.0) as u64).collect();
    frame.render_widget(
        Sparkline::default().data(&cpu_data).style(theme.fg(ratatui::style::Color::Green)),
        cpu,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!("RSS {} now, {} peak over {over}", bytes(latest.rss), bytes(rss_max)),
            theme.bold(),
        )),
        rss_title,
    );
    let rss_data: Vec<u64> = recent.iter().map(|s| s.rss / 1024).collect();
    frame.render_widget(
        Sparkline::default().data(&rss_data).style(theme.fg(ratatui::style::Color::Cyan)),
        rss,
    );
}
