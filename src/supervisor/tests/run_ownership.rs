//! A run owns what was made for it: dropped, it ends every task it holds; ended at its
//! exit, it ends what acts on the process and hands back only its output readers.

use super::fake::{Behaviour, FakeChild};
use crate::config::Config;
use crate::supervisor::process::Spawner;
use crate::supervisor::run::{Draining, OwnedTask, Run};
use std::time::Duration;
use tokio::sync::oneshot;

/// A task that runs until aborted, and a receiver that says when it was.
fn held_task() -> (OwnedTask, oneshot::Receiver<()>) {
    let (alive, ended) = oneshot::channel::<()>();
    let task = OwnedTask::spawn(async move {
        let _alive = alive;
        std::future::pending::<()>().await
    });
    (task, ended)
}

async fn has_ended(ended: &mut oneshot::Receiver<()>) -> bool {
    tokio::task::yield_now().await;
    matches!(ended.try_recv(), Err(oneshot::error::TryRecvError::Closed))
}

/// A run of a fake child with a held task in every slot; the receivers in the order
/// health, polite stop, connector, stdout, stderr, notes.
fn run_with_every_task() -> (Run, Vec<oneshot::Receiver<()>>) {
    let config =
        Config::parse(std::path::Path::new("t.toml"), "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\n")
            .expect("config");
    let started =
        FakeChild::new([Behaviour::runs_until_stopped()]).spawn(&config.sidecars[0]).expect("spawn");
    let mut run = Run::new(started.process, 1, Default::default());
    let mut ended = Vec::new();
    let mut next = || {
        let (task, rx) = held_task();
        ended.push(rx);
        Some(task)
    };
    run.health = next();
    run.polite_stop = next();
    run.connector = next();
    run.readers.stdout = next();
    run.readers.stderr = next();
    run.readers.notes = next();
    (run, ended)
}

#[tokio::test(start_paused = true)]
async fn dropping_a_run_ends_every_task_it_owns() {
    let (run, mut ended) = run_with_every_task();
    drop(run);
    for (i, rx) in ended.iter_mut().enumerate() {
        assert!(has_ended(rx).await, "task {i} outlived its run");
    }
}

#[tokio::test(start_paused = true)]
async fn an_ended_run_keeps_only_its_readers_until_they_are_let_go() {
    let (run, mut ended) = run_with_every_task();
    let readers = run.end();
    assert_eq!(readers.len(), 3);
    let (acting, reading) = ended.split_at_mut(3);
    for rx in acting {
        assert!(has_ended(rx).await, "health, polite stop and connector end with the run");
    }
    let mut draining = Draining::default();
    draining.add(readers);
    for rx in reading.iter_mut() {
        assert!(!has_ended(rx).await, "readers go on reading what the process left");
    }
    // Readers that never reach the end of their pipes get a bounded time, then go.
    let began = tokio::time::Instant::now();
    draining.finish(Duration::from_secs(1)).await;
    assert_eq!(began.elapsed(), Duration::from_secs(1));
    for rx in reading {
        assert!(has_ended(rx).await);
    }
}
