//! Walking a process's descendants through `/proc`, for the resource sampler and for
//! finding processes that left a sidecar's group.

/// The process and every descendant, with each one's thread count, by walking
/// `/proc/PID/task/*/children`. A single-threaded process (most are) has one task, named
/// after it: its children are read without listing the task folder.
pub fn descendants_and_self(pid: u32) -> Vec<(u32, u32)> {
    descendants_and_self_knowing(pid, |_| None)
}

/// The same, with the thread counts `known` already has (the sampler read them with the
/// CPU ticks): a walk is then one read per process instead of two.
pub fn descendants_and_self_knowing(pid: u32, known: impl Fn(u32) -> Option<u32>) -> Vec<(u32, u32)> {
    let mut out = vec![(pid, 0)];
    let mut i = 0;
    let add_children = |out: &mut Vec<(u32, u32)>, path: std::path::PathBuf| {
        if let Ok(children) = std::fs::read_to_string(path) {
            out.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()).map(|c| (c, 0)));
        }
    };
    while i < out.len() && out.len() < 4096 {
        let pid = out[i].0;
        let threads = known(pid).or_else(|| thread_count(pid)).unwrap_or(0);
        if threads == 1 {
            add_children(&mut out, format!("/proc/{pid}/task/{pid}/children").into());
        } else if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                add_children(&mut out, task.path().join("children"));
            }
        }
        out[i].1 = threads;
        i += 1;
    }
    out
}

/// Threads of `pid`, from `/proc/PID/stat`.
fn thread_count(pid: u32) -> Option<u32> {
    use super::procstat::{self, NUM_THREADS, StatFields};
    let text = procstat::read(pid)?;
    Some(StatFields::parse(&text)?.number(NUM_THREADS)? as u32)
}
