//! After an HTTP/1.1 upgrade (a WebSocket): the two connections are joined byte for byte.

use super::Upstream;
use crate::config::listen::ProxyKind;
use crate::ipc::Ipc;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

pub(super) async fn run(
    downstream: OnUpgrade,
    upstream: OnUpgrade,
    ipc: Arc<Ipc>,
    kind: ProxyKind,
    held: Option<Upstream>,
) {
    let (app, sidecar) = match tokio::join!(downstream, upstream) {
        (Ok(app), Ok(sidecar)) => (app, sidecar),
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!("{}: proxy upgrade: {e}", ipc.name);
            return;
        }
    };
    let _ = kind;
    let (mut app, mut sidecar) = (TokioIo::new(app), TokioIo::new(sidecar));
    if let Err(e) = tokio::io::copy_bidirectional(&mut app, &mut sidecar).await {
        tracing::debug!("{}: proxy tunnel: {e}", ipc.name);
    }
    drop(held);
}
