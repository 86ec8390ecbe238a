//! Owning the terminal: raw mode, the alternate screen and bracketed paste (so a paste
//! arrives as text, never as keys that act) on the way in, and always
//! restored on the way out — on quit, on error, and on panic (the panic message is
//! printed after the restore, where the operator can read it, and the process ends).

use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::{Terminal, backend::CrosstermBackend};
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Whether the terminal is ours now: leaving the alternate screen twice would move the
/// cursor back over what was printed after the first time (a panic message).
static ENTERED: AtomicBool = AtomicBool::new(false);

pub fn enter() -> io::Result<Term> {
    enable_raw_mode()?;
    ENTERED.store(true, Ordering::SeqCst);
    let mut stdout = io::stdout();
    if let Err(e) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste) {
        restore();
        return Err(e);
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
    terminal.clear()?;
    Ok(terminal)
}

/// Takes the terminal back after another program had it (the pager).
pub fn reenter(term: &mut Term) -> io::Result<()> {
    enable_raw_mode()?;
    ENTERED.store(true, Ordering::SeqCst);
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste)?;
    term.clear()
}

/// Puts `text` on the clipboard of the terminal this runs in, with OSC 52 (tmux passes it
/// on with `set-clipboard on`, and so does ssh, being only bytes).
pub fn copy_to_clipboard(text: &str) {
    use base64::Engine;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

/// Restores the terminal when dropped (an early return, an error).
pub struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        restore();
    }
}

/// Safe to call more than once, and from a panic: only the first call does anything.
pub fn restore() {
    if !ENTERED.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// The panic policy of the sidetop binary, in every mode: a panic anywhere (the UI, any
/// task, any thread) restores the terminal, prints its message, and ends the process with
/// status 101. A panicked task would otherwise leave a dashboard running in a cooked
/// terminal, or a sidecar handle answering "engine gone" forever. The sidecars go with
/// the process: the death-watch helper kills their process groups when its pipe closes,
/// and state a panic has left suspect is not trusted for a graceful stop.
pub fn exit_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        std::process::exit(101);
    }));
}
