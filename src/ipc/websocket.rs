//! WebSocket transport: the sidecar listens on a `ws://` URL; sidetop connects once the
//! process is up, retrying with backoff (and again after the connection drops or the
//! sidecar restarts), sends one JSON-RPC or json-lines message per text frame and reads
//! replies and pushes the same way. A ping every few seconds measures the round trip.
//!
//! The connection's `RpcConn` writes newline-framed messages to a `WsWriter`, which sends
//! each line as a text frame from the caller's task (no hop through another task). So
//! ids, timeouts and late replies work exactly as over stdio. Pings go through the same
//! writer, as a line no JSON message can be (a NUL first), so frames never interleave.

use super::Ipc;
use super::protocol::Outcome;
use super::rpc::Dialect;
use crate::os::serial_writer::StdinWriter;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How often the round trip is measured.
const PING_EVERY: Duration = Duration::from_secs(2);

pub async fn connect_loop(ipc: Arc<Ipc>, dialect: Dialect, url: String) {
    let mut pause = FIRST_RETRY;
    loop {
        // The same cap on a message as on every other frame (the library allows 64 MiB).
        let limits = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(super::framing::MAX_FRAME))
            .max_frame_size(Some(super::framing::MAX_FRAME));
        let socket =
            match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(limits), true).await {
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
        let (sink, stream) = socket.split();
        let writer = StdinWriter::start(WsWriter { sink, pending: Vec::new() });
        let conn = ipc.new_connection(dialect, writer.clone());
        ipc.set_connection(Some(conn.clone()));
        let why = serve(&ipc, &conn, stream, &writer).await;
        conn.close(Outcome::Transport(format!("WebSocket closed: {why}")));
        ipc.set_connection(None);
        ipc.set_ping(None);
        tokio::time::sleep(FIRST_RETRY).await;
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads replies and pushes until the connection ends, pinging now and then; says how it
/// ended.
async fn serve(
    ipc: &Ipc,
    conn: &Arc<super::rpc::RpcConn>,
    mut stream: futures_util::stream::SplitStream<Socket>,
    writer: &StdinWriter,
) -> String {
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut ping_sent: Option<(u64, Instant)> = None;
    let mut ping_seq = 0u64;
    loop {
        tokio::select! {
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
                // Answered by the library with the next frame sent.
                Some(Ok(Message::Ping(_))) | Some(Ok(Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or("closed by the sidecar".into(), |f| format!("closed by the sidecar ({} {})", u16::from(f.code), f.reason));
                }
                Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                    // Past the cap: a protocol error, and the connection starts over.
                    ipc.on_oversize(super::framing::MAX_FRAME + 1);
                    return e.to_string();
                }
                Some(Err(e)) => return e.to_string(),
                None => return "the connection ended".into(),
            },
            _ = ping.tick() => {
                ping_seq += 1;
                ping_sent = Some((ping_seq, Instant::now()));
                if let Err(e) = writer.write(format!("\0{ping_seq}\n").as_bytes()).await {
                    return e.to_string();
                }
            }
        }
    }
}

/// Newline-framed messages in, WebSocket frames out: each line a text frame, and a line
/// `\0SEQ` a ping carrying SEQ.
struct WsWriter {
    sink: futures_util::stream::SplitSink<Socket, Message>,
    /// Bytes written but not yet sent as a frame (the end of a line still to come).
    pending: Vec<u8>,
}

impl WsWriter {
    /// Sends every complete line in `pending`.
    fn send_lines(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            match self.sink.poll_ready_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(std::io::Error::other(e))),
                Poll::Ready(Ok(())) => {}
            }
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            let message = match line.strip_prefix(b"\0") {
                Some(seq) => {
                    let seq: u64 = std::str::from_utf8(seq).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
                    Message::Ping(seq.to_be_bytes().to_vec().into())
                }
                None => Message::text(String::from_utf8_lossy(line).into_owned()),
            };
            if let Err(e) = self.sink.start_send_unpin(message) {
                return Poll::Ready(Err(std::io::Error::other(e)));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for WsWriter {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // Earlier lines go first, so a write never waits behind more than one frame.
        std::task::ready!(self.send_lines(cx))?;
        self.pending.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.send_lines(cx))?;
        self.sink.poll_flush_unpin(cx).map_err(std::io::Error::other)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        self.sink.poll_close_unpin(cx).map_err(std::io::Error::other)
    }
}
