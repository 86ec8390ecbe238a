//! Stopping a sidecar through its protocol before any signal: the configured shutdown
//! steps in order (LSP: the `shutdown` request, then the `exit` notification), then its
//! stdin closed where that is how it is told to go (MCP over stdio). The runner sends the
//! stop signal if the process is still there after `stop_timeout`.

use crate::config::ipc::RequestSpec;
use crate::ipc::Ipc;
use crate::ipc::protocol::Origin;
use crate::serial_writer::StdinWriter;
use std::sync::Arc;
use std::time::Duration;

pub async fn stop(ipc: Arc<Ipc>, stdin: Option<StdinWriter>, timeout: Duration) {
    for step in &ipc.config.shutdown {
        let sent = if step.notification {
            ipc.notify(&step.method, step.params.as_ref()).await.map_err(|e| e.to_string())
        } else {
            let spec = RequestSpec::Rpc { method: step.method.clone(), params: step.params.clone() };
            let exchange = ipc.request_with_timeout(&spec, Origin::Handshake, timeout).await;
            if exchange.outcome.is_ok() { Ok(()) } else { Err(exchange.outcome.to_string()) }
        };
        if let Err(e) = sent {
            // The signal comes anyway; going on would talk to a server that did not agree.
            tracing::info!("{}: {} during stop: {e}", ipc.name, step.method);
            return;
        }
    }
    if ipc.config.close_stdin_on_stop
        && let Some(stdin) = stdin
    {
        stdin.close().await;
    }
}
