//! Colours and symbols. Every state has a symbol and a word, so the table reads the same
//! without colour (`NO_COLOR`); colours are the terminal's own palette.

use crate::api::{Life, SidecarInfo};
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }
    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn highlight(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        }
    }
    pub fn stderr(&self) -> Style {
        self.fg(Color::Red)
    }
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Symbol, word and style for a sidecar's state.
    pub fn state<'a>(&self, status: &'a SidecarInfo) -> (&'static str, &'a str, Style) {
        let label = status.state.as_str();
        let (symbol, style) = match (status.life, label) {
            (_, "ready") => ("✔", self.ok()),
            (_, "unhealthy") => ("!", self.warn().add_modifier(Modifier::BOLD)),
            (Life::Running, _) => ("●", self.ok()),
            (Life::Starting | Life::Waiting, _) => ("…", self.fg(Color::Cyan)),
            (Life::Stopping, _) => ("↓", self.warn()),
            (Life::Backoff, _) => ("↻", self.warn()),
            (Life::CrashLoop, _) => ("✖", self.error()),
            (Life::Failed, _) => ("✖", self.error()),
            (Life::Exited, _) if status.last_exit_ok => ("■", self.dim()),
            (Life::Exited, _) => ("✖", self.fg(Color::Red)),
            (Life::Stopped | Life::Idle, _) => ("■", self.dim()),
        };
        (symbol, label, style)
    }

    /// A stable colour per sidecar name, for the interleaved log view.
    pub fn name_color(&self, name: &str) -> Style {
        const PALETTE: [Color; 6] =
            [Color::Cyan, Color::Magenta, Color::Blue, Color::Green, Color::Yellow, Color::LightRed];
        let hash = name.bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
        self.fg(PALETTE[hash as usize % PALETTE.len()])
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n}B") } else { format!("{v:.1}{}", UNITS[u]) }
}
