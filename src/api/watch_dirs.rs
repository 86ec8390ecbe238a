//! Watching `[[sidecar_dir]]` folders (inotify, through the `notify` crate): when files
//! come, go or change, and the folder has been quiet for a moment, the config is reloaded,
//! so a new executable starts, a removed one stops and a replaced one restarts, each
//! through the same path (and with the same events) as any reload.

use super::engine::Engine;
use notify::{RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// A copy in progress is many events: act once the folder is quiet this long.
const QUIET: Duration = Duration::from_millis(300);

/// Watches until dropped.
pub struct DirWatch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn watch(engine: &Arc<Engine>, dirs: &[PathBuf]) -> notify::Result<Option<DirWatch>> {
    if dirs.is_empty() {
        return Ok(None);
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let engine: Weak<Engine> = Arc::downgrade(engine);
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait for quiet: every further event restarts the wait.
            while tokio::time::timeout(QUIET, rx.recv()).await.is_ok_and(|e| e.is_some()) {}
            let Some(engine) = engine.upgrade() else { return };
            let _ = engine.reload_because(false, Some(format!("{} changed", names.join(", ")))).await;
        }
    });
    Ok(Some(DirWatch { _watcher: watcher, task }))
}
