//! After an HTTP/1.1 upgrade (a WebSocket): the two connections are joined byte for
//! byte. In front of a JSON-RPC WebSocket sidecar, a copy of each read goes to a tap (as
//! `sidetop wrap` does for pipes), which cuts the frames into messages and matches calls
//! with replies both ways; the tap never holds the bytes up.

use super::Upstream;
use crate::config::listen::ProxyKind;
use crate::ipc::Ipc;
use crate::ipc::tap::{Side, Tap};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes read at once, each way.
const READ: usize = 64 << 10;

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
    let tap = (kind == ProxyKind::WebSocket).then(|| Tap::start(ipc.clone()));
    let (app_read, app_write) = tokio::io::split(TokioIo::new(app));
    let (sidecar_read, sidecar_write) = tokio::io::split(TokioIo::new(sidecar));
    let joined = tokio::try_join!(
        pump(app_read, sidecar_write, tap.as_deref(), Side::App),
        pump(sidecar_read, app_write, tap.as_deref(), Side::Child),
    );
    if let Err(e) = joined {
        tracing::debug!("{}: proxy tunnel: {e}", ipc.name);
    }
    // The sidecar connection's task handed its socket over at the upgrade; it ends now.
    drop(held);
}

async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    tap: Option<&Tap>,
    side: Side,
) -> std::io::Result<()> {
    let mut buf = vec![0; READ];
    loop {
        let n = from.read(&mut buf).await?;
        let at = Instant::now();
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
        if let Some(tap) = tap {
            tap.offer(side, Some(1), &buf[..n], at);
        }
    }
}
