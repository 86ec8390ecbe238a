//! The helper's side of the death watch: it reads `+pgid` / `-pgid` records from its
//! stdin until the pipe closes, then SIGKILLs every group still listed and their
//! descendants.

use super::{PRUNE_EVERY, RECORD};
use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// The helper's main: reads `+pgid` / `-pgid` records from stdin until it closes, then
/// SIGKILLs every group still listed.
pub fn helper_main() -> ! {
    // SAFETY: setting dispositions and the process name; no handlers run Rust code.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::prctl(libc::PR_SET_NAME, c"sidetop-watch".as_ptr() as libc::c_ulong, 0, 0, 0);
    }
    let mut groups: HashSet<u32> = HashSet::new();
    let orphans = OrphanScope::of_parent();
    // Spawns in progress, and since when (clock ticks since boot).
    let (mut spawning, mut spawning_since) = (0u32, None);
    let mut stdin = io::stdin().lock();
    let fd = stdin.as_raw_fd();
    let mut buf = [0u8; RECORD * 256];
    let mut filled = 0usize;
    let mut last_prune = Instant::now();
    loop {
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, PRUNE_EVERY.as_millis() as libc::c_int) };
        if ready > 0 {
            match stdin.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            let whole = filled - filled % RECORD;
            for record in buf[..whole].chunks_exact(RECORD) {
                let pgid = u32::from_le_bytes([record[1], record[2], record[3], record[4]]);
                match record[0] {
                    b'+' => drop(groups.insert(pgid)),
                    b'-' => drop(groups.remove(&pgid)),
                    b'?' => {
                        if spawning == 0 {
                            // A second of slack: the mark was written before the spawn,
                            // but may be read after the child started.
                            spawning_since = Some(ticks_since_boot().saturating_sub(clock_ticks()));
                        }
                        spawning += 1;
                    }
                    _ => {
                        spawning = spawning.saturating_sub(1);
                        if spawning == 0 {
                            spawning_since = None;
                        }
                    }
                }
            }
            buf.copy_within(whole..filled, 0);
            filled -= whole;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            groups.retain(|&pgid| group_exists(pgid));
        }
    }
    if let Some(since) = spawning_since {
        groups.extend(orphans.leaders_started_since(since));
    }
    kill_groups_and_descendants(&groups);
    std::process::exit(0);
}

/// Who a sidecar spawned in the moment sidetop died can be told by: a process group
/// leader in sidetop's session (sidecars get their own group, not their own session),
/// whose parent is sidetop or, once orphaned, one of sidetop's ancestors (the subreaper
/// that adopts it) or init.
struct OrphanScope {
    session: u32,
    parents: HashSet<u32>,
}

impl OrphanScope {
    fn of_parent() -> OrphanScope {
        // SAFETY: plain syscalls.
        let (session, sidetop) = unsafe { (libc::getsid(0) as u32, libc::getppid() as u32) };
        let mut parents = HashSet::from([1, sidetop]);
        let mut at = sidetop;
        while let Some(stat) = ProcStat::read(at) {
            if stat.ppid <= 1 || !parents.insert(stat.ppid) {
                break;
            }
            at = stat.ppid;
        }
        OrphanScope { session, parents }
    }

    fn leaders_started_since(&self, since: u64) -> Vec<u32> {
        let me = std::process::id();
        all_pids()
            .filter(|&pid| pid != me)
            .filter_map(ProcStat::read)
            .filter(|p| {
                p.pgid == p.pid
                    && p.session == self.session
                    && p.start_ticks >= since
                    && self.parents.contains(&p.ppid)
            })
            .map(|p| p.pid)
            .collect()
    }
}

struct ProcStat {
    pid: u32,
    ppid: u32,
    pgid: u32,
    session: u32,
    start_ticks: u64,
}

impl ProcStat {
    fn read(pid: u32) -> Option<ProcStat> {
        use crate::os::procstat::{self, PGRP, PPID, SESSION, STARTTIME, StatFields};
        let text = procstat::read(pid)?;
        let stat = StatFields::parse(&text)?;
        Some(ProcStat {
            pid,
            ppid: stat.number(PPID)? as u32,
            pgid: stat.number(PGRP)? as u32,
            session: stat.number(SESSION)? as u32,
            start_ticks: stat.number(STARTTIME)?,
        })
    }
}

fn all_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
}

fn clock_ticks() -> u64 {
    // SAFETY: plain libc call.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64
}

/// Now, in the unit of `/proc/PID/stat`'s start time.
fn ticks_since_boot() -> u64 {
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let seconds: f64 = uptime.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    (seconds * clock_ticks() as f64) as u64
}

/// SIGKILLs every listed group, and every descendant of their members, even those that
/// left the group (`setsid`) while their parent lived: one scan of `/proc`, done once,
/// here, instead of sidetop walking the process trees all the time.
fn kill_groups_and_descendants(groups: &HashSet<u32>) {
    // (pid, ppid, pgid) of every process.
    let table: Vec<(u32, u32, u32)> =
        all_pids().filter_map(ProcStat::read).map(|p| (p.pid, p.ppid, p.pgid)).collect();
    let mut doomed: HashSet<u32> = table.iter().filter(|p| groups.contains(&p.2)).map(|p| p.0).collect();
    loop {
        let before = doomed.len();
        for &(pid, ppid, _) in &table {
            if doomed.contains(&ppid) {
                doomed.insert(pid);
            }
        }
        if doomed.len() == before {
            break;
        }
    }
    for pgid in groups {
        // SAFETY: plain syscall.
        unsafe { libc::kill(-(*pgid as libc::pid_t), libc::SIGKILL) };
    }
    for &(pid, _, pgid) in table.iter().filter(|p| doomed.contains(&p.0)) {
        // SAFETY: plain syscalls. A descendant that leads a group takes its group along.
        unsafe {
            if pgid == pid {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

fn group_exists(pgid: u32) -> bool {
    // SAFETY: plain syscall; signal 0 only checks.
    unsafe { libc::kill(-(pgid as libc::pid_t), 0) == 0 || *libc::__errno_location() != libc::ESRCH }
}
