//! Stopping a sidecar through its protocol before any signal: the configured shutdown
//! steps in order (LSP: the `shutdown` request, then the `exit` notification), then its
//! stdin closed where that is how it is told to go (MCP over stdio). The runner sends the
//! stop signal if the process is still there after `stop_timeout`.

use crate::config::ipc::RequestSpec;
use crate::ipc::Ipc;
use crate::ipc::protocol::Origin;
use crate::ipc::rpc::RpcConn;
use crate::os::serial_writer::StdinWriter;
use std::sync::Arc;
use std::time::Duration;

/// `run` is the connection of the run being stopped: every step goes to it, so a step
/// that comes late (after a slow reply) fails with that run instead of reaching the next
/// run's process. `None` where there is no per-run connection (Streamable HTTP).
pub async fn stop(ipc: Arc<Ipc>, run: Option<Arc<RpcConn>>, stdin: Option<StdinWriter>, timeout: Duration) {
    for step in &ipc.config.shutdown {
        let sent = if step.notification {
            ipc.notify_via(run.as_ref(), &step.method, step.params.as_ref()).await.map_err(|e| e.to_string())
        } else {
            let spec = RequestSpec::Rpc { method: step.method.clone(), params: step.params.clone() };
            let exchange = match &run {
                Some(run) => ipc.request_on(run, &spec, Origin::Handshake, timeout).await,
                None => ipc.request_with_timeout(&spec, Origin::Handshake, timeout).await,
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use tokio::io::AsyncReadExt;

    /// The steps of a stop go to the run being stopped, even once the next run's
    /// connection is the current one: its `exit` never reaches the new process.
    #[tokio::test]
    async fn a_stop_talks_only_to_the_run_it_stops() {
        let toml = r#"
[[sidecar]]
name = "lsp"
command = ["true"]
[sidecar.ipc]
protocol = "jsonrpc"
shutdown = [{ method = "goodbye", notification = true }, { method = "exit", notification = true }]
"#;
        let config = Config::parse(std::path::Path::new("t.toml"), toml).unwrap();
        let ipc_config = config.sidecars[0].ipc.clone().unwrap();
        let (exchanges, _) = tokio::sync::broadcast::channel(16);
        let ipc = Arc::new(Ipc::new("lsp".into(), ipc_config, exchanges, Default::default()));
        let (old_end, mut old_read) = tokio::io::duplex(1 << 16);
        let (new_end, mut new_read) = tokio::io::duplex(1 << 16);
        let dialect = crate::ipc::rpc::Dialect::JsonRpc;
        let old_run = ipc.new_connection(dialect, StdinWriter::start(old_end));
        ipc.set_connection(Some(old_run.clone()));
        // The next run is attached before the stop's steps go out.
        ipc.set_connection(Some(ipc.new_connection(dialect, StdinWriter::start(new_end))));
        stop(ipc.clone(), Some(old_run), None, Duration::from_secs(1)).await;
        let mut buf = vec![0u8; 4096];
        let new_got = tokio::time::timeout(Duration::from_millis(200), new_read.read(&mut buf)).await;
        assert!(
            new_got.is_err(),
            "the next run got {:?}",
            new_got.map(|n| String::from_utf8_lossy(&buf[..n.unwrap()]).into_owned())
        );
        // They went to the run being stopped, whose process is still there to read them.
        let mut old_got = String::new();
        while !old_got.contains("\"exit\"") {
            let n =
                tokio::time::timeout(Duration::from_secs(1), old_read.read(&mut buf)).await.unwrap().unwrap();
            old_got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(old_got.contains("\"goodbye\""), "{old_got}");
    }
}
