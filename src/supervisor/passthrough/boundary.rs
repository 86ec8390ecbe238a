//! Where the application's stream to the child stands: between two frames, or inside
//! one. sidetop's own requests go in only between two, so they never land inside a frame
//! of the application's (a read may end anywhere: half a line, half a header, half a
//! body). Fed every read the forwarder writes; costs a look at the last byte (newline
//! framing) or at the header (`Content-Length` framing) per read.

use super::frames::content_length;
use crate::config::ipc::Framing;

/// A header longer than this is not one: the stream is read as garbage, and the tracker
/// starts over at the next read.
const MAX_HEADER: usize = 8 << 10;

pub(super) struct Boundary {
    framing: Framing,
    /// Newline framing: the last byte written was not a newline.
    in_line: bool,
    /// `Content-Length` framing: a header begun in an earlier read.
    header: Vec<u8>,
    /// `Content-Length` framing: body bytes still to come.
    body_left: usize,
}

impl Boundary {
    pub fn new(framing: Framing) -> Boundary {
        Boundary { framing, in_line: false, header: Vec::new(), body_left: 0 }
    }

    /// Between two frames: a whole frame may be written now.
    pub fn at(&self) -> bool {
        match self.framing {
            Framing::Newline => !self.in_line,
            Framing::ContentLength => self.header.is_empty() && self.body_left == 0,
        }
    }

    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.framing == Framing::Newline {
            if let Some(&last) = bytes.last() {
                self.in_line = last != b'\n';
            }
            return;
        }
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.header.is_empty() {
                // The usual case: the whole header in this read, nothing copied.
                match memchr::memmem::find(bytes, b"\r\n\r\n") {
                    Some(end) => {
                        self.body_left = content_length(&bytes[..end]).unwrap_or(0);
                        bytes = &bytes[end + 4..];
                    }
                    None => {
                        self.keep_header(bytes);
                        return;
                    }
                }
                continue;
            }
            // A header cut between reads: look for its end across the cut.
            let before = self.header.len();
            let take = bytes.len().min(MAX_HEADER);
            self.header.extend_from_slice(&bytes[..take]);
            let from = before.saturating_sub(3);
            match memchr::memmem::find(&self.header[from..], b"\r\n\r\n") {
                Some(i) => {
                    let end = from + i;
                    self.body_left = content_length(&self.header[..end]).unwrap_or(0);
                    bytes = &bytes[end + 4 - before..];
                    self.header.clear();
                }
                None => {
                    if self.header.len() > MAX_HEADER {
                        self.header.clear();
                    }
                    bytes = &bytes[take..];
                }
            }
        }
    }

    fn keep_header(&mut self, bytes: &[u8]) {
        // Blank lines between frames are no header begun.
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        if bytes.len() <= MAX_HEADER {
            self.header.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_whole_once_their_newline_is_written() {
        let mut b = Boundary::new(Framing::Newline);
        assert!(b.at());
        b.feed(b"{\"id\":1}\n{\"id\"");
        assert!(!b.at());
        b.feed(b":2}\n");
        assert!(b.at());
        b.feed(b"");
        assert!(b.at(), "an empty read changes nothing");
    }

    #[test]
    fn content_length_frames_are_followed_across_any_cut() {
        let frame = b"Content-Length: 12\r\nContent-Type: x\r\n\r\n{\"id\":\"abc\"}";
        let two: Vec<u8> = [&frame[..], &frame[..]].concat();
        // Every way of cutting two frames into three reads ends at a boundary, and is
        // at one in between exactly when the cut falls between the frames.
        for i in 0..=two.len() {
            for j in i..=two.len() {
                let mut b = Boundary::new(Framing::ContentLength);
                b.feed(&two[..i]);
                assert_eq!(b.at(), i == 0 || i == frame.len() || i == two.len(), "cut at {i}");
                b.feed(&two[i..j]);
                assert_eq!(b.at(), j == 0 || j == frame.len() || j == two.len(), "cuts at {i}, {j}");
                b.feed(&two[j..]);
                assert!(b.at(), "cuts at {i}, {j}");
            }
        }
    }

    #[test]
    fn garbage_does_not_hold_the_tracker_forever() {
        let mut b = Boundary::new(Framing::ContentLength);
        b.feed(&vec![b'x'; MAX_HEADER + 10]);
        b.feed(b"\r\n\r\n");
        b.feed(b"Content-Length: 2\r\n\r\n{}");
        assert!(b.at());
    }
}
