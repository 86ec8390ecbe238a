//! `sidetop screenshots`: runs the config's real sidecars, drives the dashboard with the
//! same keys an operator presses, and saves the frames it renders as SVG. Regenerate the
//! README's pictures with `cargo run --release -- screenshots`.

use crate::app::msg::{Effect, Msg};
use crate::app::state::State;
use crate::app::update::update;
use crate::config::Config;
use crate::ipc::load;
use crate::metrics::resources::Sampler;
use crate::supervisor::{Options, State as Life, Supervisor};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

const SIZE: (u16, u16) = (120, 36);

fn key(state: &mut State, code: KeyCode) -> Vec<Effect> {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(state: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| key(state, KeyCode::Char(c))).collect()
}

/// Carries out the effects a screenshot scene needs, feeding results back as messages.
async fn run_effects(state: &mut State, supervisor: &Supervisor, effects: Vec<Effect>) {
    for effect in effects {
        let msg = match effect {
            Effect::Request { sidecar, spec } => match supervisor.sidecars()[sidecar].request(&spec).await {
                Ok(exchange) => Msg::Reply(exchange),
                Err(e) => Msg::Done(e.to_string()),
            },
            Effect::Load { sidecar, spec, plan } => {
                let ipc = supervisor.sidecars()[sidecar].ipc().expect("checked by update").clone();
                Msg::LoadDone(load::run(ipc, spec, plan.into()).await.render())
            }
            other => Msg::Done(format!("(not run for screenshots: {other:?})")),
        };
        update(state, msg);
    }
}

fn select(state: &mut State, name: &str) {
    if let Some(i) = state.sidecars.iter().position(|s| &*s.name == name) {
        state.selected = i;
    }
}

fn save(state: &State, dir: &Path, name: &str) -> io::Result<()> {
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap_or_else(|never| match never {});
    terminal.draw(|f| crate::ui::render(f, state)).unwrap_or_else(|never| match never {});
    let path = dir.join(format!("{name}.svg"));
    std::fs::write(&path, crate::svg::render(terminal.backend().buffer()))?;
    println!("wrote {}", path.display());
    Ok(())
}

async fn wait(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            eprintln!("warning: gave up waiting for {what}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(config: &Config, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let supervisor = Supervisor::start(config, Options::binary())?;
    let sampler = Sampler::start(
        supervisor.sidecars().len(),
        supervisor.pid_source(),
        Duration::from_millis(250),
        supervisor.changed(),
    );
    let mut state =
        State::new(config.path.display().to_string(), supervisor.sidecars().to_vec(), sampler.data.clone());
    state.size = SIZE;
    let sidecars = supervisor.sidecars().to_vec();
    wait("every sidecar with IPC to be ready", Duration::from_secs(20), || {
        sidecars.iter().filter(|s| s.ipc().is_some()).all(|s| s.status().ready)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The overview: the table and one sidecar's logs.
    select(&mut state, "chatty");
    save(&state, dir, "overview")?;

    // The latency tab after a load test.
    select(&mut state, "echo-rpc");
    let effects = keys(&mut state, "L");
    run_effects(&mut state, &supervisor, effects).await;
    let effects = key(&mut state, KeyCode::Enter);
    run_effects(&mut state, &supervisor, effects).await;
    key(&mut state, KeyCode::Esc);
    save(&state, dir, "latency")?;

    // The traffic inspector with a request open.
    let effects = keys(&mut state, "t");
    run_effects(&mut state, &supervisor, effects).await;
    key(&mut state, KeyCode::Esc);
    keys(&mut state, "4");
    key(&mut state, KeyCode::Tab);
    key(&mut state, KeyCode::Enter);
    save(&state, dir, "traffic")?;

    // The request composer, with a reply.
    select(&mut state, "web");
    key(&mut state, KeyCode::BackTab);
    keys(&mut state, "1T");
    key(&mut state, KeyCode::F(2));
    let effects = update(&mut state, Msg::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)));
    run_effects(&mut state, &supervisor, effects).await;
    save(&state, dir, "composer")?;
    key(&mut state, KeyCode::Esc);

    // The help overlay.
    keys(&mut state, "?");
    save(&state, dir, "help")?;
    key(&mut state, KeyCode::Esc);

    // A crash loop and its timeline.
    let crashy = supervisor.get("crashy").ok().cloned();
    if let Some(crashy) = crashy {
        wait("crashy to give up", Duration::from_secs(90), || crashy.status().state == Life::CrashLoop).await;
        select(&mut state, "crashy");
        keys(&mut state, "5");
        save(&state, dir, "crash-loop")?;
    }
    supervisor.shutdown().await;
    Ok(())
}
