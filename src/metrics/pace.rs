//! How often each sidecar's processes are read. Up to [`READ_ALL_UP_TO`] sidecars, every
//! one every interval (its tree walked every [`REWALK_EVERY`]th). Past that, reading a
//! thousand `/proc/PID/stat` files a second is most of an idle agent's CPU, so a sidecar
//! whose processes used no CPU in its last [`QUIET_AFTER`] reads is read every
//! [`QUIET_EVERY`]th interval (its CPU then averaged over them, its figures repeated in
//! between) and walked every `REWALK_EVERY * QUIET_EVERY`th; a busy one stays at every
//! interval. Sidecars are offset by their index, so the reads spread over the intervals
//! instead of coming all at once.

/// Sidecars that are all read every interval.
pub const READ_ALL_UP_TO: usize = 200;
/// Reads without CPU used before a sidecar counts as quiet.
pub const QUIET_AFTER: u32 = 2;
/// A quiet sidecar is read once in this many intervals.
pub const QUIET_EVERY: u64 = 4;
/// A process tree is walked again once in this many reads.
pub const REWALK_EVERY: u64 = 5;

#[derive(Default)]
pub struct Pace {
    /// Per sidecar (by index): reads in a row that saw no CPU used, and its main pid then.
    quiet: Vec<(u32, Option<u32>)>,
    round: u64,
}

/// What to do with one sidecar this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub read: bool,
    pub walk: bool,
}

impl Pace {
    /// This round's plan for each of `mains` (moves on to the next round).
    pub fn plan(&mut self, mains: &[Option<u32>]) -> Vec<Due> {
        self.quiet.resize(mains.len(), (0, None));
        let spread = mains.len() > READ_ALL_UP_TO;
        let round = self.round;
        self.round = self.round.wrapping_add(1);
        mains
            .iter()
            .zip(&mut self.quiet)
            .enumerate()
            .map(|(i, (&main, quiet))| {
                if quiet.1 != main {
                    *quiet = (0, main);
                }
                let every = if spread && quiet.0 >= QUIET_AFTER { QUIET_EVERY } else { 1 };
                let at = round.wrapping_add(i as u64);
                Due { read: at.is_multiple_of(every), walk: at.is_multiple_of(every * REWALK_EVERY) }
            })
            .collect()
    }

    /// What a read of sidecar `i` saw: whether its processes used CPU since the last.
    pub fn saw(&mut self, i: usize, used_cpu: bool) {
        if let Some(quiet) = self.quiet.get_mut(i) {
            quiet.0 = if used_cpu { 0 } else { quiet.0.saturating_add(1) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(
        pace: &mut Pace,
        mains: &[Option<u32>],
        rounds: usize,
        busy: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut count = vec![0; mains.len()];
        for _ in 0..rounds {
            for (i, due) in pace.plan(mains).into_iter().enumerate() {
                if due.read {
                    count[i] += 1;
                    pace.saw(i, busy(i));
                }
            }
        }
        count
    }

    #[test]
    fn a_small_fleet_is_read_every_round_and_walked_every_fifth() {
        let mains: Vec<Option<u32>> = (0..50).map(Some).collect();
        let mut pace = Pace::default();
        assert!(reads(&mut pace, &mains, 40, |_| false).iter().all(|&n| n == 40));
        let walks = (0..40).filter(|_| pace.plan(&mains)[3].walk).count();
        assert_eq!(walks, 8);
    }

    #[test]
    fn a_large_fleet_reads_quiet_sidecars_less_and_busy_ones_every_round() {
        let mains: Vec<Option<u32>> = (0..1000).map(Some).collect();
        let mut pace = Pace::default();
        let count = reads(&mut pace, &mains, 400, |i| i % 10 == 0);
        for (i, &n) in count.iter().enumerate() {
            if i % 10 == 0 {
                assert_eq!(n, 400, "busy sidecar {i} read every round");
            } else {
                assert!((100..=104).contains(&n), "quiet sidecar {i} read {n} times in 400 rounds");
            }
        }
        // The reads are spread: a round reads the busy 100 and one index class of the
        // quiet ones (i mod 4: 200 to 250 of them here), never all 900.
        let most = (0..8).map(|_| pace.plan(&mains).iter().filter(|d| d.read).count()).max().unwrap();
        assert!(most <= 100 + 250, "{most} reads in one round");
    }

    #[test]
    fn a_quiet_sidecar_that_wakes_or_restarts_is_read_every_round_again() {
        let mut mains: Vec<Option<u32>> = (0..300).map(Some).collect();
        let mut pace = Pace::default();
        reads(&mut pace, &mains, 20, |_| false);
        assert!(pace.quiet[7].0 >= QUIET_AFTER);
        pace.saw(7, true);
        assert!((0..4).all(|_| pace.plan(&mains)[7].read));
        mains[8] = Some(9999);
        let due = pace.plan(&mains);
        assert!(due[8].read, "a new process is read at once");
    }
}
