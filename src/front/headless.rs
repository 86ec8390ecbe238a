//! The no-TUI front end: every captured line as `HH:MM:SS.mmm name  | text` (stderr as
//! `name !| text`) and every lifecycle event on its own line, on stdout. A stdout that
//! is not read (a pipe into a stopped `less`, Ctrl-S, a stalled ssh session) never slows
//! the sidecars: the printer falls behind alone, skips, and says how many lines it
//! skipped (the scrollback and the log files keep them). Stops everything gracefully on
//! SIGINT/SIGTERM/SIGHUP.

use crate::config::Config;
use crate::front::start::{self, Signals, Start};
use crate::ipc::protocol::{Exchange, Origin};
use crate::supervisor::scrollback::{LogLine, Stream};
use crate::supervisor::{EVENT_BACKLOG, EXCHANGE_BACKLOG, Event, Fed, LineBatch, Options};
use crate::text::sanitize::sanitize_into;
use crate::text::stamp::Stamp;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};

enum Printable {
    Lines(LineBatch),
    Event(Event),
    Exchange(Arc<Exchange>),
    /// A subscription fell behind and skipped this many items: said, never silent.
    Skipped {
        count: u64,
        what: &'static str,
    },
    /// From sidetop itself (a reload's outcome).
    Note(String),
}

/// Exchanges worth a line: those sidetop made (not health checks: their state changes
/// are events), and anything wrong that the sidecar sent on its own.
fn worth_printing(exchange: &Exchange) -> bool {
    match exchange.origin {
        Origin::Health => false,
        Origin::Sidecar | Origin::Application => !exchange.outcome.is_ok(),
        Origin::Operator | Origin::Load | Origin::Handshake => true,
    }
}

pub struct HeadlessOptions {
    /// Exit once no sidecar is running or due to restart.
    pub exit_when_done: bool,
    /// Run as `sidetop agent`: serve the control socket; SIGHUP does not stop it (there is
    /// no terminal to lose).
    pub agent: Option<AgentOptions>,
    /// How often resources are sampled (an agent serves them to attached dashboards).
    pub sample_interval: Duration,
    /// Record every exchange here (`--record`).
    pub record: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics here.
    pub metrics: Option<std::net::SocketAddr>,
}

pub struct AgentOptions {
    pub socket: std::path::PathBuf,
    pub read_only: bool,
}

pub async fn run(config: &Config, options: HeadlessOptions) -> io::Result<()> {
    // Before anything starts: a signal from now on stops the sidecars gracefully.
    let mut signals = Signals::new()?;
    let (lines_tx, mut lines_rx) = crate::supervisor::line_feed(crate::supervisor::line_feed::DEFAULT_BUDGET);
    let (events_tx, mut events) = broadcast::channel(EVENT_BACKLOG);
    let (exchanges_tx, mut exchanges) = broadcast::channel(EXCHANGE_BACKLOG);
    let started = start::start(
        config,
        Start {
            engine: Options {
                lines: Some(lines_tx),
                events: Some(events_tx),
                exchanges: Some(exchanges_tx),
                ..Options::binary()
            },
            sample_interval: options.sample_interval,
            metrics: options.metrics,
            record: options.record.clone(),
            socket: options.agent.as_ref().map(|agent| start::Socket {
                path: agent.socket.clone(),
                options: crate::server::ServerOptions { read_only: agent.read_only },
                required: true,
            }),
        },
    )
    .await?;
    let engine = started.engine.clone();
    let supervisor = engine.supervisor.clone();
    // Under systemd (`Type=notify`): readiness, counts, reloads, the watchdog, the stop.
    let notifier = crate::front::systemd::Notifier::from_env().map(Arc::new);
    let reloaded = Arc::new(tokio::sync::Notify::new());
    let telling = notifier
        .clone()
        .map(|n| tokio::spawn(crate::front::systemd::keep_told(n, supervisor.clone(), reloaded.clone())));
    let asked_to_stop = engine.shutdown_asked.clone();
    let hangup_stops = options.agent.is_none();

    let names: Vec<String> = config.sidecars.iter().map(|s| s.name.clone()).collect();
    let (print_tx, print_rx) = mpsc::channel::<Printable>(4);
    let journal = crate::front::systemd::stdout_is_journal();
    let printer = std::thread::Builder::new()
        .name("printer".into())
        .spawn(move || print_loop(print_rx, names, journal))?;

    // One ordered stream for the printer: lines and events as they come.
    let mut reloads = engine.subscribe_reloads();
    let forwarder = tokio::spawn(async move {
        let (mut lines_open, mut events_open, mut exchanges_open) = (true, true, true);
        while lines_open || events_open || exchanges_open {
            let item = tokio::select! {
                Ok((_, text)) = reloads.recv() => Printable::Note(text),
                batch = lines_rx.recv(), if lines_open => match batch {
                    Some(Fed::Lines(b)) => Printable::Lines(b),
                    Some(Fed::Skipped(count)) => Printable::Skipped { count, what: "lines" },
                    None => { lines_open = false; continue; }
                },
                event = events.recv(), if events_open => match event {
                    Ok(e) => Printable::Event(e),
                    Err(broadcast::error::RecvError::Lagged(count)) => Printable::Skipped { count, what: "events" },
                    Err(broadcast::error::RecvError::Closed) => { events_open = false; continue; }
                },
                exchange = exchanges.recv(), if exchanges_open => match exchange {
                    Ok(e) if worth_printing(&e) => Printable::Exchange(e),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(count)) => Printable::Skipped { count, what: "exchanges" },
                    Err(broadcast::error::RecvError::Closed) => { exchanges_open = false; continue; }
                },
            };
            if print_tx.send(item).await.is_err() {
                break;
            }
        }
    });

    let changed = supervisor.changed();
    loop {
        if options.exit_when_done && supervisor.all_settled() {
            break;
        }
        tokio::select! {
            _ = signals.int.recv() => break,
            _ = signals.term.recv() => break,
            _ = signals.hup.recv() => {
                if hangup_stops {
                    break;
                }
                // An agent has no terminal to lose: SIGHUP reloads the config, as for
                // nginx and supervisord.
                let engine = engine.clone();
                let (notifier, reloaded) = (notifier.clone(), reloaded.clone());
                tokio::spawn(async move {
                    if let Some(n) = &notifier {
                        n.reloading();
                    }
                    let _ = engine.reload(false).await;
                    // READY=1 again once the reloaded set is ready.
                    reloaded.notify_one();
                });
            }
            _ = asked_to_stop.notified() => break,
            _ = changed.notified(), if options.exit_when_done => {}
        }
    }
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    if let Some(task) = telling {
        task.abort();
    }
    // A second signal during a long graceful stop forces it, as in the dashboard.
    tokio::select! {
        _ = engine.shutdown() => {}
        _ = signals.any() => engine.kill_all().await,
    }
    started.finish().await;
    drop(supervisor);
    drop(engine);
    // Output still in the pipes drains now; a grandchild that escaped its process group
    // could hold a pipe open forever, so this wait is bounded.
    if tokio::time::timeout(Duration::from_secs(2), forwarder).await.is_err() {
        tracing::warn!("output did not drain within 2s after shutdown");
        return Ok(());
    }
    let _ = tokio::task::spawn_blocking(move || printer.join()).await;
    Ok(())
}

/// journald priorities (`sd-daemon.h`), written first on a line when stdout is the journal.
const INFO: &[u8] = b"<6>";
const NOTICE: &[u8] = b"<5>";
const WARNING: &[u8] = b"<4>";

/// `journal`: stdout is the journal; each line starts with its priority (stderr lines and
/// skips are warnings, events notices, the rest info).
fn print_loop(mut rx: mpsc::Receiver<Printable>, names: Vec<String>, journal: bool) {
    let priority = |buf: &mut Vec<u8>, level: &[u8]| {
        if journal {
            buf.extend_from_slice(level);
        }
    };
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let padded: Vec<String> = names.iter().map(|n| format!("{n:<width$}")).collect();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_AT + (64 << 10));
    let mut stamp = Stamp::new(crate::text::stamp::CLOCK);
    while let Some(item) = rx.blocking_recv() {
        match item {
            Printable::Lines(batch) => {
                let name =
                    names.iter().position(|n| **n == *batch.sidecar).map_or(&*batch.sidecar, |i| &padded[i]);
                for line in batch.lines.iter() {
                    priority(&mut buf, if line.stream == Stream::Stderr { WARNING } else { INFO });
                    format_line(&mut buf, stamp.text(line.at), name, line);
                    // Out in slices that are still in cache, whatever the batch's size.
                    if buf.len() >= WRITE_AT {
                        write_out(&mut out, &mut buf);
                    }
                }
            }
            Printable::Event(event) => {
                priority(&mut buf, NOTICE);
                buf.extend_from_slice(stamp.text(event.at).as_bytes());
                buf.push(b' ');
                buf.extend_from_slice(event.to_string().as_bytes());
                buf.push(b'\n');
            }
            Printable::Note(text) => {
                priority(&mut buf, NOTICE);
                buf.extend_from_slice(stamp.text(SystemTime::now()).as_bytes());
                buf.push(b' ');
                sanitize_into(text.as_bytes(), &mut buf);
                buf.push(b'\n');
            }
            Printable::Skipped { count, what } => {
                priority(&mut buf, WARNING);
                buf.extend_from_slice(stamp.text(SystemTime::now()).as_bytes());
                buf.extend_from_slice(
                    format!(
                        " [sidetop] {count} {what} not printed: the output fell behind{}\n",
                        match what {
                            "lines" => " (the scrollback and log files keep them)",
                            _ => "",
                        }
                    )
                    .as_bytes(),
                );
            }
            Printable::Exchange(exchange) => {
                priority(&mut buf, if exchange.outcome.is_ok() { INFO } else { WARNING });
                let name = names.iter().position(|n| **n == *exchange.sidecar).map_or("?", |i| &padded[i]);
                buf.extend_from_slice(stamp.text(exchange.at).as_bytes());
                buf.push(b' ');
                buf.extend_from_slice(name.as_bytes());
                buf.extend_from_slice(b"  ");
                sanitize_into(exchange.summary().as_bytes(), &mut buf);
                buf.push(b'\n');
            }
        }
        // Write when the queue is empty or the buffer is big: few syscalls under load,
        // no delay when idle.
        if rx.is_empty() || buf.len() >= WRITE_AT {
            write_out(&mut out, &mut buf);
        }
    }
    write_out(&mut out, &mut buf);
}

/// Text gathered before a write: few syscalls, and still in cache when the kernel copies it.
const WRITE_AT: usize = 128 << 10;

/// A stdout that is gone (a closed pipe) loses the text: the loop keeps draining so the
/// sidecars never block.
fn write_out(out: &mut impl Write, buf: &mut Vec<u8>) {
    let _ = out.write_all(buf).and_then(|_| out.flush());
    buf.clear();
}

fn format_line(buf: &mut Vec<u8>, stamp: &str, name: &str, line: &LogLine) {
    buf.extend_from_slice(stamp.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(match line.stream {
        Stream::Stdout => b"  | ",
        Stream::Stderr => b" !| ",
    });
    sanitize_into(&line.bytes, buf);
    if line.cut {
        buf.extend_from_slice(" [line cut]".as_bytes());
    }
    buf.push(b'\n');
}
