//! sidetop's own diagnostics: a daily-rolling file via tracing-appender's non-blocking
//! writer, never the terminal (the terminal belongs to the dashboard or to sidecar output).

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// `--log-dir`, else `$XDG_STATE_HOME/sidetop`, else `~/.local/state/sidetop`.
pub fn log_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(state).join("sidetop");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".local/state/sidetop")
}

/// Records sidetop's own log holds for its writer thread before it drops (and counts).
const SELF_LOG_QUEUE: usize = 2048;

/// Starts file logging; keep the guard alive until exit so buffered records are written.
/// Level and targets come from `SIDETOP_LOG` (EnvFilter syntax, default `info`).
pub fn init(dir: &Path) -> std::io::Result<WorkerGuard> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let appender = tracing_appender::rolling::daily(dir, "sidetop.log");
    // Lossy, so a slow disk never stalls the engine; what it drops is counted and said.
    // The queue's slots are allocated and touched up front: the default 128,000 of them
    // cost 4 MB of resident memory for a log that sees a few lines a minute.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(SELF_LOG_QUEUE)
        .finish(appender);
    let dropped = writer.error_counter();
    std::thread::Builder::new().name("selflog-drops".into()).spawn(move || {
        let mut reported = 0;
        loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            let now = dropped.dropped_lines();
            if now > reported {
                tracing::warn!(
                    "sidetop's own log dropped {} records (the disk was too slow); {now} in all",
                    now - reported
                );
                reported = now;
            }
        }
    })?;
    let filter = EnvFilter::try_from_env("SIDETOP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false).init();
    Ok(guard)
}
