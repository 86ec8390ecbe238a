//! The lifecycle with a fake child (`fake.rs`) in place of a process, under paused
//! time: backoff, crash loops, restart policies and stop timeouts are checked to the
//! millisecond, in no real time. The real-process tests (`tests/lifecycle.rs`) check the
//! same engine against the operating system.

mod fake;
mod fake_child;
mod run_ownership;

use super::{Event, Life, Options, SidecarHandle, Status, Supervisor};
use crate::config::Config;
use fake::{Behaviour, FakeChild};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// Longer than any scene takes: a wait that runs into it is a failure (in paused time,
/// so it costs nothing real).
const PATIENCE: Duration = Duration::from_secs(600);

/// One sidecar named `fake`, run by a fake child, and what happened to it.
struct Scene {
    sup: Supervisor,
    fake: FakeChild,
    began: Instant,
    /// Every event, as `"<ms> <event>"`, in order.
    timeline: Arc<Mutex<Vec<String>>>,
    recorder: tokio::task::JoinHandle<()>,
}

impl Scene {
    /// `keys`: the sidecar's TOML keys besides its name and command.
    fn start(keys: &str, script: impl IntoIterator<Item = Behaviour>) -> Scene {
        let toml = format!("[[sidecar]]\nname = \"fake\"\ncommand = [\"true\"]\n{keys}\n");
        let config =
            Config::parse(std::path::Path::new("fake.toml"), &toml).unwrap_or_else(|e| panic!("{e}"));
        let (events, mut rx) = broadcast::channel::<Event>(super::EVENT_BACKLOG);
        let began = Instant::now();
        let timeline = Arc::new(Mutex::new(Vec::new()));
        // Subscribed before the start, so the first events are seen; each is stamped when
        // it arrives, which in paused time is the instant it was sent.
        let recorder = tokio::spawn({
            let timeline = timeline.clone();
            async move {
                while let Ok(event) = rx.recv().await {
                    let ms = began.elapsed().as_millis();
                    timeline.lock().unwrap().push(format!("{ms} {}", event.kind));
                }
            }
        });
        let fake = FakeChild::new(script);
        let options = Options { events: Some(events), no_death_watch: true, ..Options::default() };
        let sup = Supervisor::start_with(&config, options, |_| fake.spawner()).expect("start");
        Scene { sup, fake, began, timeline, recorder }
    }

    fn handle(&self) -> Arc<SidecarHandle> {
        self.sup.get("fake").expect("the sidecar")
    }

    fn now_ms(&self) -> u64 {
        self.began.elapsed().as_millis() as u64
    }

    fn timeline(&self) -> Vec<String> {
        self.timeline.lock().unwrap().clone()
    }

    /// Waits (in paused time) until the status matches.
    async fn until(&self, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        let mut rx = self.handle().watch();
        match tokio::time::timeout(PATIENCE, rx.wait_for(|s| pred(s))).await {
            Ok(Ok(status)) => status.clone(),
            _ => panic!("never {what}; status {:?}; timeline {:#?}", self.handle().status(), self.timeline()),
        }
    }

    /// Lets the scene go on until `ms` after it began.
    async fn at(&self, ms: u64) {
        tokio::time::sleep_until(self.began + Duration::from_millis(ms)).await;
        // Whatever was due at that instant has happened (the runner's wake-ups first).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.recorder.abort();
    }
}

/// A status in `state`.
fn is(state: Life) -> impl Fn(&Status) -> bool {
    move |s| s.state == state
}
