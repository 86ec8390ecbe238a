//! The dashboard's loop: input first, then effect results, engine changes and the clock;
//! redraw only when something changed, at most ~30 frames a second. Effects from `update`
//! are carried out here, each in its own task so the loop never waits on a sidecar.

use super::msg::{Effect, Msg};
use super::state::State;
use super::terminal;
use super::update::update;
use crate::config::Config;
use crate::ipc::load;
use crate::metrics::resources::Sampler;
use crate::supervisor::{Options, State as Life, Supervisor};
use ratatui::crossterm::event::{self, Event};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

const FRAME: Duration = Duration::from_millis(33);
/// How long a restart/stop/kill result waits for the state it expects.
const ACTION_WAIT: Duration = Duration::from_secs(30);

pub struct RunOptions {
    pub sample_interval: Duration,
}

pub async fn run(config: &Config, options: RunOptions) -> io::Result<()> {
    // Before the engine starts and raw mode is entered: from now on a signal stops the
    // sidecars and restores the terminal, never the default action.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let supervisor = Arc::new(Supervisor::start(config, Options::binary())?);
    let sampler = Sampler::start(
        supervisor.sidecars().len(),
        supervisor.pid_source(),
        options.sample_interval,
        supervisor.changed(),
    );
    let mut state =
        State::new(config.path.display().to_string(), supervisor.sidecars().to_vec(), sampler.data.clone());
    // `sidetop ctl` works against a dashboard session too.
    let socket = crate::api::socket_path::default_socket(&config.path);
    let server_options = crate::server::ServerOptions { read_only: false, config: config.path.clone() };
    let server = match crate::server::serve(supervisor.clone(), &socket, server_options) {
        Ok(server) => Some(server),
        Err(e) => {
            state.say(format!("control socket not served: {e}"));
            None
        }
    };
    let asked_to_stop =
        server.as_ref().map_or_else(|| Arc::new(tokio::sync::Notify::new()), |s| s.shutdown.clone());
    let mut terminal = terminal::enter()?;
    let size = terminal.size()?;
    state.size = (size.width, size.height);

    let (input_tx, mut input_rx) = mpsc::channel::<Event>(256);
    let stop_input = Arc::new(AtomicBool::new(false));
    let input_thread = spawn_input(input_tx, stop_input.clone())?;
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
    let changed = supervisor.changed();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let clock_needed = options.sample_interval > Duration::from_secs(1);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    // For the tests of panic handling only: panic after this long.
    let panic_at = std::env::var("SIDETOP_TEST_PANIC_AFTER_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut terminal_ok = true;
    loop {
        if panic_at.is_some_and(|at| Instant::now() >= at) {
            panic!("panic requested by SIDETOP_TEST_PANIC_AFTER_MS");
        }
        if dirty && terminal_ok && last_draw.elapsed() >= FRAME {
            if let Err(e) = terminal.draw(|f| crate::ui::render(f, &state)) {
                // The terminal went away (SIGHUP): keep going until the sidecars are stopped.
                tracing::warn!("drawing failed: {e}");
                terminal_ok = false;
            }
            dirty = false;
            last_draw = Instant::now();
        }
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
        let effects = tokio::select! {
            biased;
            Some(ev) = input_rx.recv() => {
                dirty = true;
                match ev {
                    Event::Key(k) => update(&mut state, Msg::Key(k)),
                    Event::Mouse(m) => update(&mut state, Msg::Mouse(m)),
                    Event::Resize(w, h) => update(&mut state, Msg::Resize(w, h)),
                    _ => Vec::new(),
                }
            }
            Some(msg) = msg_rx.recv() => {
                dirty = true;
                if matches!(msg, Msg::AllStopped) {
                    break;
                }
                update(&mut state, msg)
            }
            _ = sigterm.recv() => signal_quit(&mut state),
            _ = sighup.recv() => signal_quit(&mut state),
            _ = sigint.recv() => signal_quit(&mut state),
            _ = asked_to_stop.notified() => signal_quit(&mut state),
            _ = changed.notified() => { dirty = true; Vec::new() }
            // The clock and uptimes, when the sampler does not already redraw every second.
            _ = clock.tick(), if clock_needed => { dirty = true; Vec::new() }
            _ = tokio::time::sleep_until(next_frame), if dirty => Vec::new(),
        };
        for effect in effects {
            if effect == Effect::ForceQuit {
                force_quit(&supervisor).await;
                stop_input.store(true, Ordering::Relaxed);
                terminal::restore();
                return Ok(());
            }
            carry_out(effect, &supervisor, &msg_tx);
        }
    }
    stop_input.store(true, Ordering::Relaxed);
    terminal::restore();
    // Not joined: after a hangup crossterm may sit in a read that never returns; the
    // thread ends with the process.
    drop(input_thread);
    drop(sampler);
    drop(server);
    Ok(())
}

/// SIGTERM/SIGHUP/SIGINT: stop the sidecars gracefully first; a second one forces.
fn signal_quit(state: &mut State) -> Vec<Effect> {
    if state.quitting.is_some() {
        return vec![Effect::ForceQuit];
    }
    state.quitting = Some(Instant::now());
    vec![Effect::Shutdown]
}

fn spawn_input(tx: mpsc::Sender<Event>, stop: Arc<AtomicBool>) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("input".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(500)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    })
}

async fn force_quit(supervisor: &Supervisor) {
    supervisor.kill_all().await;
}

fn carry_out(effect: Effect, supervisor: &Arc<Supervisor>, tx: &mpsc::UnboundedSender<Msg>) {
    let (sup, tx) = (supervisor.clone(), tx.clone());
    let handle = |i: usize| sup.sidecars().get(i).cloned();
    match effect {
        Effect::ClearLogs(i) => {
            if let Some(h) = handle(i) {
                h.logs().clear();
                let _ = tx.send(Msg::Done(format!("cleared the log of {}", h.name)));
            }
        }
        Effect::Start(i) | Effect::Stop(i) | Effect::Restart(i) | Effect::Kill(i) => {
            let Some(h) = handle(i) else { return };
            tokio::spawn(async move {
                let before = h.status().pid;
                let result = match effect {
                    Effect::Start(_) => h.start().await,
                    Effect::Stop(_) => h.stop().await,
                    Effect::Restart(_) => h.restart().await,
                    _ => h.kill().await,
                };
                let text = match result {
                    Err(e) => format!("{}: {e}", h.name),
                    Ok(()) => outcome_text(&h, &effect, before).await,
                };
                let _ = tx.send(Msg::Done(text));
            });
        }
        Effect::Request { sidecar, spec } => {
            let Some(h) = handle(sidecar) else { return };
            tokio::spawn(async move {
                match h.request(&spec).await {
                    Ok(exchange) => drop(tx.send(Msg::Reply(exchange))),
                    Err(e) => drop(tx.send(Msg::Done(format!("{}: {e}", h.name)))),
                }
            });
        }
        Effect::Load { sidecar, spec, plan } => {
            let Some(ipc) = handle(sidecar).and_then(|h| h.ipc().cloned()) else { return };
            tokio::spawn(async move {
                let report = load::run(ipc, spec, plan.into()).await;
                let _ = tx.send(Msg::LoadDone(report.render()));
            });
        }
        Effect::Shutdown => {
            tokio::spawn(async move {
                sup.shutdown().await;
                let _ = tx.send(Msg::AllStopped);
            });
        }
        Effect::ForceQuit => unreachable!("handled by the loop"),
    }
}

/// Waits for the state an action leads to and says what happened, e.g.
/// "restarted pricing (pid 4242 -> 4317)".
async fn outcome_text(h: &crate::supervisor::SidecarHandle, effect: &Effect, before: Option<u32>) -> String {
    let mut rx = h.watch();
    let want = |s: &crate::supervisor::Status| match effect {
        Effect::Start(_) | Effect::Restart(_) => {
            (s.state == Life::Running && s.pid != before) || matches!(s.state, Life::Failed | Life::CrashLoop)
        }
        _ => !s.state.has_process(),
    };
    let _ = tokio::time::timeout(ACTION_WAIT, rx.wait_for(want)).await;
    let s = h.status();
    let pid = |p: Option<u32>| p.map_or("-".to_string(), |p| p.to_string());
    match effect {
        Effect::Restart(_) => format!("restarted {} (pid {} -> {})", h.name, pid(before), pid(s.pid)),
        Effect::Start(_) if s.state == Life::Failed => {
            format!("{} failed to start: {}", h.name, s.error.unwrap_or_default())
        }
        Effect::Start(_) => format!("started {} (pid {})", h.name, pid(s.pid)),
        Effect::Kill(_) => format!(
            "killed {} (pid {}): {}",
            h.name,
            pid(before),
            s.last_exit.map(|e| e.to_string()).unwrap_or_default()
        ),
        _ => format!(
            "stopped {} ({})",
            h.name,
            s.last_exit.map(|e| e.to_string()).unwrap_or_else(|| s.label().into())
        ),
    }
}
