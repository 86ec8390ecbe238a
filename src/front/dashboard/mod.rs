//! The dashboard's loop, over a [`Link`] to the engine: input first, then effect results,
//! notices from the engine and the clock; redraw only when something changed, at most
//! ~30 frames a second. The same loop runs with the engine in this process ([`run`]) and
//! attached to an agent ([`attach`]); only quitting differs.

mod input;
mod pager;
pub mod terminal;

use crate::api::engine::Engine;
use crate::api::link::Link;
use crate::app::effects::carry_out;
use crate::app::model::Model;
use crate::app::msg::{Effect, Msg};
use crate::app::state::{Mode, State};
use crate::app::update::{follow_logs, update};
use crate::config::Config;
use crate::front::start::{self, Signals, Start};
use crate::server::ServerOptions;
use crate::supervisor::Options;
use ratatui::crossterm::event::Event;
use serde_json::json;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const FRAME: Duration = Duration::from_millis(33);
/// A frame for new resource samples alone waits this long since the last: over 20
/// engines their rounds arrive apart, and a frame for each was most of an idle
/// dashboard's CPU (the figures are taken once a second anyway).
const SAMPLED_FRAME: Duration = Duration::from_millis(500);
/// Notices applied in one go before the loop looks at input again.
const NOTICE_BATCH: usize = 256;

pub struct RunOptions {
    pub sample_interval: Duration,
    /// Serve Prometheus metrics here.
    pub metrics: Option<std::net::SocketAddr>,
    /// Record every exchange here (`--record`).
    pub record: Option<std::path::PathBuf>,
}

/// How an attached dashboard ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The operator detached (or a signal came): the agent runs on.
    Detached,
    /// The agent stopped, as asked.
    AgentGone,
    /// The connection to the agent was lost (the agent killed, ssh gone).
    Lost,
    /// In-process: every sidecar stopped.
    Quit,
}

/// The engine in this process, the dashboard, and the control socket.
pub async fn run(config: &Config, options: RunOptions) -> io::Result<()> {
    // Before the engine starts and raw mode is entered (see `Signals`).
    let signals = Signals::new()?;
    let started = start::start(
        config,
        Start {
            engine: Options::binary(),
            sample_interval: options.sample_interval,
            metrics: options.metrics,
            record: options.record,
            // `sidetop ctl` and `attach` work against a dashboard session too.
            socket: Some(start::Socket {
                path: crate::api::socket_path::default_socket(&config.path),
                options: ServerOptions { read_only: false },
                required: false,
            }),
        },
    )
    .await?;
    let engine = started.engine.clone();
    let note = started.socket_note.clone();
    let link = crate::api::local::connect(engine.clone());
    let result = dashboard(link, Mode::InProcess, Some(engine), signals, note).await;
    started.finish().await;
    result.map(|_| ())
}

/// The dashboard of a running agent, over `link` (its socket, or ssh).
pub async fn attach(link: Link, to: String) -> io::Result<Ending> {
    let signals = Signals::new()?;
    dashboard(link, Mode::Attached { to }, None, signals, None).await
}

/// Subscribes, takes the snapshot the model starts from, and runs the loop.
async fn dashboard(
    mut link: Link,
    mode: Mode,
    engine: Option<Arc<Engine>>,
    mut signals: Signals,
    note: Option<String>,
) -> io::Result<Ending> {
    let began = Instant::now();
    let caller = link.caller.clone();
    let (model, early) = first_model(&mut link, &mut signals).await?;
    let mut state = State::new(model, mode);
    let mut effects: Vec<Effect> = follow_logs(&mut state).into_iter().collect();
    for notice in early {
        effects.extend(update(&mut state, Msg::Notice(notice)));
    }
    if let Some(note) = note {
        state.say(note);
    }
    let asked_to_stop = engine.as_ref().map(|e| e.shutdown_asked.clone()).unwrap_or_default();
    let mut terminal = terminal::enter()?;
    // Restored however this function ends (an error below included).
    let _restore = terminal::RestoreOnDrop;
    let size = terminal.size()?;
    state.size = (size.width, size.height);

    let (input_tx, mut input_rx) = mpsc::channel::<Event>(256);
    let input = input::Input::start(input_tx)?;
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    // For the tests of panic handling only: panic after this long.
    let panic_at = std::env::var("SIDETOP_TEST_PANIC_AFTER_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut dirty = true;
    // New resource samples only: drawn at most every SAMPLED_FRAME.
    let mut resampled = false;
    let mut last_draw = Instant::now() - FRAME;
    let mut terminal_ok = true;
    let mut first_frame = true;
    // Input since the last frame: draw now, not at the frame cap.
    let mut keyed = false;
    let ending = 'run: loop {
        for effect in effects.drain(..) {
            match effect {
                Effect::ForceQuit => {
                    if let Some(engine) = &engine {
                        engine.kill_all().await;
                        break 'run Ending::Quit;
                    }
                    break 'run Ending::Detached;
                }
                Effect::Detach => break 'run Ending::Detached,
                Effect::Copy(text) => terminal::copy_to_clipboard(&text),
                Effect::Page(text) => {
                    if let Err(e) = pager::page(text, &input, &mut terminal).await {
                        state.say(e.to_string());
                    }
                    dirty = true;
                }
                Effect::Shutdown => match &engine {
                    Some(engine) => {
                        let (engine, tx) = (engine.clone(), msg_tx.clone());
                        tokio::spawn(async move {
                            engine.shutdown().await;
                            let _ = tx.send(Msg::AllStopped);
                        });
                    }
                    // The agent stops its sidecars and closes the connection when done.
                    None => {
                        let (caller, tx) = (caller.clone(), msg_tx.clone());
                        let reply = caller.call("shutdown", json!({}));
                        tokio::spawn(async move {
                            if let Err((_, e)) = reply.await {
                                let _ = tx.send(Msg::QuitAborted(format!("the agent did not stop: {e}")));
                            }
                        });
                    }
                },
                effect => carry_out(effect, &state, &caller, &msg_tx),
            }
        }
        if panic_at.is_some_and(|at| Instant::now() >= at) {
            panic!("panic requested by SIDETOP_TEST_PANIC_AFTER_MS");
        }
        // A key is answered on the next frame; only data-driven redraws wait for the cap.
        if dirty && terminal_ok && (keyed || last_draw.elapsed() >= FRAME) {
            keyed = false;
            if let Err(e) = terminal.draw(|f| crate::ui::render(f, &state)) {
                // The terminal went away (SIGHUP): keep going until the sidecars are stopped.
                tracing::warn!("drawing failed: {e}");
                terminal_ok = false;
            }
            (dirty, resampled) = (false, false);
            last_draw = Instant::now();
            if first_frame && !state.following.is_empty() {
                // The frame with the followed log in it (its lines arrive after the snapshot).
                let pending_logs =
                    state.selected().is_some_and(|s| s.logs.lines.is_empty() && s.info.lines > 0);
                if !pending_logs {
                    first_frame = false;
                    let received = link.received.load(std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(
                        "first complete frame {:.1} ms after connecting ({received} bytes received)",
                        began.elapsed().as_secs_f64() * 1e3
                    );
                }
            }
        }
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
        let next_sampled_frame = tokio::time::Instant::from_std(last_draw + SAMPLED_FRAME);
        let attached = engine.is_none();
        effects = tokio::select! {
            biased;
            Some(ev) = input_rx.recv() => {
                dirty = true;
                keyed = true;
                match ev {
                    Event::Key(k) => update(&mut state, Msg::Key(k)),
                    Event::Mouse(m) => update(&mut state, Msg::Mouse(m)),
                    Event::Resize(w, h) => update(&mut state, Msg::Resize(w, h)),
                    Event::Paste(text) => update(&mut state, Msg::Paste(text)),
                    _ => Vec::new(),
                }
            }
            Some(msg) = msg_rx.recv() => {
                dirty = true;
                if matches!(msg, Msg::AllStopped) {
                    break 'run Ending::Quit;
                }
                update(&mut state, msg)
            }
            notice = link.notices.recv() => {
                let Some(notice) = notice else {
                    break 'run if state.quitting.is_some() { Ending::AgentGone } else { Ending::Lost };
                };
                let samples_only = |n: &crate::api::Notice| matches!(n, crate::api::Notice::Samples(_));
                let mut quiet = samples_only(&notice);
                let mut out = update(&mut state, Msg::Notice(notice));
                // Notices of one moment (a sampling round and its status) come in a row:
                // let the rest arrive, and draw them once.
                tokio::task::yield_now().await;
                // A burst is applied in one go and drawn once.
                for _ in 0..NOTICE_BATCH {
                    let Ok(notice) = link.notices.try_recv() else { break };
                    quiet &= samples_only(&notice);
                    out.extend(update(&mut state, Msg::Notice(notice)));
                }
                if quiet { resampled = true } else { dirty = true }
                out
            }
            _ = signals.term.recv() => signal_quit(&mut state, attached),
            _ = signals.hup.recv() => signal_quit(&mut state, attached),
            _ = signals.int.recv() => signal_quit(&mut state, attached),
            _ = asked_to_stop.notified() => signal_quit(&mut state, attached),
            // The header's clock, when nothing else drew this second.
            _ = clock.tick() => {
                dirty |= last_draw.elapsed() >= Duration::from_millis(900);
                Vec::new()
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => Vec::new(),
            _ = tokio::time::sleep_until(next_sampled_frame), if resampled && !dirty => {
                dirty = true;
                Vec::new()
            }
        };
    };
    drop(input);
    Ok(ending)
}

/// Subscribes, then takes the snapshot the model starts from (subscribed first, so nothing
/// falls between the two; what arrives twice is recognised by the model). Notices that
/// arrive meanwhile are kept and returned: the link's queue is bounded, and not reading it
/// could hold the snapshot's reply up behind them. A signal gives up.
async fn first_model(link: &mut Link, signals: &mut Signals) -> io::Result<(Model, Vec<crate::api::Notice>)> {
    let mut early = Vec::new();
    let subscribe = json!({"events": true, "status": true, "samples": true, "traffic": true});
    let caller = link.caller.clone();
    let calls = [("subscribe", subscribe), ("snapshot", json!({}))];
    let mut last = serde_json::Value::Null;
    for (method, params) in calls {
        let reply = caller.call(method, params);
        tokio::pin!(reply);
        last = loop {
            tokio::select! {
                result = &mut reply => break result.map_err(|(_, e)| io::Error::other(e))?,
                Some(notice) = link.notices.recv() => early.push(notice),
                _ = signals.int.recv() => return Err(io::Error::other("interrupted")),
                _ = signals.term.recv() => return Err(io::Error::other("terminated")),
                _ = signals.hup.recv() => return Err(io::Error::other("hung up")),
            }
        };
    }
    let snapshot = serde_json::from_value(last).map_err(|e| io::Error::other(format!("snapshot: {e}")))?;
    Ok((Model::from_snapshot(snapshot), early))
}

/// SIGTERM/SIGHUP/SIGINT: in-process, stop the sidecars gracefully first (a second one
/// forces); attached, detach (the agent and its sidecars run on).
fn signal_quit(state: &mut State, attached: bool) -> Vec<Effect> {
    if attached {
        return vec![Effect::Detach];
    }
    if state.quitting.is_some() {
        return vec![Effect::ForceQuit];
    }
    state.quitting = Some(Instant::now());
    vec![Effect::Shutdown]
}
