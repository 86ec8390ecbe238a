//! WebSocket transport: the sidecar listens on a `ws://` URL; sidetop connects once the
//! process is up, retrying with backoff (and again after the connection drops or the
//! sidecar restarts), sends one JSON-RPC or json-lines message per text frame and reads
//! replies and pushes the same way. A ping every few seconds measures the round trip.
//!
//! The connection's `RpcConn` writes newline-framed messages into an in-memory pipe; this
//! task turns each line into a frame. So ids, timeouts and late replies work exactly as
//! over stdio.

use super::Ipc;
use super::protocol::Outcome;
use super::rpc::Dialect;
use crate::serial_writer::StdinWriter;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How often the round trip is measured.
const PING_EVERY: Duration = Duration::from_secs(2);
/// Bytes of outgoing messages buffered between the connection and the socket.
const PIPE: usize = 1 << 20;

pub async fn connect_loop(ipc: Arc<Ipc>, dialect: Dialect, url: String) {
    let mut pause = FIRST_RETRY;
    loop {
        let socket = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::trace!("{}: WebSocket {url}: {e}", ipc.name);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY);
                continue;
            }
        };
        pause = FIRST_RETRY;
        tracing::debug!("{}: WebSocket connected to {url}", ipc.name);
        let (ours, pump) = tokio::io::duplex(PIPE);
        let conn = ipc.new_connection(dialect, StdinWriter::start(ours));
        ipc.set_connection(Some(conn.clone()));
        let why = serve(&ipc, &conn, socket, pump).await;
        conn.close(Outcome::Transport(format!("WebSocket closed: {why}")));
        ipc.set_connection(None);
        ipc.set_ping(None);
        tokio::time::sleep(FIRST_RETRY).await;
    }
}

/// Moves messages both ways until the connection ends; says how it ended.
async fn serve(
    ipc: &Ipc,
    conn: &Arc<super::rpc::RpcConn>,
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pump: tokio::io::DuplexStream,
) -> String {
    let (mut sink, mut stream) = socket.split();
    let mut outgoing = tokio::io::BufReader::new(pump);
    let mut line = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut ping_sent: Option<(u64, Instant)> = None;
    let mut ping_seq = 0u64;
    loop {
        tokio::select! {
            // Cancel-safe: a line read in part stays in `line` for the next turn.
            read = outgoing.read_until(b'\n', &mut line) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return "the connection's writer closed".into();
                }
                let text = String::from_utf8_lossy(line.trim_ascii_end()).into_owned();
                line.clear();
                if let Err(e) = sink.send(Message::text(text)).await {
                    return e.to_string();
                }
            }
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    ipc.on_frame(conn, text.as_bytes(), Instant::now());
                }
                Some(Ok(Message::Binary(bytes))) => {
                    ipc.on_frame(conn, &bytes, Instant::now());
                }
                Some(Ok(Message::Pong(payload))) => {
                    if let Some((seq, at)) = ping_sent
                        && payload.as_ref() == seq.to_be_bytes()
                    {
                        ipc.set_ping(Some(at.elapsed()));
                        ping_sent = None;
                    }
                }
                // Pings are answered by the library on the next send or flush.
                Some(Ok(Message::Ping(_))) => {
                    let _ = sink.flush().await;
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or("closed by the sidecar".into(), |f| format!("closed by the sidecar ({} {})", u16::from(f.code), f.reason));
                }
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(e)) => return e.to_string(),
                None => return "the connection ended".into(),
            },
            _ = ping.tick() => {
                ping_seq += 1;
                ping_sent = Some((ping_seq, Instant::now()));
                if let Err(e) = sink.send(Message::Ping(ping_seq.to_be_bytes().to_vec().into())).await {
                    return e.to_string();
                }
            }
        }
    }
}
