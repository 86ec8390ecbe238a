//! CPU and memory of each sidecar, its descendants counted in, sampled off the UI task on
//! a fixed interval, reading only our processes (found through `/proc/PID/task/*/children`,
//! measured from `/proc/PID/stat`), never the whole process table; the host's totals for
//! the header come from sysinfo. Keeps a few minutes of
//! history per sidecar, and the host's totals for the header.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use sysinfo::System;
use tokio::sync::watch;

use super::pace::{Due, Pace};
use super::ticks::Ticks;

/// Samples kept per sidecar (5 minutes at the default 1 s interval).
pub const HISTORY: usize = 300;

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Percent of one core, all its processes together (can exceed 100).
    pub cpu: f32,
    pub rss: u64,
    pub threads: u32,
    pub processes: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ResourceHistory {
    pub samples: VecDeque<Sample>,
    /// The main process's soft limits that are set (not unlimited).
    pub limits: Vec<(String, String)>,
    /// Whose limits those are: read again only for a new process.
    pub limits_pid: Option<u32>,
    /// CPU time used since sidetop started, all its processes together (the ticks each
    /// read found used since the one before, so it never goes down as processes exit).
    pub cpu_seconds: f64,
}

impl ResourceHistory {
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Whose histories these are, in order (the set may change with a reload).
    pub names: Vec<Arc<str>>,
    pub sidecars: Vec<ResourceHistory>,
    pub host_cpu: f32,
    pub host_mem_used: u64,
    pub host_mem_total: u64,
    pub interval: Duration,
    /// Samples taken so far: tells a follower whether there is a new one.
    pub taken: u64,
}

/// Stops the sampling thread when dropped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    pub data: Arc<Mutex<Resources>>,
    /// Moves on after every sample (the count taken).
    pub taken: watch::Receiver<u64>,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Sampler {
    /// `pids` gives each sidecar's name and main process (None when it has none); the
    /// sampler knows nothing else of the engine. A sidecar keeps its history by name.
    pub fn start(
        pids: impl Fn() -> Vec<(Arc<str>, Option<u32>)> + Send + 'static,
        interval: Duration,
    ) -> Sampler {
        let (taken_tx, taken) = watch::channel(0u64);
        let data = Arc::new(Mutex::new(Resources { interval, ..Resources::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_data, thread_stop) = (data.clone(), stop.clone());
        let spawned = std::thread::Builder::new().name("sampler".into()).spawn(move || {
            let Ok(mut system) = System::new() else { return };
            let mut trees = Trees::default();
            let mut ticks = Ticks::default();
            let mut pace = Pace::default();
            while !thread_stop.load(Ordering::Relaxed) {
                let now = pids();
                align(&mut thread_data.lock().unwrap_or_else(|e| e.into_inner()), &now);
                let mains: Vec<Option<u32>> = now.iter().map(|(_, pid)| *pid).collect();
                let count = sample(&mut system, &mains, (&mut trees, &mut ticks, &mut pace), &thread_data);
                taken_tx.send_replace(count);
                std::thread::sleep(interval);
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the resource sampler: {e}");
        }
        Sampler { stop, data, taken }
    }
}

/// Histories in the order of `now`, each kept by name (new ones start empty).
fn align(r: &mut Resources, now: &[(Arc<str>, Option<u32>)]) {
    keep_by_name(&mut r.names, &mut r.sidecars, now.iter().map(|(name, _)| name));
}

/// Reorders `items` (one per name in `names`) to follow `now`, each item kept with its
/// name and a new name given a default one; nothing is done when the order is the same
/// (the usual case: only a reload changes the set).
pub fn keep_by_name<'a, T: Default>(
    names: &mut Vec<Arc<str>>,
    items: &mut Vec<T>,
    now: impl Iterator<Item = &'a Arc<str>> + Clone,
) {
    if names.len() == now.clone().count() && names.iter().zip(now.clone()).all(|(a, b)| a == b) {
        return;
    }
    let mut old: HashMap<Arc<str>, T> = names.drain(..).zip(items.drain(..)).collect();
    for name in now {
        names.push(name.clone());
        items.push(old.remove(name).unwrap_or_default());
    }
}

/// Each sidecar's process tree, walked again only when its pace says (or for a new main
/// process): process trees change rarely, and the walk is most of a read's cost. `update`
/// says whether any tree came out different (only then are processes forgotten).
#[derive(Default)]
struct Trees {
    trees: Vec<Vec<(u32, u32)>>,
}

impl Trees {
    fn update(&mut self, mains: &[Option<u32>], due: &[Due], threads: &HashMap<u32, u32>) -> bool {
        let mut changed = self.trees.len() != mains.len();
        self.trees.resize(mains.len(), Vec::new());
        let known = |pid: u32| threads.get(&pid).copied();
        for ((tree, &main), due) in self.trees.iter_mut().zip(mains).zip(due) {
            if due.walk || tree.first().map(|t| t.0) != main {
                let walked = main
                    .map(|m| crate::os::proctree::descendants_and_self_knowing(m, known))
                    .unwrap_or_default();
                let same =
                    walked.len() == tree.len() && walked.iter().zip(tree.iter()).all(|(a, b)| a.0 == b.0);
                changed |= !same;
                *tree = walked;
            }
        }
        changed
    }

    /// Every process of every sidecar.
    fn pids(&self) -> std::collections::HashSet<u32> {
        self.trees.iter().flatten().map(|&(pid, _)| pid).collect()
    }
}

/// What a round found of one sidecar.
enum Read {
    /// Its processes read: the sample, CPU seconds used since the last read, and the main
    /// process's limits when they were read (a new process).
    Fresh(Sample, f64, Option<(u32, Vec<(String, String)>)>),
    /// Its pace skipped it this round.
    Skipped,
    /// The probe found it has not run since its last read.
    Still,
}

/// One sample of every sidecar (those its pace skips this round repeat their last). Every
/// `/proc` read happens before the shared data is locked, so a reader of it (the
/// engine's status, a snapshot) never waits on the kernel; the lock is held only to
/// append.
fn sample(
    system: &mut System,
    mains: &[Option<u32>],
    (trees, ticks, pace): (&mut Trees, &mut Ticks, &mut Pace),
    data: &Mutex<Resources>,
) -> u64 {
    let mut due = pace.plan(mains);
    // A sidecar that has not run since it was last read has nothing new to read.
    let still: Vec<bool> = (trees.trees.iter().zip(mains))
        .zip(&mut due)
        .map(|((tree, &main), due)| {
            let still = due.read && tree.first().map(|t| t.0) == main && ticks.still(tree);
            due.walk &= !still;
            still
        })
        .collect();
    if trees.update(mains, &due, &ticks.threads) {
        ticks.retain(&trees.pids());
    }
    let trees = &trees.trees;
    let now = Instant::now();
    system.refresh_cpu_usage();
    system.refresh_memory();
    let limits_pids: Vec<Option<u32>> = {
        let out = data.lock().unwrap_or_else(|e| e.into_inner());
        out.sidecars.iter().map(|h| h.limits_pid).collect()
    };
    let mut taken = Vec::with_capacity(trees.len());
    for (i, (tree, due)) in trees.iter().zip(&due).enumerate() {
        if !due.read {
            taken.push(Read::Skipped);
            continue;
        }
        if still.get(i) == Some(&true) {
            pace.saw(i, false);
            taken.push(Read::Still);
            continue;
        }
        let (mut s, mut used_ticks) = (Sample::default(), 0);
        for &(pid, threads) in tree {
            let Some((used, pages)) = ticks.read_stat(pid) else {
                ticks.forget(pid);
                continue;
            };
            if let Some((before, at)) = ticks.previous.insert(pid, (used, now)) {
                let (ticks, span) = (used.saturating_sub(before), now.duration_since(at).as_secs_f32());
                used_ticks += ticks;
                if span > 0.0 {
                    s.cpu += ticks as f32 / *CLOCK_TICKS as f32 / span * 100.0;
                }
            }
            s.rss += pages * *PAGE_SIZE;
            // As read now (the walk's count may be seconds old).
            s.threads += ticks.threads.get(&pid).copied().unwrap_or(threads);
            s.processes += 1;
        }
        pace.saw(i, used_ticks > 0);
        let limits = tree
            .first()
            .map(|&(main, _)| main)
            .filter(|main| limits_pids.get(i).copied().flatten() != Some(*main))
            .map(|main| (main, read_limits(main)));
        taken.push(Read::Fresh(s, used_ticks as f64 / *CLOCK_TICKS as f64, limits));
    }
    let mut out = data.lock().unwrap_or_else(|e| e.into_inner());
    out.host_cpu = system.global_cpu_usage();
    out.host_mem_used = system.used_memory();
    out.host_mem_total = system.total_memory();
    for (history, read) in out.sidecars.iter_mut().zip(taken) {
        let (s, used_seconds, limits) = match read {
            Read::Fresh(s, used_seconds, limits) => (s, used_seconds, limits),
            // Not read this round: the last figures stand for it (its CPU is counted when
            // it is read next, over the whole time since).
            Read::Skipped => (history.samples.back().copied().unwrap_or_default(), 0.0, None),
            // It did not run: no CPU, the rest as it was.
            Read::Still => {
                let last = history.samples.back().copied().unwrap_or_default();
                (Sample { cpu: 0.0, ..last }, 0.0, None)
            }
        };
        history.cpu_seconds += used_seconds;
        if history.samples.len() == HISTORY {
            history.samples.pop_front();
        }
        history.samples.push_back(s);
        if let Some((main, limits)) = limits {
            history.limits = limits;
            history.limits_pid = Some(main);
        }
    }
    out.taken += 1;
    out.taken
}

// SAFETY (both): sysconf with valid names.
static CLOCK_TICKS: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64);
static PAGE_SIZE: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64);

/// Soft limits from `/proc/PID/limits` that are set to something other than unlimited.
fn read_limits(pid: u32) -> Vec<(String, String)> {
    const SHOWN: [(&str, &str); 4] = [
        ("Max open files", "open files"),
        ("Max processes", "processes"),
        ("Max address space", "address space"),
        ("Max resident set", "resident set"),
    ];
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/limits")) else { return Vec::new() };
    let mut out = Vec::new();
    for line in text.lines() {
        for (name, label) in SHOWN {
            if let Some(rest) = line.strip_prefix(name) {
                let mut cols = rest.split_whitespace();
                if let Some(soft) = cols.next().filter(|s| *s != "unlimited") {
                    out.push((label.to_string(), soft.to_string()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_children_of_this_process() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let tree = crate::os::proctree::descendants_and_self(std::process::id());
        assert!(tree.iter().any(|&(p, threads)| p == child.id() && threads == 1), "{tree:?}");
        assert!(tree[0].1 >= 1, "this process has threads: {tree:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(read_limits(std::process::id()).iter().any(|(k, _)| k == "open files"));
    }

    /// Real processes, sampled (the reads unlocked, the results appended under the
    /// lock): a busy one shows CPU and memory, a sleeping one little CPU, and limits are
    /// read for the main process.
    #[test]
    fn samples_busy_and_idle_processes() {
        let mut busy = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        let mut idle = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pids: Vec<(Arc<str>, Option<u32>)> =
            vec![("busy".into(), Some(busy.id())), ("idle".into(), Some(idle.id()))];
        let sampler = Sampler::start(move || pids.clone(), Duration::from_millis(100));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let data = sampler.data.lock().unwrap();
                if data.taken >= 6 {
                    let last = |i: usize| *data.sidecars[i].samples.back().unwrap();
                    assert!(last(0).cpu > 20.0, "busy: {:?}", last(0));
                    assert!(last(1).cpu < 20.0, "idle: {:?}", last(1));
                    assert!(last(0).rss > 0 && last(1).rss > 0 && last(1).processes == 1);
                    assert_eq!(data.sidecars[1].limits_pid, Some(idle.id()));
                    assert!(data.sidecars[1].limits.iter().any(|(k, _)| k == "open files"));
                    break;
                }
            }
            assert!(Instant::now() < deadline, "six samples in 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        for child in [&mut busy, &mut idle] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
