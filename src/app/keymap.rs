//! Default keys: one table used to dispatch, to draw the footer and the help overlay, so
//! what is shown is what works.

use super::state::{Focus, State, Tab};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    NextPane,
    PrevPane,
    ShowTab(Tab),
    AllLogs,
    Restart,
    Start,
    Stop,
    Kill,
    Test,
    Compose,
    Load,
    Search,
    NextMatch,
    PrevMatch,
    Follow,
    StderrOnly,
    Wrap,
    Clear,
    Timestamps,
    Sort,
    SortReverse,
    Fold,
    Unfold,
    Open,
    Help,
    Quit,
    /// Attached: stop the agent (after a confirmation).
    StopAgent,
    /// Reload the config (after a confirmation listing the changes).
    Reload,
    /// Log pane: start selecting lines.
    Select,
    /// Log pane: copy the newest line shown (or the selection).
    CopyLine,
    /// Log pane: copy every line the view shows.
    CopyView,
    /// Log pane: the view in `$PAGER`.
    Page,
    /// Log pane: the view to a file.
    Save,
    ForceQuit,
    Escape,
}

/// Where a binding applies, for the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    Table,
    Logs,
    Traffic,
}

pub struct Binding {
    pub keys: &'static str,
    pub what: &'static str,
    /// One word for the footer.
    pub short: &'static str,
    pub scope: Scope,
    /// Shown in the footer (the rest only in `?`).
    pub footer: bool,
}

const fn b(keys: &'static str, what: &'static str, scope: Scope, footer: bool) -> Binding {
    Binding { keys, what, short: first_word(what), scope, footer }
}

/// The footer's word for a binding: its description up to the first space.
const fn first_word(s: &'static str) -> &'static str {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] != b' ' && bytes[i] != b':' && bytes[i] != b',' {
        i += 1;
    }
    match s.split_at_checked(i) {
        Some((word, _)) => word,
        None => s,
    }
}

/// `q` in the engine's own process.
const QUIT: Binding = b("q", "quit (stops every sidecar; again to kill)", Scope::Everywhere, true);
/// `q` when attached to an agent.
const DETACH: Binding =
    b("q", "detach when attached (every sidecar keeps running)", Scope::Everywhere, false);

pub const BINDINGS: &[Binding] = &[
    b("j/k ↑/↓", "move/scroll", Scope::Everywhere, true),
    b("g/G", "top / bottom (G resumes follow)", Scope::Everywhere, false),
    b("PgUp/PgDn", "page up / down", Scope::Everywhere, false),
    b("Tab/S-Tab", "pane switch", Scope::Everywhere, true),
    b("1-5", "tabs: logs, resources, latency, traffic, events", Scope::Everywhere, true),
    b("a", "all: every sidecar's logs interleaved", Scope::Logs, true),
    b("r", "restart the selected sidecar", Scope::Table, true),
    b("s", "start", Scope::Table, true),
    b("x", "stop (graceful)", Scope::Table, true),
    b("K", "kill (SIGKILL to its process group)", Scope::Table, true),
    b("t", "test: send its default request", Scope::Everywhere, true),
    b("T", "compose a request", Scope::Everywhere, true),
    b("L", "load test", Scope::Everywhere, false),
    b("o/O", "sort by next column / reverse", Scope::Table, false),
    b("z/Z", "over several engines: fold the selected one's rows / unfold all", Scope::Table, false),
    b("R", "reload the config (lists the changes, asks first)", Scope::Table, false),
    b("/", "search the logs (filters and highlights)", Scope::Logs, true),
    b(
        "/",
        "over several engines, in the table: only sidecars whose name, engine or state has it",
        Scope::Table,
        false,
    ),
    b("n/N", "next / previous match", Scope::Logs, false),
    b("f", "follow on/off", Scope::Logs, true),
    b("e", "stderr only", Scope::Logs, false),
    b("w", "wrap", Scope::Logs, false),
    b("d", "timestamps", Scope::Logs, false),
    b("c", "clear the log", Scope::Logs, false),
    b("v", "select lines (j/k/g/G extend, y copies, Esc leaves)", Scope::Logs, false),
    b("y/Y", "copy the line / the whole view (OSC 52 clipboard)", Scope::Logs, true),
    b("P", "the view in $PAGER (less -R), the dashboard back after", Scope::Logs, false),
    b("S", "save the view to a file (0600, path shown)", Scope::Logs, false),
    b("Enter", "open/close the selected exchange", Scope::Traffic, true),
    b("y/Y", "copy its response / its request and response", Scope::Traffic, false),
    b("e", "edit its request in the composer and send it again", Scope::Traffic, false),
    b("Esc", "clear search / close", Scope::Everywhere, false),
    b("mouse", "wheel scrolls, click selects", Scope::Everywhere, false),
    b("?", "help", Scope::Everywhere, true),
    QUIT,
    DETACH,
    b("Q", "attached: stop the agent and every sidecar (asks first)", Scope::Everywhere, false),
    b("Ctrl-C", "quit; during quit: kill what is left", Scope::Everywhere, false),
];

pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') => Some(Action::ForceQuit),
            KeyCode::Char('d') => Some(Action::PageDown),
            KeyCode::Char('u') => Some(Action::PageUp),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Tab => Action::NextPane,
        KeyCode::BackTab => Action::PrevPane,
        KeyCode::Char(c @ '1'..='5') => Action::ShowTab(Tab::ALL[c as usize - '1' as usize]),
        KeyCode::Char('a') => Action::AllLogs,
        KeyCode::Char('r') => Action::Restart,
        KeyCode::Char('s') => Action::Start,
        KeyCode::Char('x') => Action::Stop,
        KeyCode::Char('K') => Action::Kill,
        KeyCode::Char('t') => Action::Test,
        KeyCode::Char('T') => Action::Compose,
        KeyCode::Char('L') => Action::Load,
        KeyCode::Char('/') => Action::Search,
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('N') => Action::PrevMatch,
        KeyCode::Char('f') => Action::Follow,
        KeyCode::Char('e') => Action::StderrOnly,
        KeyCode::Char('w') => Action::Wrap,
        KeyCode::Char('c') => Action::Clear,
        KeyCode::Char('d') => Action::Timestamps,
        KeyCode::Char('o') => Action::Sort,
        KeyCode::Char('O') => Action::SortReverse,
        KeyCode::Char('z') => Action::Fold,
        KeyCode::Char('Z') => Action::Unfold,
        KeyCode::Enter => Action::Open,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('Q') => Action::StopAgent,
        KeyCode::Char('R') => Action::Reload,
        KeyCode::Char('v') => Action::Select,
        KeyCode::Char('y') => Action::CopyLine,
        KeyCode::Char('Y') => Action::CopyView,
        KeyCode::Char('P') => Action::Page,
        KeyCode::Char('S') => Action::Save,
        KeyCode::Esc => Action::Escape,
        _ => return None,
    })
}

/// The bindings the footer shows for where the focus is.
pub fn footer_bindings(state: &State) -> Vec<&'static Binding> {
    let here = match (state.focus, state.tab) {
        (Focus::Table, _) => Scope::Table,
        (Focus::Detail, Tab::Logs) => Scope::Logs,
        (Focus::Detail, Tab::Traffic) => Scope::Traffic,
        (Focus::Detail, _) => Scope::Everywhere,
    };
    // Help and quit first: on a narrow terminal the end of the footer is cut off.
    let always = |b: &&Binding| b.keys == "?" || b.keys == "q";
    let rest = BINDINGS.iter().filter(|b| b.footer && (b.scope == Scope::Everywhere || b.scope == here));
    let quit = if state.attached() { &DETACH } else { &QUIT };
    let help = BINDINGS.iter().find(|b| b.keys == "?");
    help.into_iter().chain([quit]).chain(rest.filter(|b| !always(b))).collect()
}
