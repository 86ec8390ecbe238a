//! The supervisor's side of the measuring proxy (`ipc/proxy/`): binds it when the sidecar
//! first starts (a taken port fails the sidecar with the OS error, like a missing
//! command), and keeps telling it whether the sidecar is up and, if not, why.

use super::scrollback::LogBuffer;
use super::status::{Life, Status};
use crate::ipc::Ipc;
use crate::ipc::proxy::Proxy;
use crate::ipc::proxy::gate::{Gate, Upstate};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A listening proxy and the task feeding it the sidecar's state; dropping it closes the
/// port.
pub struct ProxyLink {
    _proxy: Proxy,
    feeding: tokio::task::JoinHandle<()>,
}

impl Drop for ProxyLink {
    fn drop(&mut self) {
        self.feeding.abort();
    }
}

pub fn start(
    ipc: &Arc<Ipc>,
    status: watch::Receiver<Status>,
    logs: Arc<Mutex<LogBuffer>>,
) -> Option<std::io::Result<ProxyLink>> {
    let listen = ipc.config.listen.as_ref()?;
    let (tx, rx) = watch::channel(upstate(&status.borrow(), &logs));
    let proxy = match Proxy::start(listen, ipc.clone(), Gate(rx)) {
        Ok(proxy) => proxy,
        Err(e) => {
            return Some(Err(std::io::Error::new(e.kind(), format!("listen {}: {e}", listen.addr))));
        }
    };
    let feeding = tokio::spawn(feed(status, logs, tx));
    Some(Ok(ProxyLink { _proxy: proxy, feeding }))
}

async fn feed(mut status: watch::Receiver<Status>, logs: Arc<Mutex<LogBuffer>>, tx: watch::Sender<Upstate>) {
    while status.changed().await.is_ok() {
        let now = upstate(&status.borrow_and_update(), &logs);
        tx.send_if_modified(|old| {
            let changed = *old != now;
            *old = now;
            changed
        });
    }
}

/// The sidecar's status as the proxy needs it.
pub fn upstate(status: &Status, logs: &Mutex<LogBuffer>) -> Upstate {
    let up = status.state == Life::Running && status.ready;
    let coming = match status.state {
        Life::Starting | Life::Waiting | Life::Backoff => true,
        Life::Running => !status.unhealthy,
        _ => false,
    };
    let mut why = match status.state {
        Life::Running if status.unhealthy => "it is unhealthy".to_string(),
        Life::Running | Life::Starting => "it is starting".to_string(),
        Life::Backoff => "it is restarting".to_string(),
        Life::CrashLoop => "it is in a crash loop (restarts stopped)".to_string(),
        Life::Failed => match &status.error {
            Some(e) => format!("it could not start: {e}"),
            None => "it could not start".to_string(),
        },
        other => format!("it is {other}"),
    };
    if up {
        return Upstate { up, coming, why_down: String::new() };
    }
    if let Some(exit) = &status.last_exit {
        why.push_str(&format!("; last exit: {exit}"));
    }
    let tail = logs.lock().unwrap_or_else(|e| e.into_inner()).stderr_tail(1);
    if let Some(line) = tail.last() {
        why.push_str(&format!("; last stderr: {line}"));
    }
    Upstate { up, coming, why_down: why }
}
