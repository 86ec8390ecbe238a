//! Turns a byte stream into lines: split on `\n`, strip a trailing `\r`, join lines that
//! span reads, and cut lines longer than a cap (marking them) without ever holding more
//! than the cap in memory. Pure and allocation-light: lines are zero-copy slices of the
//! read buffer.

use bytes::{Bytes, BytesMut};

#[derive(Debug)]
pub struct LineSplitter {
    max_line: usize,
    /// Inside a line that was already cut: drop bytes until its newline.
    discarding: bool,
    /// Bytes of `buf` already searched for `\n` (so a long partial line is not rescanned).
    scanned: usize,
}

/// One line out of the splitter: its bytes and whether it was cut at the cap.
pub type SplitLine = (Bytes, bool);

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        LineSplitter { max_line: max_line.max(1), discarding: false, scanned: 0 }
    }

    /// Takes every complete line out of `buf` (which the caller appends reads to) and
    /// pushes it to `out`. What remains in `buf` is an incomplete line shorter than the cap.
    pub fn split(&mut self, buf: &mut BytesMut, out: &mut Vec<SplitLine>) {
        loop {
            match memchr::memchr(b'\n', &buf[self.scanned..]) {
                Some(pos) => {
                    let end = self.scanned + pos;
                    let mut line = buf.split_to(end + 1);
                    self.scanned = 0;
                    line.truncate(end);
                    if line.last() == Some(&b'\r') {
                        line.truncate(end - 1);
                    }
                    if std::mem::take(&mut self.discarding) {
                        continue;
                    }
                    if line.len() > self.max_line {
                        line.truncate(self.max_line);
                        out.push((line.freeze(), true));
                    } else {
                        out.push((line.freeze(), false));
                    }
                }
                None => {
                    if self.discarding {
                        buf.clear();
                        self.scanned = 0;
                    } else if buf.len() > self.max_line {
                        let line = buf.split_to(self.max_line);
                        out.push((line.freeze(), true));
                        self.discarding = true;
                        buf.clear();
                        self.scanned = 0;
                    } else {
                        self.scanned = buf.len();
                    }
                    return;
                }
            }
        }
    }

    /// At end of stream: what is left is a last line without a newline.
    pub fn finish(&mut self, buf: &mut BytesMut, out: &mut Vec<SplitLine>) {
        self.split(buf, out);
        if !buf.is_empty() && !self.discarding {
            let mut line = buf.split();
            if line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
            out.push((line.freeze(), false));
        }
        buf.clear();
        self.discarding = false;
        self.scanned = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], max: usize) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            s.split(&mut buf, &mut out);
        }
        s.finish(&mut buf, &mut out);
        out.into_iter().map(|(b, cut)| (String::from_utf8_lossy(&b).into_owned(), cut)).collect()
    }

    #[test]
    fn joins_lines_across_reads_and_strips_crlf() {
        let got = run(&[b"hel", b"lo\r\nwor", b"ld\n", b"\n", b"tail"], 100);
        assert_eq!(
            got,
            [("hello".into(), false), ("world".into(), false), ("".into(), false), ("tail".into(), false)]
        );
    }

    #[test]
    fn cuts_long_lines_and_drops_their_rest() {
        let long = vec![b'x'; 25];
        let got = run(&[&long, &long, b"\nnext\n"], 10);
        assert_eq!(got, [("x".repeat(10), true), ("next".into(), false)]);
    }

    #[test]
    fn cut_line_inside_one_read() {
        let got = run(&[b"0123456789abcdef\nok\n"], 10);
        assert_eq!(got, [("0123456789".into(), true), ("ok".into(), false)]);
    }

    #[test]
    fn holds_at_most_the_cap_for_a_line_without_newline() {
        let mut s = LineSplitter::new(1000);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'y'; 4096]);
            s.split(&mut buf, &mut out);
            assert!(buf.len() <= 4096 + 1000);
        }
        assert_eq!(out.len(), 1);
        assert!(out[0].1);
    }
}
