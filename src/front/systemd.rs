//! Telling systemd how the engine is doing, for a `Type=notify` unit: `READY=1` once
//! every autostart sidecar is ready, `STATUS=` with counts as they change, `RELOADING=1`
//! around a SIGHUP reload, `STOPPING=1`, and `WATCHDOG=1` when the unit asks for a
//! watchdog. All of it only when systemd set `NOTIFY_SOCKET`; nothing otherwise. Also:
//! whether stdout is the journal, so lines carry journald priorities.

use crate::supervisor::{Life, Status, Supervisor};
use std::collections::BTreeMap;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// The service manager's notification socket (`$NOTIFY_SOCKET`: a path, or `@name` in
/// the abstract namespace).
pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// `None` when not run by systemd (or by something that speaks its protocol).
    pub fn from_env() -> Option<Notifier> {
        let target = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty())?;
        let text = target.to_string_lossy();
        let to = match text.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&*text),
        };
        let to = to.map_err(|e| tracing::warn!("NOTIFY_SOCKET={text} is unusable: {e}")).ok()?;
        let socket =
            UnixDatagram::unbound().map_err(|e| tracing::warn!("cannot notify systemd: {e}")).ok()?;
        Some(Notifier { socket, to })
    }

    /// Sends one datagram of `KEY=value` lines; a manager that went away is not an error
    /// worth more than a log line.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.to) {
            tracing::warn!("systemd notification {message:?} not sent: {e}");
        }
    }

    /// `RELOADING=1` with the monotonic time systemd's `Type=notify-reload` asks for.
    pub fn reloading(&self) {
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
            .unwrap_or(0);
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={now}"));
    }
}

/// How often to send `WATCHDOG=1`: half the unit's `WatchdogSec`, as sd_watchdog_enabled
/// advises; `None` when no watchdog is asked for (or it is meant for another process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = std::env::var("WATCHDOG_PID").ok().and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

/// True when stdout is connected to the journal (`$JOURNAL_STREAM` names its device and
/// inode), so lines may start with `<N>` priorities.
pub fn stdout_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var("JOURNAL_STREAM").ok() else { return false };
    let Some((dev, ino)) = stream.split_once(':') else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    std::fs::metadata("/proc/self/fd/1").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Where the engine stands, for `READY=1` and `STATUS=`.
#[derive(Debug, PartialEq)]
pub struct Standing {
    /// Every sidecar that starts on its own is ready (or finished with exit 0).
    pub ready: bool,
    /// `3 sidecars: 2 ready, 1 starting`.
    pub status: String,
}

pub fn standing<'a>(sidecars: impl IntoIterator<Item = (bool, &'a Status)>) -> Standing {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut total = 0;
    let mut ready = true;
    for (autostart, status) in sidecars {
        total += 1;
        *counts.entry(status.label()).or_default() += 1;
        let done = status.state == Life::Exited && status.last_exit.as_ref().is_some_and(|e| e.is_success());
        let up = status.state == Life::Running && status.ready && !status.unhealthy;
        if autostart && !(up || done) {
            ready = false;
        }
    }
    let parts: Vec<String> = counts.iter().map(|(label, n)| format!("{n} {label}")).collect();
    Standing { ready, status: format!("{total} sidecars: {}", parts.join(", ")) }
}

fn standing_of(supervisor: &Supervisor) -> Standing {
    let handles = supervisor.sidecars();
    let statuses: Vec<(bool, Status)> = handles.iter().map(|s| (s.config.autostart, s.status())).collect();
    standing(statuses.iter().map(|(a, s)| (*a, s)))
}

/// Keeps systemd told: `READY=1` the first time every autostart sidecar is ready (and
/// after each reload), `STATUS=` whenever the counts change, `WATCHDOG=1` on time.
/// Runs until aborted.
pub async fn keep_told(
    notifier: Arc<Notifier>,
    supervisor: Arc<Supervisor>,
    reloaded: Arc<tokio::sync::Notify>,
) {
    let changed = supervisor.changed();
    let mut watchdog = watchdog_interval().map(tokio::time::interval);
    let mut said_ready = false;
    let mut said_status = String::new();
    loop {
        let now = standing_of(&supervisor);
        let mut message = Vec::new();
        if now.ready && !said_ready {
            message.push("READY=1".to_string());
            said_ready = true;
        }
        if now.status != said_status {
            message.push(format!("STATUS={}", now.status));
            said_status = now.status;
        }
        if !message.is_empty() {
            notifier.send(&message.join("\n"));
        }
        // Status changes wake this at once; the tick catches a change between looking
        // and waiting.
        tokio::select! {
            _ = changed.notified() => {}
            _ = reloaded.notified() => said_ready = false,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = async { match watchdog.as_mut() { Some(w) => { w.tick().await; } None => std::future::pending().await } } => {
                notifier.send("WATCHDOG=1");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_autostart_sidecar_is() {
        let running = |ready| Status { state: Life::Running, ready, ..Status::default() };
        let idle = Status::default();
        let now = standing([(true, &running(true)), (false, &idle)]);
        assert_eq!(now, Standing { ready: true, status: "2 sidecars: 1 idle, 1 ready".into() });
        let now = standing([(true, &running(true)), (true, &running(false))]);
        assert!(!now.ready);
        assert_eq!(now.status, "2 sidecars: 1 ready, 1 starting");
    }
}
