//! Captured output: one line as it arrived, and the bounded per-sidecar ring that keeps
//! the most recent ones for display. Lines keep their raw bytes; sanitizing happens only
//! for what is shown.

use bytes::Bytes;
use std::collections::VecDeque;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: SystemTime,
    pub stream: Stream,
    /// The line was longer than `max_line` and what follows up to its newline was dropped.
    pub cut: bool,
    /// Without the `\n` (and a `\r` before it). Possibly invalid UTF-8 and escape sequences.
    pub bytes: Bytes,
}

impl LogLine {
    pub fn text_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// Stderr lines an error explanation quotes at most.
pub const STDERR_QUOTED: usize = 5;

/// `; its last stderr: A | B`, or nothing when there is none.
pub fn quote_stderr(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!("; its last stderr: {}", lines.join(" | ")) }
}

/// Per-line bookkeeping cost, so a flood of empty lines is bounded by bytes too.
const LINE_OVERHEAD: u64 = 32;

/// Recent lines, bounded by count and by bytes; the oldest go first. Counters say how
/// much went through and how much was dropped to stay within the bounds.
#[derive(Debug)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    bytes: u64,
    max_lines: usize,
    max_bytes: u64,
    /// Lines and bytes ever pushed.
    pub total_lines: u64,
    pub total_bytes: u64,
    /// Lines that left the ring to respect its bounds.
    pub dropped_lines: u64,
    /// Lines cut at `max_line`.
    pub cut_lines: u64,
    /// Lines and bytes ever pushed, by stream (stdout, stderr).
    pub stream_lines: [u64; 2],
    pub stream_bytes: [u64; 2],
}

impl LogBuffer {
    pub fn new(max_lines: usize, max_bytes: u64) -> Self {
        LogBuffer {
            lines: VecDeque::with_capacity(max_lines.min(1024)),
            bytes: 0,
            max_lines: max_lines.max(1),
            max_bytes,
            total_lines: 0,
            total_bytes: 0,
            dropped_lines: 0,
            cut_lines: 0,
            stream_lines: [0; 2],
            stream_bytes: [0; 2],
        }
    }

    pub fn push(&mut self, line: LogLine) {
        self.count(&line);
        self.bytes += line.bytes.len() as u64 + LINE_OVERHEAD;
        self.lines.push_back(line);
        self.trim();
    }

    fn count(&mut self, line: &LogLine) {
        self.total_lines += 1;
        self.total_bytes += line.bytes.len() as u64;
        self.cut_lines += u64::from(line.cut);
        let stream = usize::from(line.stream == Stream::Stderr);
        self.stream_lines[stream] += 1;
        self.stream_bytes[stream] += line.bytes.len() as u64;
    }

    /// New bounds (a reload); lines past them leave now, counted as dropped.
    pub fn set_limits(&mut self, max_lines: usize, max_bytes: u64) {
        self.max_lines = max_lines.max(1);
        self.max_bytes = max_bytes;
        self.trim();
    }

    fn trim(&mut self) {
        while self.lines.len() > self.max_lines || (self.bytes > self.max_bytes && self.lines.len() > 1) {
            let old = self.lines.pop_front().expect("non-empty");
            self.bytes -= old.bytes.len() as u64 + LINE_OVERHEAD;
            self.dropped_lines += 1;
        }
    }

    /// Appends a batch. Lines of a batch longer than the ring would leave again at once:
    /// they are only counted, so a flood costs no clone (and no refcount traffic on the
    /// shared read buffer) for lines nobody will see.
    pub fn extend(&mut self, lines: &[LogLine]) {
        let kept_from = lines.len().saturating_sub(self.max_lines);
        for line in &lines[..kept_from] {
            self.count(line);
            self.dropped_lines += 1;
        }
        for line in &lines[kept_from..] {
            self.push(line.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes held, counting the per-line overhead.
    pub fn held_bytes(&self) -> u64 {
        self.bytes
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> + ExactSizeIterator {
        self.lines.iter()
    }

    pub fn get(&self, index: usize) -> Option<&LogLine> {
        self.lines.get(index)
    }

    /// Sequence number (count since start) of the oldest line held.
    pub fn first_seq(&self) -> u64 {
        self.total_lines - self.lines.len() as u64
    }

    /// The last `n` stderr lines as plain text, oldest first: what an error quotes when
    /// it explains why a sidecar could not answer.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        let mut tail: Vec<String> = self
            .lines
            .iter()
            .rev()
            .filter(|l| l.stream == Stream::Stderr)
            .take(n)
            .map(|l| crate::text::sanitize::plain(&l.bytes))
            .collect();
        tail.reverse();
        tail
    }

    pub fn clear(&mut self) {
        self.dropped_lines += self.lines.len() as u64;
        self.lines.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> LogLine {
        LogLine {
            at: SystemTime::now(),
            stream: Stream::Stdout,
            cut: false,
            bytes: Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    #[test]
    fn bounded_by_lines() {
        let mut b = LogBuffer::new(3, 1 << 20);
        for i in 0..10 {
            b.push(line(&i.to_string()));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.iter().map(|l| l.text_lossy().into_owned()).collect::<Vec<_>>(), ["7", "8", "9"]);
        assert_eq!((b.total_lines, b.dropped_lines, b.first_seq()), (10, 7, 7));
    }

    #[test]
    fn a_batch_longer_than_the_ring_keeps_its_tail_and_counts_the_rest() {
        let mut b = LogBuffer::new(3, 1 << 20);
        b.push(line("old"));
        let batch: Vec<LogLine> = (0..10).map(|i| line(&i.to_string())).collect();
        b.extend(&batch);
        assert_eq!(b.iter().map(|l| l.text_lossy().into_owned()).collect::<Vec<_>>(), ["7", "8", "9"]);
        assert_eq!((b.total_lines, b.dropped_lines, b.first_seq(), b.total_bytes), (11, 8, 8, 13));
    }

    #[test]
    fn bounded_by_bytes_but_keeps_the_newest_line() {
        let mut b = LogBuffer::new(100, 200);
        for _ in 0..10 {
            b.push(line(&"x".repeat(50)));
        }
        assert!(b.held_bytes() <= 200);
        assert_eq!(b.len(), 2);
        b.push(line(&"y".repeat(1000)));
        assert_eq!(b.len(), 1, "a single huge line stays visible");
    }
}
