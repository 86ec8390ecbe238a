//! LSP-style `Content-Length:` framing on a byte stream that may also carry stray text
//! (a sidecar's prints): frames come out as frames, anything else as lines, and a frame
//! larger than the cap is skipped (and reported) without being held in memory.

use bytes::{Bytes, BytesMut};

/// Largest frame accepted, in either framing; larger ones are protocol errors.
pub const MAX_FRAME: usize = 8 << 20;
/// A header block longer than this is not a header block.
const MAX_HEADER: usize = 1024;
const HEADER_NAME: &[u8] = b"content-length:";

#[derive(Debug, PartialEq)]
pub enum Piece {
    Frame(Bytes),
    /// Text outside frames; `true` when cut at the line cap.
    Line(Bytes, bool),
    /// A frame of this many bytes was announced and skipped: too large.
    Oversize(usize),
}

#[derive(Debug)]
enum State {
    Idle,
    Body(usize),
    Discard(usize),
    /// In a stray line that was cut: drop until its newline.
    DiscardLine,
}

pub struct ContentLengthDecoder {
    state: State,
    max_frame: usize,
    max_line: usize,
}

impl ContentLengthDecoder {
    pub fn new(max_frame: usize, max_line: usize) -> Self {
        ContentLengthDecoder { state: State::Idle, max_frame, max_line }
    }

    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Vec<Piece>) {
        loop {
            match self.state {
                State::Body(len) => {
                    if buf.len() < len {
                        return;
                    }
                    out.push(Piece::Frame(buf.split_to(len).freeze()));
                    self.state = State::Idle;
                }
                State::Discard(left) => {
                    let n = left.min(buf.len());
                    let _ = buf.split_to(n);
                    if n < left {
                        self.state = State::Discard(left - n);
                        return;
                    }
                    self.state = State::Idle;
                }
                State::DiscardLine => match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        let _ = buf.split_to(i + 1);
                        self.state = State::Idle;
                    }
                    None => {
                        buf.clear();
                        return;
                    }
                },
                State::Idle => {
                    if buf.is_empty() {
                        return;
                    }
                    let prefix = buf.len().min(HEADER_NAME.len());
                    if buf[..prefix].eq_ignore_ascii_case(&HEADER_NAME[..prefix]) {
                        if prefix < HEADER_NAME.len() {
                            return; // could still become a header
                        }
                        match find(buf, b"\r\n\r\n") {
                            Some(end) => {
                                let headers = buf.split_to(end + 4);
                                match content_length(&headers[..end]) {
                                    Some(len) if len > self.max_frame => {
                                        out.push(Piece::Oversize(len));
                                        self.state = State::Discard(len);
                                    }
                                    Some(len) => self.state = State::Body(len),
                                    None => out.push(Piece::Line(headers.freeze().slice(..end), false)),
                                }
                                continue;
                            }
                            None if buf.len() <= MAX_HEADER => return,
                            None => {} // not a real header: fall through as text
                        }
                    }
                    match memchr::memchr(b'\n', buf) {
                        Some(i) => {
                            let mut line = buf.split_to(i + 1);
                            line.truncate(i);
                            if line.last() == Some(&b'\r') {
                                line.truncate(i - 1);
                            }
                            let cut = line.len() > self.max_line;
                            line.truncate(self.max_line);
                            out.push(Piece::Line(line.freeze(), cut));
                        }
                        None if buf.len() > self.max_line => {
                            out.push(Piece::Line(buf.split_to(self.max_line).freeze(), true));
                            self.state = State::DiscardLine;
                        }
                        None => return,
                    }
                }
            }
        }
    }
}

/// Either framing, as one decoder for readers of stdout or sockets.
pub enum Decoder {
    Lines(crate::text::splitter::LineSplitter),
    ContentLength(ContentLengthDecoder),
    /// A WebSocket's frames, seen from the side (the proxy's tunnel).
    WebSocket(super::ws_frames::WsDecoder),
}

impl Decoder {
    /// `max_line` caps lines; newline-framed frames are lines, so they get `max_frame`.
    pub fn new(framing: Option<crate::config::ipc::Framing>, max_line: usize) -> Decoder {
        use crate::config::ipc::Framing;
        match framing {
            None => Decoder::Lines(crate::text::splitter::LineSplitter::new(max_line)),
            Some(Framing::Newline) => {
                Decoder::Lines(crate::text::splitter::LineSplitter::new(MAX_FRAME.max(max_line)))
            }
            Some(Framing::ContentLength) => {
                Decoder::ContentLength(ContentLengthDecoder::new(MAX_FRAME, max_line))
            }
        }
    }

    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Vec<Piece>, at_end: bool) {
        match self {
            Decoder::Lines(splitter) => {
                let mut lines = Vec::new();
                if at_end {
                    splitter.finish(buf, &mut lines);
                } else {
                    splitter.split(buf, &mut lines);
                }
                out.extend(lines.into_iter().map(|(bytes, cut)| Piece::Line(bytes, cut)));
            }
            Decoder::ContentLength(d) => {
                d.decode(buf, out);
                if at_end && !buf.is_empty() {
                    out.push(Piece::Line(buf.split().freeze(), false));
                }
            }
            Decoder::WebSocket(d) => d.decode(buf, out),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn content_length(headers: &[u8]) -> Option<usize> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let line = std::str::from_utf8(line).ok()?.trim();
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], max_frame: usize) -> Vec<Piece> {
        let mut d = ContentLengthDecoder::new(max_frame, 1000);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            d.decode(&mut buf, &mut out);
        }
        out
    }

    #[test]
    fn frames_across_reads_and_back_to_back() {
        let out = run(
            &[b"Content-Len", b"gth: 7\r\n\r\n{\"a\":", b"1}Content-Length: 2\r\nContent-Type: x\r\n\r\n{}"],
            100,
        );
        assert_eq!(
            out,
            [Piece::Frame(Bytes::from_static(b"{\"a\":1}")), Piece::Frame(Bytes::from_static(b"{}"))]
        );
    }

    #[test]
    fn stray_text_between_frames_is_lines() {
        let out = run(&[b"starting up\r\nContent-Length: 2\r\n\r\n{}oops\n"], 100);
        assert_eq!(
            out,
            [
                Piece::Line(Bytes::from_static(b"starting up"), false),
                Piece::Frame(Bytes::from_static(b"{}")),
                Piece::Line(Bytes::from_static(b"oops"), false)
            ]
        );
    }

    #[test]
    fn oversize_frames_are_skipped_without_buffering() {
        let mut d = ContentLengthDecoder::new(10, 1000);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        buf.extend_from_slice(b"Content-Length: 25\r\n\r\n0123456789");
        d.decode(&mut buf, &mut out);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"0123456789abcdeContent-Length: 2\r\n\r\n{}");
        d.decode(&mut buf, &mut out);
        assert_eq!(out, [Piece::Oversize(25), Piece::Frame(Bytes::from_static(b"{}"))]);
    }
}
