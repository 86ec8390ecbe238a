//! Every captured line, in order, to one front end that prints them (the headless
//! printer), without ever making a sidecar wait for it. The feed holds up to a byte
//! budget of lines not yet taken; past it, batches are skipped and counted, and the
//! receiver says how many before the next batch it gets. The scrollback and a log file
//! keep every line regardless: only the printer falls behind, alone.

use super::output::LineBatch;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// Bytes of lines a feed holds for a receiver that does not keep up: enough to ride out a
/// printer's pause (a terminal scrolling, a slow write), small beside the scrollbacks.
pub const DEFAULT_BUDGET: usize = 1 << 20;
/// What one line costs the budget beyond its bytes (its `LogLine`).
const LINE_OVERHEAD: usize = 48;

struct Shared {
    queued_bytes: AtomicUsize,
    skipped_lines: AtomicU64,
    budget: usize,
}

/// The sending side, cloned into every sidecar's output pumps.
#[derive(Clone)]
pub struct LineFeed {
    tx: mpsc::UnboundedSender<(LineBatch, usize)>,
    shared: Arc<Shared>,
}

pub struct LineFeedReceiver {
    rx: mpsc::UnboundedReceiver<(LineBatch, usize)>,
    shared: Arc<Shared>,
}

/// What a receiver gets: lines, or how many were skipped before the lines that follow.
#[derive(Debug)]
pub enum Fed {
    Lines(LineBatch),
    Skipped(u64),
}

pub fn line_feed(budget: usize) -> (LineFeed, LineFeedReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared =
        Arc::new(Shared { queued_bytes: AtomicUsize::new(0), skipped_lines: AtomicU64::new(0), budget });
    (LineFeed { tx, shared: shared.clone() }, LineFeedReceiver { rx, shared })
}

fn cost(batch: &LineBatch) -> usize {
    batch.lines.iter().map(|l| l.bytes.len() + LINE_OVERHEAD).sum()
}

impl LineFeed {
    /// Never waits: a batch that does not fit the budget is counted instead.
    pub fn offer(&self, batch: LineBatch) {
        let cost = cost(&batch);
        let lines = batch.lines.len() as u64;
        let before = self.shared.queued_bytes.fetch_add(cost, Ordering::AcqRel);
        if before + cost > self.shared.budget && before > 0 {
            self.shared.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
            self.shared.skipped_lines.fetch_add(lines, Ordering::AcqRel);
            return;
        }
        if self.tx.send((batch, cost)).is_err() {
            self.shared.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
        }
    }
}

impl LineFeedReceiver {
    /// The next batch, preceded by a `Skipped` when batches were dropped since the last
    /// one. `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Fed> {
        if let Some(skipped) = self.take_skipped() {
            return Some(Fed::Skipped(skipped));
        }
        let (batch, cost) = self.rx.recv().await?;
        self.shared.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
        Some(Fed::Lines(batch))
    }

    fn take_skipped(&self) -> Option<u64> {
        match self.shared.skipped_lines.swap(0, Ordering::AcqRel) {
            0 => None,
            n => Some(n),
        }
    }

    /// Lines skipped and not yet reported (read at the end, when the queue is empty).
    pub fn skipped_now(&self) -> Option<u64> {
        self.take_skipped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::scrollback::{LogLine, Stream};
    use std::time::SystemTime;

    fn batch(lines: usize, len: usize) -> LineBatch {
        let line = LogLine {
            at: SystemTime::now(),
            stream: Stream::Stdout,
            cut: false,
            bytes: vec![b'x'; len].into(),
        };
        LineBatch { sidecar: Arc::from("s"), lines: Arc::new(vec![line; lines]) }
    }

    #[tokio::test]
    async fn a_receiver_that_falls_behind_is_told_how_many_lines_it_missed() {
        let (feed, mut rx) = line_feed(10_000);
        for _ in 0..100 {
            feed.offer(batch(10, 52)); // 1,000 bytes each: 10 fit
        }
        let mut lines = 0;
        for _ in 0..10 {
            match rx.recv().await.unwrap() {
                Fed::Skipped(n) => assert_eq!(n, 900),
                Fed::Lines(b) => lines += b.lines.len(),
            }
        }
        // The skip is reported first, then the batches that fit.
        assert_eq!(lines, 90);
        match rx.recv().await.unwrap() {
            Fed::Lines(b) => assert_eq!(b.lines.len(), 10),
            other => panic!("{other:?}"),
        }
        // Taken batches free the budget again.
        feed.offer(batch(10, 52));
        assert!(matches!(rx.recv().await.unwrap(), Fed::Lines(_)));
    }

    #[tokio::test]
    async fn one_batch_larger_than_the_budget_still_goes_through_an_empty_queue() {
        let (feed, mut rx) = line_feed(100);
        feed.offer(batch(3, 1000));
        assert!(matches!(rx.recv().await.unwrap(), Fed::Lines(_)));
    }
}
