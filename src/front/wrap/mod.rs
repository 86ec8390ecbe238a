//! `sidetop wrap -- CMD ARGS…`: the application runs this in place of its sidecar's
//! command. The child gets the application's pipes through sidetop (passed on byte for
//! byte, observed beside the copy: `supervisor::passthrough`, `ipc::tap`), the wrapper
//! lives and dies as the child does (its exit code, its signal; signals sent to the
//! wrapper reach the child), and meanwhile it is an engine like an agent: its socket in
//! the runtime folder for `ctl` and `attach`, `--record`, `--metrics`.
//!
//! The wrapper prints nothing of its own on stdout (it is the application's) and only
//! the child's stderr on stderr; its own messages go to its log file.

pub mod args;
mod config;
mod exit;

pub use args::WrapArgs;

use crate::front::start::{self, Start};
use crate::supervisor::{Life, Options};
use exit::Ending;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// Signals sent to the wrapper that are passed on to the child.
const FORWARDED: [libc::c_int; 6] =
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];
/// How long the child's last output may take to reach the application after it exits.
const DRAIN: Duration = Duration::from_secs(2);

pub struct WrapOptions<'a> {
    pub args: &'a WrapArgs,
    /// `--config`, when given on the command line.
    pub config_file: Option<&'a Path>,
    pub log_dir: Option<&'a Path>,
    pub record: Option<PathBuf>,
    pub metrics: Option<SocketAddr>,
    pub sample_interval: Duration,
}

/// Runs the wrapper and exits as the child did. Call before any thread starts (the
/// death-watch helper is forked here).
pub fn main(options: WrapOptions) -> ! {
    let config = match config::build(options.args, options.config_file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sidetop wrap: {e}");
            exit::end(Ending::Error)
        }
    };
    if let Err(e) = crate::supervisor::prefork_death_watch() {
        eprintln!("sidetop wrap: warning: cannot fork the death-watch helper now ({e})");
    }
    let log_dir = crate::front::selflog::log_dir(options.log_dir);
    let log_guard = crate::front::selflog::init(&log_dir).ok();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sidetop wrap: cannot start the async runtime: {e}");
            exit::end(Ending::Error)
        }
    };
    let ending = runtime.block_on(run(&config, &options)).unwrap_or_else(|e| {
        eprintln!("sidetop wrap: {e}");
        Ending::Error
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    drop(log_guard);
    exit::end(ending)
}

async fn run(config: &crate::config::Config, options: &WrapOptions<'_>) -> std::io::Result<Ending> {
    let name = config.sidecars[0].name.clone();
    let mut forwarded = Vec::new();
    for sig in FORWARDED {
        forwarded.push((sig, signal(SignalKind::from_raw(sig))?));
    }
    let socket = options.args.socket.clone().unwrap_or_else(|| default_socket(&name));
    let started = start::start(
        config,
        Start {
            engine: Options::binary(),
            sample_interval: options.sample_interval,
            metrics: options.metrics.or(config.metrics),
            record: options.record.clone(),
            socket: Some(start::Socket {
                path: socket.clone(),
                options: crate::server::ServerOptions { read_only: false },
                required: false,
            }),
        },
    )
    .await?;
    if let Some(note) = &started.socket_note {
        tracing::warn!("wrap {name}: {note}");
    }
    let engine = started.engine.clone();
    let handle = engine.supervisor.get(&name).map_err(|e| std::io::Error::other(e.to_string()))?;
    let stdin = handle.forward_stdin();
    tracing::info!("wrap {name}: {:?}, socket {}", config.sidecars[0].argv, socket.display());

    let mut status = handle.watch();
    let asked_to_stop = engine.shutdown_asked.clone();
    let ended = loop {
        let signals = next_signal(&mut forwarded);
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break None;
                }
                let s = status.borrow().clone();
                match s.state {
                    Life::Exited | Life::CrashLoop | Life::Stopped => break s.last_exit,
                    Life::Failed => {
                        let error = s.error.unwrap_or_default();
                        eprintln!("sidetop wrap: {}: {error}", config.sidecars[0].argv[0]);
                        engine.shutdown().await;
                        return Ok(Ending::NotStarted { not_found: error.contains("No such file") });
                    }
                    _ => {}
                }
            }
            sig = signals => {
                if let Some(pid) = handle.status().pid {
                    // SAFETY: plain syscall; the pid is our running child's.
                    unsafe { libc::kill(pid as libc::pid_t, sig) };
                }
            }
            _ = asked_to_stop.notified() => {
                let _ = handle.stop().await;
            }
        }
    };
    // What the child wrote last reaches the application before the wrapper ends.
    if !handle.outputs_drained(DRAIN).await {
        tracing::warn!("wrap {name}: the child's output did not end within {DRAIN:?} after it exited");
    }
    if let Some(stdin) = stdin {
        stdin.abort();
    }
    let dropped = handle.unobserved_reads();
    if dropped > 0 {
        tracing::warn!(
            "wrap {name}: {dropped} reads passed on without being observed (the observer was behind)"
        );
    }
    engine.shutdown().await;
    started.finish().await;
    Ok(match ended {
        Some(exit) => Ending::Child(exit),
        None => Ending::Error,
    })
}

/// The next of the forwarded signals to arrive.
async fn next_signal(signals: &mut [(libc::c_int, tokio::signal::unix::Signal)]) -> libc::c_int {
    std::future::poll_fn(|cx| {
        for (sig, stream) in signals.iter_mut() {
            if stream.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(*sig);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// `wrap-NAME-PID.sock` beside the agents' sockets, so `ctl list` lists wrappers too.
fn default_socket(name: &str) -> PathBuf {
    crate::api::socket_path::socket_dir().join(format!("wrap-{name}-{}.sock", std::process::id()))
}
