//! CPU and memory of each sidecar, its descendants counted in, sampled off the UI task on
//! a fixed interval from sysinfo, refreshing only our processes (found through
//! `/proc/PID/task/*/children`), never the whole process table. Keeps a few minutes of
//! history per sidecar, and the host's totals for the header.

use crate::supervisor::SidecarHandle;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::Notify;

/// Samples kept per sidecar (5 minutes at the default 1 s interval).
pub const HISTORY: usize = 300;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
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
}

impl ResourceHistory {
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub sidecars: Vec<ResourceHistory>,
    pub host_cpu: f32,
    pub host_mem_used: u64,
    pub host_mem_total: u64,
    pub interval: Duration,
}

/// Stops the sampling thread when dropped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    pub data: Arc<Mutex<Resources>>,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Sampler {
    pub fn start(sidecars: Vec<Arc<SidecarHandle>>, interval: Duration, changed: Arc<Notify>) -> Sampler {
        let data = Arc::new(Mutex::new(Resources {
            sidecars: vec![ResourceHistory::default(); sidecars.len()],
            interval,
            ..Resources::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_data, thread_stop) = (data.clone(), stop.clone());
        let spawned = std::thread::Builder::new().name("sampler".into()).spawn(move || {
            let Ok(mut system) = System::new() else { return };
            let mut trees = Trees::default();
            while !thread_stop.load(Ordering::Relaxed) {
                sample(&mut system, &sidecars, &mut trees, &thread_data);
                changed.notify_one();
                std::thread::sleep(interval);
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the resource sampler: {e}");
        }
        Sampler { stop, data }
    }
}

/// Each sidecar's process tree, walked again only every few samples (or for a new main
/// process): process trees change rarely, and the walk is most of a sample's cost.
#[derive(Default)]
struct Trees {
    trees: Vec<Vec<(u32, u32)>>,
    samples: u32,
}

const REWALK_EVERY: u32 = 5;

impl Trees {
    fn update(&mut self, sidecars: &[Arc<SidecarHandle>]) -> &[Vec<(u32, u32)>] {
        self.trees.resize(sidecars.len(), Vec::new());
        let rewalk = self.samples.is_multiple_of(REWALK_EVERY);
        self.samples = self.samples.wrapping_add(1);
        for (tree, s) in self.trees.iter_mut().zip(sidecars) {
            let main = s.status().pid;
            if rewalk || tree.first().map(|t| t.0) != main {
                *tree = main.map(descendants_and_self).unwrap_or_default();
            }
        }
        &self.trees
    }
}

fn sample(system: &mut System, sidecars: &[Arc<SidecarHandle>], trees: &mut Trees, data: &Mutex<Resources>) {
    let trees = trees.update(sidecars);
    let pids: Vec<Pid> = trees.iter().flatten().map(|&(p, _)| Pid::from_u32(p)).collect();
    // Threads are counted during the tree walk; sysinfo reads only CPU and memory.
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&pids),
        true,
        ProcessRefreshKind::nothing().with_cpu().with_memory(),
    );
    system.refresh_cpu_usage();
    system.refresh_memory();
    let mut out = data.lock().unwrap_or_else(|e| e.into_inner());
    out.host_cpu = system.global_cpu_usage();
    out.host_mem_used = system.used_memory();
    out.host_mem_total = system.total_memory();
    for (history, tree) in out.sidecars.iter_mut().zip(trees) {
        let mut s = Sample::default();
        for &(pid, threads) in tree {
            let Some(process) = system.process(Pid::from_u32(pid)) else { continue };
            s.cpu += process.cpu_usage();
            s.rss += process.memory();
            s.threads += threads;
            s.processes += 1;
        }
        if history.samples.len() == HISTORY {
            history.samples.pop_front();
        }
        history.samples.push_back(s);
        if let Some(&(main, _)) = tree.first()
            && history.limits_pid != Some(main)
        {
            history.limits = read_limits(main);
            history.limits_pid = Some(main);
        }
    }
}

/// The process and every descendant, with each one's thread count, by walking
/// `/proc/PID/task/*/children`.
pub fn descendants_and_self(pid: u32) -> Vec<(u32, u32)> {
    let mut out = vec![(pid, 0)];
    let mut i = 0;
    while i < out.len() && out.len() < 4096 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", out[i].0)) else {
            i += 1;
            continue;
        };
        let mut threads = 0;
        for task in tasks.flatten() {
            threads += 1;
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                out.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()).map(|c| (c, 0)));
            }
        }
        out[i].1 = threads;
        i += 1;
    }
    out
}

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
        let tree = descendants_and_self(std::process::id());
        assert!(tree.iter().any(|&(p, threads)| p == child.id() && threads == 1), "{tree:?}");
        assert!(tree[0].1 >= 1, "this process has threads: {tree:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(read_limits(std::process::id()).iter().any(|(k, _)| k == "open files"));
    }
}
