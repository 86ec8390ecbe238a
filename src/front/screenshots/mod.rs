//! `sidetop screenshots`: runs the config's real sidecars, drives the dashboard with the
//! same keys an operator presses, and saves the frames it renders as SVG. Regenerate the
//! README's pictures with `cargo run --release -- screenshots`.

pub mod svg;

use crate::api::engine::Engine;
use crate::api::link::Link;
use crate::app::effects::carry_out;
use crate::app::model::Model;
use crate::app::msg::{Effect, Msg};
use crate::app::state::{Mode, State};
use crate::app::update::{follow_logs, update};
use crate::config::Config;
use crate::supervisor::{Life, Options};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SIZE: (u16, u16) = (120, 36);

fn key(state: &mut State, code: KeyCode) -> Vec<Effect> {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(state: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| key(state, KeyCode::Char(c))).collect()
}

/// The dashboard's state, driven through the engine API as the real loop drives it.
struct Scene {
    state: State,
    link: Link,
    results: mpsc::UnboundedSender<Msg>,
    results_rx: mpsc::UnboundedReceiver<Msg>,
}

impl Scene {
    /// Carries out effects the way the run loop does, waits for the replies a scene
    /// needs (requests, load tests), then applies what the engine sent meanwhile.
    async fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            let waits = matches!(effect, Effect::Request { .. } | Effect::Load { .. });
            carry_out(effect, &self.state, &self.link.caller, &self.results);
            if waits && let Some(msg) = self.results_rx.recv().await {
                let more = update(&mut self.state, msg);
                Box::pin(self.run(more)).await;
            }
        }
        self.settle().await;
    }

    /// Applies the notices that arrive within a moment.
    async fn settle(&mut self) {
        let until = tokio::time::Instant::now() + Duration::from_millis(400);
        while let Ok(Some(notice)) = tokio::time::timeout_at(until, self.link.notices.recv()).await {
            let effects = update(&mut self.state, Msg::Notice(notice));
            for effect in effects {
                carry_out(effect, &self.state, &self.link.caller, &self.results);
            }
        }
    }

    async fn keys(&mut self, text: &str) {
        let effects = keys(&mut self.state, text);
        self.run(effects).await;
    }

    async fn key(&mut self, code: KeyCode) {
        let effects = key(&mut self.state, code);
        self.run(effects).await;
    }
}

fn select(state: &mut State, name: &str) {
    if let Some(i) = state.model.index(name) {
        state.selected = i;
    }
}

fn save(state: &State, dir: &Path, name: &str) -> io::Result<()> {
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap_or_else(|never| match never {});
    terminal.draw(|f| crate::ui::render(f, state)).unwrap_or_else(|never| match never {});
    let path = dir.join(format!("{name}.svg"));
    std::fs::write(&path, crate::front::screenshots::svg::render(terminal.backend().buffer()))?;
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
    let engine = Engine::start(config, Options::binary(), Duration::from_millis(250))?;
    let link = crate::api::local::connect(engine.clone());
    let fail = |(_, e): (i64, String)| io::Error::other(e);
    let subscribe = json!({"events": true, "status": true, "samples": true, "traffic": true});
    link.caller.call("subscribe", subscribe).await.map_err(fail)?;
    let snapshot = link.caller.call("snapshot", json!({})).await.map_err(fail)?;
    let snapshot = serde_json::from_value(snapshot).map_err(|e| io::Error::other(e.to_string()))?;
    let (results, results_rx) = mpsc::unbounded_channel();
    let state = State::new(Model::from_snapshot(snapshot), Mode::InProcess);
    let mut scene = Scene { state, link, results, results_rx };
    scene.state.size = SIZE;
    let sidecars = engine.supervisor.sidecars().to_vec();
    wait("every sidecar with IPC to be ready", Duration::from_secs(20), || {
        sidecars.iter().filter(|s| s.ipc().is_some()).all(|s| s.status().ready)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = follow_logs(&mut scene.state).into_iter().collect();
    scene.run(first).await;

    // The overview: the table and one sidecar's logs.
    select(&mut scene.state, "chatty");
    scene.run(Vec::new()).await;
    let follow = follow_logs(&mut scene.state).into_iter().collect();
    scene.run(follow).await;
    save(&scene.state, dir, "overview")?;

    // The latency tab after a load test.
    select(&mut scene.state, "echo-rpc");
    scene.keys("L").await;
    scene.key(KeyCode::Enter).await;
    scene.key(KeyCode::Esc).await;
    save(&scene.state, dir, "latency")?;

    // The traffic inspector with a request open.
    scene.keys("t").await;
    scene.key(KeyCode::Esc).await;
    scene.keys("4").await;
    scene.key(KeyCode::Tab).await;
    scene.key(KeyCode::Enter).await;
    save(&scene.state, dir, "traffic")?;

    // The request composer on an MCP server: its first tool, called, with the reply.
    select(&mut scene.state, "mcp-tools");
    scene.key(KeyCode::BackTab).await;
    scene.keys("1T").await;
    let effects =
        update(&mut scene.state, Msg::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)));
    scene.run(effects).await;
    save(&scene.state, dir, "composer")?;
    scene.key(KeyCode::Esc).await;

    // The help overlay.
    scene.keys("?").await;
    save(&scene.state, dir, "help")?;
    scene.key(KeyCode::Esc).await;

    // A crash loop and its timeline.
    let crashy = engine.supervisor.get("crashy").ok();
    if let Some(crashy) = crashy {
        // It crashes every 20 s on its own, under the crash-loop limit: speed it up with
        // segfaults of our own until it gives up (5 exits within the minute).
        let deadline = Instant::now() + Duration::from_secs(60);
        while crashy.status().state != Life::CrashLoop && Instant::now() < deadline {
            if crashy.status().state == Life::Running {
                let _ =
                    scene.link.caller.call("signal", json!({"sidecar": "crashy", "signal": "SIGSEGV"})).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        wait("crashy to give up", Duration::from_secs(5), || crashy.status().state == Life::CrashLoop).await;
        select(&mut scene.state, "crashy");
        scene.keys("5").await;
        save(&scene.state, dir, "crash-loop")?;
    }
    engine.supervisor.shutdown().await;
    Ok(())
}
