//! WebSocket frames seen from the side (the measuring proxy's tunnel): a copy of the
//! bytes each way is cut into messages, unmasked and reassembled, so JSON-RPC over a
//! WebSocket is matched like JSON-RPC over a pipe. Header parsing is tungstenite's; this
//! only keeps the state between reads.

use super::framing::Piece;
use bytes::{Buf, BytesMut};
use std::io::Cursor;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

pub struct WsDecoder {
    max: usize,
    /// A fragmented message so far.
    message: Option<BytesMut>,
    /// Payload bytes of an oversize or skipped frame still to pass.
    skip: u64,
}

impl WsDecoder {
    pub fn new(max: usize) -> Self {
        WsDecoder { max, message: None, skip: 0 }
    }

    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Vec<Piece>) {
        loop {
            if self.skip > 0 {
                let n = (self.skip as usize).min(buf.len());
                buf.advance(n);
                self.skip -= n as u64;
                if self.skip > 0 {
                    return;
                }
            }
            let mut cursor = Cursor::new(&buf[..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return,
                Err(e) => {
                    // Not a frame where one should begin: what follows cannot be read.
                    tracing::debug!("websocket frames: {e}; skipping what is buffered");
                    buf.clear();
                    self.message = None;
                    return;
                }
            };
            let at = cursor.position() as usize;
            let data = matches!(header.opcode, OpCode::Data(_));
            // Compressed (permessage-deflate) frames cannot be read here; control frames
            // carry no calls.
            if !data || header.rsv1 || len as usize > self.max {
                if data && len as usize > self.max {
                    out.push(Piece::Oversize(len as usize));
                    self.message = None;
                }
                buf.advance(at);
                self.skip = len;
                continue;
            }
            let len = len as usize;
            if buf.len() < at + len {
                return;
            }
            buf.advance(at);
            let mut payload = buf.split_to(len);
            if let Some(mask) = header.mask {
                for (i, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[i & 3];
                }
            }
            let whole = match (header.opcode, self.message.take()) {
                (OpCode::Data(Data::Continue), Some(mut so_far)) => {
                    so_far.extend_from_slice(&payload);
                    so_far
                }
                (OpCode::Data(Data::Continue), None) => continue,
                (_, _) => payload,
            };
            if whole.len() > self.max {
                out.push(Piece::Oversize(whole.len()));
            } else if header.is_final {
                out.push(Piece::Frame(whole.freeze()));
            } else {
                self.message = Some(whole);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, fin: bool, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
        let masked = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(masked | n as u8),
            n if n < 65536 => {
                out.push(masked | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(masked | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(m) => {
                out.extend_from_slice(&m);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i & 3]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    fn frames(decoder: &mut WsDecoder, bytes: &[u8], step: usize) -> Vec<String> {
        let (mut buf, mut out) = (BytesMut::new(), Vec::new());
        for chunk in bytes.chunks(step) {
            buf.extend_from_slice(chunk);
            decoder.decode(&mut buf, &mut out);
        }
        out.into_iter()
            .map(|p| match p {
                Piece::Frame(b) => String::from_utf8_lossy(&b).into_owned(),
                Piece::Oversize(n) => format!("oversize {n}"),
                Piece::Line(..) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn messages_come_out_whole_whatever_the_reads() {
        let big = "x".repeat(70_000);
        let mut bytes = frame(1, true, Some([1, 2, 3, 4]), br#"{"id":1}"#);
        bytes.extend(frame(9, true, None, b"ping")); // a control frame between
        bytes.extend(frame(1, false, None, b"{\"a\":"));
        bytes.extend(frame(10, true, Some([9, 9, 9, 9]), b"")); // a pong amid fragments
        bytes.extend(frame(0, true, None, b"2}"));
        bytes.extend(frame(2, true, None, big.as_bytes()));
        bytes.extend(frame(1, true, None, &[b'y'; 200]));
        for step in [1, 3, 7, 1000, bytes.len()] {
            let got = frames(&mut WsDecoder::new(100_000), &bytes, step);
            assert_eq!(got.len(), 4, "step {step}");
            assert_eq!(got[0], r#"{"id":1}"#);
            assert_eq!(got[1], r#"{"a":2}"#);
            assert_eq!(got[2], big);
        }
        let got = frames(&mut WsDecoder::new(100), &bytes, 5);
        assert_eq!(got, [r#"{"id":1}"#, r#"{"a":2}"#, "oversize 70000", "oversize 200"]);
    }
}
