//! Grandchildren that leave their sidecar's process group (`setsid`, double forks) would
//! escape a group kill. sidetop makes itself a child subreaper (Linux), so when their
//! parent dies they are re-parented to sidetop instead of init: this task reaps the ones
//! that exit, tells the orphan reaper about the ones that run on (so they die with
//! sidetop even by SIGKILL), and kills them all at shutdown. Descendants that make
//! themselves group leaders while their parent still lives are found by walking the
//! sidecars' process trees at shutdown (and, if sidetop is killed, by the death watch's
//! own walk). Without the subreaper (a library user's choice, or an old kernel) only
//! those walks remain, and no child of the embedding program is touched.

use super::deathwatch::DeathWatch;
use super::status::Status;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often adopted processes are looked for.
const PASS: Duration = Duration::from_secs(1);
/// How long a child must have been seen, unknown, before it counts as adopted.
const ADOPTION_DELAY: Duration = Duration::from_millis(500);

/// Every sidecar main process and orphan-reaper process of this process's supervisors:
/// children that are *not* adopted (several supervisors can share a process, as in tests).
static KNOWN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

pub fn register(pid: u32) {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashSet::new).insert(pid);
}

pub fn unregister(pid: u32) {
    if let Some(known) = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        known.remove(&pid);
    }
}

fn is_known(pid: u32) -> bool {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|k| k.contains(&pid))
}

/// Makes orphaned descendants our children. Returns whether the platform allowed it.
pub fn become_subreaper() -> bool {
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

/// Adopted processes: our children that are neither a sidecar's main process nor the
/// orphan reaper.
#[derive(Clone)]
pub struct Adopted {
    mains: Arc<Mutex<Vec<watch::Receiver<Status>>>>,
    reaper: Option<Arc<DeathWatch>>,
    /// This process is a child subreaper: orphans become our children, to reap and kill.
    /// Off, only descendants that leave their group (found by the tree walk) are watched,
    /// and no child of the embedding program is ever touched.
    subreaper: bool,
    /// Adopted or group-leaving processes seen so far.
    told: Arc<Mutex<HashSet<u32>>>,
    /// When each unknown child was first seen. A process is acted on only once it has
    /// been unknown for a while: a sidecar's main process is registered a moment after it
    /// is spawned, and std reaps a child whose exec failed itself, inside `spawn`.
    candidates: Arc<Mutex<HashMap<u32, Instant>>>,
}

/// Which threads' children to list.
#[derive(Clone, Copy)]
enum Threads {
    /// The main thread only: the kernel hands an orphan to the first living thread of
    /// its subreaper, the thread group leader, so that is where adopted processes (and
    /// their zombies) are. One read, where every thread (a writer per log file among
    /// them) would mean 60 opens a second with 50 sidecars.
    Leader,
    /// Every thread: at shutdown, to leave nothing out whatever the kernel did.
    All,
}

fn own_children(threads: Threads) -> Vec<u32> {
    let parse = |c: String| c.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>();
    match threads {
        Threads::Leader => {
            std::fs::read_to_string(format!("/proc/self/task/{}/children", std::process::id()))
                .map(parse)
                .unwrap_or_default()
        }
        Threads::All => {
            let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
                .flat_map(parse)
                .collect()
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    use crate::os::procstat;
    procstat::read(pid).is_some_and(|s| procstat::StatFields::parse(&s).and_then(|f| f.state()) == Some('Z'))
}

impl Adopted {
    pub fn new(
        mains: Vec<watch::Receiver<Status>>,
        reaper: Option<Arc<DeathWatch>>,
        subreaper: bool,
    ) -> Adopted {
        Adopted {
            mains: Arc::new(Mutex::new(mains)),
            reaper,
            subreaper,
            told: Arc::default(),
            candidates: Arc::default(),
        }
    }

    /// The main processes of this sidecar too (one added by a reload).
    pub fn track(&self, main: watch::Receiver<Status>) {
        self.mains.lock().unwrap_or_else(|e| e.into_inner()).push(main);
    }

    /// What shutdown must kill: adopted children, or without the subreaper the
    /// group-leaving descendants seen.
    fn list(&self) -> Vec<u32> {
        if !self.subreaper {
            return self.told.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        }
        self.list_children(Threads::All)
    }

    fn list_children(&self, threads: Threads) -> Vec<u32> {
        // Children we spawned ourselves (health-check commands) share our process group;
        // adopted ones come from a sidecar's group or their own session.
        let ours = unsafe { libc::getpgid(0) };
        own_children(threads)
            .into_iter()
            .filter(|p| !is_known(*p))
            .filter(|p| unsafe { libc::getpgid(*p as libc::pid_t) } != ours)
            .collect()
    }

    /// Reaps adopted processes that exited; registers the living with the orphan reaper,
    /// and also descendants that made themselves group leaders while their parent lives
    /// (so a SIGKILLed sidetop still takes them along).
    pub fn tend(&self, walk: bool) {
        let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
        let mut candidates = self.candidates.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::mem::take(&mut *candidates);
        let now = Instant::now();
        let mut confirmed = |pid: u32| {
            let first_seen = *previous.get(&pid).unwrap_or(&now);
            candidates.insert(pid, first_seen);
            now.duration_since(first_seen) >= ADOPTION_DELAY && !is_known(pid)
        };
        // Walking the trees costs a few reads per process; it is done at shutdown only (a
        // killed sidetop is covered by the death watch, which walks them once, then).
        let mains: Vec<u32> = if walk {
            self.mains
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter_map(|m| m.borrow().pid)
                .collect()
        } else {
            Vec::new()
        };
        for main in mains {
            for (pid, _) in crate::os::proctree::descendants_and_self(main).into_iter().skip(1) {
                // No settling here: a descendant of a sidecar is never a main process.
                if !is_known(pid)
                    && unsafe { libc::getpgid(pid as libc::pid_t) } == pid as libc::pid_t
                    && told.insert(pid)
                {
                    tracing::info!("process {pid} left its sidecar's process group; watching it");
                    if let Some(reaper) = &self.reaper {
                        reaper.watch(pid);
                    }
                }
            }
        }
        // Forget what is gone, here and in the death watch: a pid can be reused.
        told.retain(|&pid| {
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            if !alive && let Some(reaper) = &self.reaper {
                reaper.forget(pid);
            }
            alive
        });
        let children = if self.subreaper { self.list_children(Threads::Leader) } else { Vec::new() };
        for pid in children {
            if is_zombie(pid) {
                // Only pids seen on an earlier pass: a main process is registered right
                // after it is spawned, so it is never among them (tokio reaps those).
                if told.remove(&pid) | confirmed(pid) {
                    unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
                    if let Some(reaper) = &self.reaper {
                        reaper.forget(pid);
                    }
                }
            } else if confirmed(pid) && told.insert(pid) {
                tracing::info!("adopted orphan process {pid} (it left its sidecar's process group)");
                // After setsid it leads a group of its own.
                if let Some(reaper) = &self.reaper
                    && unsafe { libc::getpgid(pid as libc::pid_t) } == pid as libc::pid_t
                {
                    reaper.watch(pid);
                }
            }
        }
    }

    /// Before the sidecars stop: note every descendant that left its sidecar's group, so
    /// `kill_all` finds it even where no subreaper adopts it.
    pub async fn note_group_leavers(&self) {
        self.tend_off_runtime(true).await;
    }

    /// A pass reads /proc for every child (and with `walk`, every descendant): on the
    /// blocking pool, never on a runtime worker that tasks are waiting for.
    async fn tend_off_runtime(&self, walk: bool) {
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.tend(walk)).await;
    }

    /// At shutdown: SIGKILL every adopted process (and its group) and reap it. Every
    /// sidecar is settled by now, so no child of ours is between spawn and registration.
    pub async fn kill_all(&self) {
        for _ in 0..20 {
            let me = self.clone();
            let living = tokio::task::spawn_blocking(move || me.list()).await.unwrap_or_default();
            if living.is_empty() {
                return;
            }
            for pid in &living {
                self.told.lock().unwrap_or_else(|e| e.into_inner()).insert(*pid);
                unsafe {
                    if libc::getpgid(*pid as libc::pid_t) == *pid as libc::pid_t {
                        libc::kill(-(*pid as libc::pid_t), libc::SIGKILL);
                    }
                    libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            self.tend_off_runtime(false).await;
        }
    }

    /// Runs for the life of the supervisor: a look every second (not on every SIGCHLD:
    /// a restart storm would mean a /proc scan per exit).
    pub async fn run(self) {
        let mut tick = tokio::time::interval(PASS);
        loop {
            tick.tick().await;
            self.tend_off_runtime(false).await;
        }
    }
}
