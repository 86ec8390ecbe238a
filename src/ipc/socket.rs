//! TCP and Unix-socket transports: the sidecar listens; sidetop connects once the process
//! is up (retrying while it starts), reads frames like it reads stdout, and reconnects if
//! the connection drops while the process lives.

use super::Ipc;
use super::framing::{Decoder, Piece};
use super::protocol::Outcome;
use super::rpc::{Dialect, RpcConn};
use crate::config::ipc::Transport;
use crate::os::serial_writer::StdinWriter;
use bytes::BytesMut;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

const RETRY: Duration = Duration::from_millis(50);
/// Longest pause between two attempts to reach a starting HTTP sidecar.
const MAX_RETRY: Duration = Duration::from_millis(500);

/// HTTP sidecars: ready to be asked once their address accepts a TCP connection. Tries
/// with a short, growing pause until it does (the caller bounds the wait).
pub async fn probe_http(ipc: Arc<Ipc>, url: String) {
    let Some(address) = crate::config::listen::host_port(&url) else {
        tracing::warn!("{}: cannot find host and port in {url}", ipc.name);
        return;
    };
    let mut pause = Duration::from_millis(10);
    loop {
        if tokio::net::TcpStream::connect(address.as_str()).await.is_ok() {
            ipc.set_listening(true);
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY);
    }
}

pub async fn connect_loop(ipc: Arc<Ipc>, dialect: Dialect) {
    loop {
        let connected = match &ipc.config.transport {
            Transport::Tcp(address) => tokio::net::TcpStream::connect(address.as_str()).await.map(|s| {
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                (Box::new(r) as Box<dyn AsyncRead + Unpin + Send>, StdinWriter::start(w))
            }),
            Transport::Unix(path) => tokio::net::UnixStream::connect(path).await.map(|s| {
                let (r, w) = s.into_split();
                (Box::new(r) as Box<dyn AsyncRead + Unpin + Send>, StdinWriter::start(w))
            }),
            Transport::Stdio | Transport::Http(_) | Transport::WebSocket(_) => return,
        };
        let (reader, writer) = match connected {
            Ok(pair) => pair,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        tracing::debug!("{}: IPC connected", ipc.name);
        let conn = ipc.new_connection(dialect, writer);
        ipc.set_connection(Some(conn.clone()));
        read_frames(&ipc, &conn, reader).await;
        conn.close(Outcome::Transport("connection closed by the sidecar".into()));
        ipc.set_connection(None);
        tokio::time::sleep(RETRY).await;
    }
}

async fn read_frames(ipc: &Ipc, conn: &Arc<RpcConn>, mut reader: Box<dyn AsyncRead + Unpin + Send>) {
    let mut decoder = Decoder::new(Some(ipc.config.framing), super::framing::MAX_FRAME);
    let mut buf = BytesMut::with_capacity(64 << 10);
    let mut pieces = Vec::new();
    loop {
        if buf.capacity() - buf.len() < 16 << 10 {
            buf.reserve(64 << 10);
        }
        let n = reader.read_buf(&mut buf).await.unwrap_or(0);
        decoder.decode(&mut buf, &mut pieces, n == 0);
        let at = Instant::now();
        for piece in pieces.drain(..) {
            match piece {
                Piece::Frame(bytes) | Piece::Line(bytes, false) => {
                    if !ipc.on_frame(conn, &bytes, at) && !bytes.trim_ascii().is_empty() {
                        tracing::debug!("{}: non-protocol data on the IPC socket", ipc.name);
                    }
                }
                Piece::Line(_, true) => ipc.on_oversize(super::framing::MAX_FRAME + 1),
                Piece::Oversize(len) => ipc.on_oversize(len),
            }
        }
        if n == 0 {
            return;
        }
    }
}
