//! Keys in the request composer and the load-test dialog.

use super::composer;
use super::composer::Composer;
use super::msg::{Effect, LoadPlanEq};
use super::state::{LoadDialog, Overlay, State, Tab};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(super) fn on_composer_key(state: &mut State, mut c: Box<Composer>, key: KeyEvent) -> Vec<Effect> {
    // The sidecar may have gone (a reload) while the composer was open.
    if state.sidecars().get(c.sidecar).is_none() {
        return Vec::new();
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('p') | KeyCode::Char('n')) {
        let mine: Vec<usize> =
            (0..state.history.len()).filter(|&i| state.history[i].sidecar == c.sidecar).collect();
        if !mine.is_empty() {
            let pos = match (c.recall, key.code) {
                (None, _) => mine.len() - 1,
                (Some(p), KeyCode::Char('p')) => p.saturating_sub(1),
                (Some(p), _) => (p + 1).min(mine.len() - 1),
            };
            c.recall = Some(pos);
            let earlier = state.history[mine[pos]].clone();
            c.recall_from(&earlier);
        }
        state.overlay = Overlay::Composer(c);
        return Vec::new();
    }
    let action = c.key(&key);
    match action {
        composer::Action::Close => Vec::new(),
        composer::Action::None => {
            state.overlay = Overlay::Composer(c);
            Vec::new()
        }
        composer::Action::Send(spec) => {
            state.history.push((*c).clone());
            if state.history.len() > 50 {
                state.history.remove(0);
            }
            c.recall = None;
            let sidecar = c.sidecar;
            state.overlay = Overlay::Composer(c);
            vec![Effect::Request { sidecar, spec }]
        }
    }
}

pub(super) fn on_load_key(state: &mut State, mut d: LoadDialog, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => return Vec::new(),
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => d.field = 1 - d.field,
        KeyCode::Char(c) if c.is_ascii_digit() => {
            if d.field == 0 { &mut d.requests } else { &mut d.concurrency }.push(c);
        }
        KeyCode::Backspace => {
            if d.field == 0 { &mut d.requests } else { &mut d.concurrency }.pop();
        }
        KeyCode::Enter => {
            let (n, c) =
                (d.requests.parse::<u64>().unwrap_or(0), d.concurrency.parse::<usize>().unwrap_or(0));
            if n == 0 || c == 0 || c > 1024 {
                d.error = Some(
                    "requests and concurrency must be numbers above 0 (concurrency at most 1024)".into(),
                );
            } else if let Some(template) = state.selected().and_then(|v| v.setup.requests.first()).cloned() {
                let spec = template.spec.clone();
                let name = state.selected().map(|v| v.name().to_string()).unwrap_or_default();
                state.tab = Tab::Latency;
                state.say(format!("{name}: load test, {n} × {} at concurrency {c}…", template.name));
                return vec![Effect::Load {
                    sidecar: state.selected,
                    spec,
                    plan: LoadPlanEq { requests: n, concurrency: c },
                }];
            }
        }
        _ => {}
    }
    state.overlay = Overlay::Load(d);
    Vec::new()
}

/// A paste is text for the focused text field (log search, composer, load dialog), never
/// keys: pasting "Kxr" over the table must not kill, stop and restart a sidecar, and a
/// line break in it must not send the composer.
pub(super) fn on_paste(state: &mut State, text: &str) {
    if let Some(typing) = &mut state.logs.typing {
        typing.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
        return;
    }
    match &mut state.overlay {
        Overlay::Composer(c) => c.paste(text),
        Overlay::Load(d) => {
            let field = if d.field == 0 { &mut d.requests } else { &mut d.concurrency };
            field.extend(text.chars().filter(char::is_ascii_digit));
        }
        _ => state.say("paste ignored: no text field is open (/ searches the log, T composes a request)"),
    }
}
