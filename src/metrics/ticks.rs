//! What the sampler reads of each process: CPU ticks and resident pages from
//! `/proc/PID/stat`, kept open per process so a read is one `pread` (no path walk, no
//! open), and a cheaper probe for a sidecar that is one single-threaded process:
//! `/proc/PID/schedstat`'s run time in nanoseconds (the kernel formats three numbers
//! instead of fifty-two; a fifth of the cost). A process whose run time has not moved has
//! not run at all since, so it used no CPU, its memory is as it was, and it forked no
//! child: nothing else of it needs reading, its tree walk included. Reading a thousand
//! sleepers' `stat` was half of an idle agent's sampler.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

#[derive(Default)]
pub struct Ticks {
    /// CPU ticks per process at its previous read, and when that was. Kept in place from
    /// round to round (rebuilding a map of a thousand processes each second cost as much
    /// as the reads), pruned when the trees change.
    pub previous: HashMap<u32, (u64, Instant)>,
    files: HashMap<u32, File>,
    /// Threads of each process at its last read (the tree walk needs them).
    pub threads: HashMap<u32, u32>,
    /// The probe's file and the run time it read last (None: the kernel does not keep
    /// it, so this process is always read in full).
    probes: HashMap<u32, (File, Option<u64>)>,
}

impl Ticks {
    /// utime + stime (clock ticks) and resident pages of `pid`. sysinfo's per-process
    /// refresh also reads `/proc/PID/status` each time: that was most of an idle
    /// dashboard's cost.
    pub fn read_stat(&mut self, pid: u32) -> Option<(u64, u64)> {
        let file = match self.files.entry(pid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(File::open(format!("/proc/{pid}/stat")).ok()?)
            }
        };
        let mut buf = [0u8; 1024];
        let Ok(n) = file.read_at(&mut buf, 0) else {
            self.files.remove(&pid);
            return None;
        };
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        use crate::os::procstat::{NUM_THREADS, RSS, STIME, StatFields, UTIME};
        let stat = StatFields::parse(text)?;
        if let Some(threads) = stat.number(NUM_THREADS) {
            self.threads.insert(pid, threads as u32);
        }
        Some((stat.number(UTIME)? + stat.number(STIME)?, stat.number(RSS)?))
    }

    /// Whether `tree` is one single-threaded process, read in full before, that has not
    /// run since the last probe. Anything else (several processes or threads, a first
    /// probe, a kernel without run times) says no, and the tree is read in full.
    pub fn still(&mut self, tree: &[(u32, u32)]) -> bool {
        let &[(pid, _)] = tree else { return false };
        if self.threads.get(&pid) != Some(&1) || !self.previous.contains_key(&pid) {
            return false;
        }
        let probe = match self.probes.entry(pid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Ok(file) = File::open(format!("/proc/{pid}/schedstat")) else { return false };
                e.insert((file, None))
            }
        };
        let mut buf = [0u8; 128];
        let ran = probe.0.read_at(&mut buf, 0).ok().and_then(|n| run_time(&buf[..n]));
        // A process that ever ran has a run time above zero; zeros mean the kernel keeps
        // none (then a probe would call every process still).
        let ran = ran.filter(|&ns| ns > 0);
        let still = ran.is_some() && ran == probe.1;
        probe.1 = ran;
        still
    }

    /// Forgets the processes no longer sampled (and closes their files).
    pub fn retain(&mut self, pids: &HashSet<u32>) {
        self.previous.retain(|pid, _| pids.contains(pid));
        self.files.retain(|pid, _| pids.contains(pid));
        self.threads.retain(|pid, _| pids.contains(pid));
        self.probes.retain(|pid, _| pids.contains(pid));
    }

    /// A process whose read failed (it exited): nothing of it is kept.
    pub fn forget(&mut self, pid: u32) {
        self.previous.remove(&pid);
        self.files.remove(&pid);
        self.threads.remove(&pid);
        self.probes.remove(&pid);
    }
}

/// The first field of `/proc/PID/schedstat`: nanoseconds spent on a CPU.
fn run_time(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text).ok()?.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_process_is_still_and_a_busy_one_is_not() {
        let mut sleeper = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let mut busy = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut ticks = Ticks::default();
        for child in [&sleeper, &busy] {
            let pid = child.id();
            assert!(!ticks.still(&[(pid, 1)]), "never read in full: not still");
            let (used, _) = ticks.read_stat(pid).unwrap();
            ticks.previous.insert(pid, (used, Instant::now()));
            assert!(!ticks.still(&[(pid, 1)]), "the first probe has nothing to compare with");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(ticks.still(&[(sleeper.id(), 1)]), "sleep has not run");
        assert!(!ticks.still(&[(busy.id(), 1)]), "the loop has run");
        assert!(!ticks.still(&[(sleeper.id(), 1), (busy.id(), 1)]), "a tree of two is read in full");
        assert_eq!(run_time(b"12345 678 9\n"), Some(12345));
        for child in [&mut sleeper, &mut busy] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
