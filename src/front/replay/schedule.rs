//! When each recorded request may go out again so that no more are in flight than were
//! at that moment of the recording: request `i` waits until every request that had
//! finished before `i` started (in the recording) has finished in the replay. A run
//! recorded at `-c 1` replays one at a time; one recorded at `-c 8` keeps 8 in flight.
//! Pure: the replay's task applies it.

use crate::api::record::file::Record;

/// For requests in start order: `waits_for[i]` is how many requests, taken in the
/// recording's finish order, must be done before `i` goes out; `finish_rank[i]` is
/// `i`'s place in that order.
#[derive(Debug, PartialEq)]
pub struct Schedule {
    pub waits_for: Vec<usize>,
    pub finish_rank: Vec<usize>,
}

pub fn schedule(records: &[&Record]) -> Schedule {
    // At least 1 µs long (one that failed without a latency too): a request that ended
    // by `i`'s start then started strictly before `i`, so it is always sent before `i`.
    let end = |r: &Record| r.at_us + r.latency_us.unwrap_or(0).max(1);
    let mut by_end: Vec<usize> = (0..records.len()).collect();
    by_end.sort_by_key(|&i| (end(records[i]), i));
    let mut finish_rank = vec![0; records.len()];
    for (rank, &i) in by_end.iter().enumerate() {
        finish_rank[i] = rank;
    }
    let ends: Vec<u64> = by_end.iter().map(|&i| end(records[i])).collect();
    let waits_for = records.iter().map(|r| ends.partition_point(|&e| e <= r.at_us)).collect();
    Schedule { waits_for, finish_rank }
}

/// Tracks which requests are done, by finish rank: `frontier` is how many of the first
/// ones in the recording's finish order are all done.
pub struct Frontier {
    done: Vec<bool>,
    pub frontier: usize,
}

impl Frontier {
    pub fn new(len: usize) -> Frontier {
        Frontier { done: vec![false; len], frontier: 0 }
    }

    /// Marks `rank` done; returns the new frontier.
    pub fn finish(&mut self, rank: usize) -> usize {
        self.done[rank] = true;
        while self.frontier < self.done.len() && self.done[self.frontier] {
            self.frontier += 1;
        }
        self.frontier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::Origin;

    fn record(at_us: u64, latency_us: u64) -> Record {
        Record {
            at_us,
            sidecar: "s".into(),
            origin: Origin::Load,
            method: "m".into(),
            spec: None,
            request: None,
            response: None,
            latency_us: Some(latency_us),
            outcome: "ok".into(),
            error: None,
            status: None,
        }
    }

    #[test]
    fn requests_at_the_same_moment_never_wait_for_each_other() {
        let records = [record(5, 0), record(5, 0), record(5, 3)];
        let refs: Vec<&Record> = records.iter().collect();
        assert_eq!(schedule(&refs).waits_for, [0, 0, 0]);
    }

    #[test]
    fn one_at_a_time_stays_one_at_a_time() {
        let records = [record(0, 10), record(12, 10), record(25, 10)];
        let refs: Vec<&Record> = records.iter().collect();
        let s = schedule(&refs);
        assert_eq!(s.waits_for, [0, 1, 2]);
        assert_eq!(s.finish_rank, [0, 1, 2]);
    }

    #[test]
    fn overlapping_requests_overlap_again() {
        // Two at once, then a third after the first ended, a fourth after all.
        let records = [record(0, 100), record(1, 30), record(40, 10), record(200, 5)];
        let refs: Vec<&Record> = records.iter().collect();
        let s = schedule(&refs);
        // Ends: 100, 31, 50, 205 -> finish order 1, 2, 0, 3.
        assert_eq!(s.finish_rank, [2, 0, 1, 3]);
        assert_eq!(s.waits_for, [0, 0, 1, 3]);
        let mut f = Frontier::new(4);
        assert_eq!(f.finish(1), 0, "rank 0 not done yet");
        assert_eq!(f.finish(0), 2);
        assert_eq!(f.finish(2), 3);
    }
}
