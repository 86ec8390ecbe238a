//! Everything the dashboard shows, in one place: the engine's data as plain values
//! ([`Model`], kept up to date by notices) and the view state that keys change.

use super::composer::Composer;
pub use super::model::{Model, SidecarView};
use crate::ipc::protocol::Exchange;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Logs,
    Resources,
    Latency,
    Traffic,
    Events,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Logs, Tab::Resources, Tab::Latency, Tab::Traffic, Tab::Events];
    pub fn title(&self) -> &'static str {
        match self {
            Tab::Logs => "Logs",
            Tab::Resources => "Resources",
            Tab::Latency => "Latency",
            Tab::Traffic => "Traffic",
            Tab::Events => "Events",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Config,
    Name,
    State,
    Cpu,
    Memory,
    Restarts,
    Latency,
}

impl SortBy {
    pub const ALL: [SortBy; 7] = [
        SortBy::Config,
        SortBy::Name,
        SortBy::State,
        SortBy::Cpu,
        SortBy::Memory,
        SortBy::Restarts,
        SortBy::Latency,
    ];
    pub fn label(&self) -> &'static str {
        match self {
            SortBy::Config => "config order",
            SortBy::Name => "name",
            SortBy::State => "state",
            SortBy::Cpu => "CPU",
            SortBy::Memory => "memory",
            SortBy::Restarts => "restarts",
            SortBy::Latency => "p99 latency",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    /// Lines scrolled up from the newest; 0 = at the bottom.
    pub scroll: usize,
    pub follow: bool,
    pub wrap: bool,
    pub timestamps: bool,
    pub stderr_only: bool,
    /// Every sidecar's output interleaved, tagged by name.
    pub all: bool,
    /// The filter in force (lines containing it), highlighted.
    pub search: Option<String>,
    /// Being typed after `/`.
    pub typing: Option<String>,
    /// `v`: the selected lines, (anchor, cursor), as positions from the newest line shown
    /// (0), like `scroll`.
    pub selection: Option<(usize, usize)>,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            scroll: 0,
            follow: true,
            wrap: false,
            timestamps: false,
            stderr_only: false,
            all: false,
            search: None,
            typing: None,
            selection: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadDialog {
    pub requests: String,
    pub concurrency: String,
    /// 0: requests, 1: concurrency.
    pub field: usize,
    pub error: Option<String>,
}

pub enum Overlay {
    None,
    Help,
    /// The reply to `t`, or to a send from the composer.
    Reply(Arc<Exchange>),
    Composer(Box<Composer>),
    Load(LoadDialog),
    /// A load run's summary.
    Report(String),
    /// Attached: `Q` asks before stopping the agent and every sidecar.
    ConfirmShutdown,
    /// `R`: what the reload would do, to confirm.
    ConfirmReload(String),
}

/// Whose engine this dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// In this process: quitting stops every sidecar.
    InProcess,
    /// A running agent's: `q` detaches and leaves the sidecars running.
    Attached { to: String },
}

pub struct State {
    pub model: Model,
    pub mode: Mode,
    /// The sidecars whose logs are followed (what the log pane shows).
    pub following: Vec<String>,
    /// Index into `model.sidecars` of the selected one.
    pub selected: usize,
    pub sort: SortBy,
    pub sort_reversed: bool,
    /// Over several engines: the engines whose rows are folded under their line.
    pub folded: std::collections::BTreeSet<String>,
    /// The table shows only sidecars whose name (engine included) or state has this.
    pub table_filter: Option<String>,
    /// `/` in the table: the filter being typed (applied as it is typed).
    pub filter_typing: bool,
    pub focus: Focus,
    pub tab: Tab,
    pub overlay: Overlay,
    pub logs: LogView,
    /// Scroll position in the events and traffic lists (from the newest).
    pub list_scroll: usize,
    /// Selected exchange in the traffic tab (index from the newest).
    pub traffic_selected: usize,
    pub traffic_open: bool,
    pub status: Option<(String, Instant)>,
    /// Set when the first `q` was pressed.
    pub quitting: Option<Instant>,
    pub color: bool,
    pub size: (u16, u16),
    /// Requests sent from the composer, newest last.
    pub history: Vec<Composer>,
}

impl State {
    pub fn new(model: Model, mode: Mode) -> State {
        State {
            model,
            mode,
            following: Vec::new(),
            selected: 0,
            sort: SortBy::Config,
            sort_reversed: false,
            folded: Default::default(),
            table_filter: None,
            filter_typing: false,
            focus: Focus::Table,
            tab: Tab::Logs,
            overlay: Overlay::None,
            logs: LogView::default(),
            list_scroll: 0,
            traffic_selected: 0,
            traffic_open: false,
            status: None,
            quitting: None,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            size: (80, 24),
            history: Vec::new(),
        }
    }

    pub fn selected(&self) -> Option<&SidecarView> {
        self.model.sidecars.get(self.selected)
    }

    pub fn sidecars(&self) -> &[SidecarView] {
        &self.model.sidecars
    }

    pub fn attached(&self) -> bool {
        matches!(self.mode, Mode::Attached { .. })
    }

    /// Sidecar indices in table order.
    pub fn order(&self) -> Vec<usize> {
        super::sort::order(self)
    }

    pub fn say(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), Instant::now()));
    }
}
