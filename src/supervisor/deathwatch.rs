//! The death watch: a small helper process (this same binary, run as `sidetop
//! __deathwatch`) that outlives sidetop by a moment. sidetop tells it, over a pipe that
//! is the helper's stdin, each process group it starts and retires; when the pipe closes
//! because sidetop exited or was SIGKILLed, it SIGKILLs every group still listed. A
//! parent-death signal would only reach a direct child, not its children.
//!
//! The helper is a fresh single-threaded process (not a fork of this multi-threaded one),
//! so it may allocate: its table grows with the groups alive and has no fixed cap. It
//! forgets groups that no longer exist every second, so a pid reused by an unrelated
//! process group after a missed `forget` is not killed later. At the end it also kills
//! every descendant of those groups' processes, including ones that left the group.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The hidden subcommand that runs the helper.
pub const SUBCOMMAND: &str = "__deathwatch";
const RECORD: usize = 5;
const PRUNE_EVERY: Duration = Duration::from_secs(1);

pub struct DeathWatch {
    /// Written without a lock: each record is one `write` of 5 bytes, which a pipe keeps
    /// whole (POSIX: writes up to PIPE_BUF are atomic), so callers on any thread or task
    /// never wait for each other, and no std mutex is held in async code.
    pipe: std::fs::File,
    child: Mutex<Option<Child>>,
}

impl DeathWatch {
    /// Starts the helper from `exe`, a sidetop binary.
    pub fn start(exe: &Path) -> io::Result<DeathWatch> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain syscall with a valid out-array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let child = Command::new(exe)
            .arg(SUBCOMMAND)
            .stdin(Stdio::from(read_end))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: Ctrl-C in the terminal must not reach it before sidetop.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("starting the death-watch helper {}: {e}", exe.display()))
            })?;
        super::subreaper::register(child.id());
        Ok(DeathWatch { pipe: std::fs::File::from(write_end), child: Mutex::new(Some(child)) })
    }

    /// Finds a sidetop binary to run the helper from: `$SIDETOP_EXE`, this program when
    /// it is sidetop, or a `sidetop` beside it or one folder up (cargo's test and bench
    /// binaries live in `target/*/deps/`).
    pub fn locate() -> io::Result<PathBuf> {
        if let Some(exe) = std::env::var_os("SIDETOP_EXE") {
            return Ok(PathBuf::from(exe));
        }
        let me = std::env::current_exe()?;
        if me.file_name().is_some_and(|n| n == "sidetop") {
            return Ok(me);
        }
        me.ancestors().skip(1).take(2).map(|dir| dir.join("sidetop")).find(|p| p.is_file()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no sidetop binary found to run the death-watch helper (set SIDETOP_EXE)",
            )
        })
    }

    pub fn watch(&self, pgid: u32) {
        self.send(b'+', pgid);
    }

    pub fn forget(&self, pgid: u32) {
        self.send(b'-', pgid);
    }

    /// Marks a spawn in progress until the guard drops (after [`watch`](Self::watch)).
    /// If sidetop dies between `posix_spawn` and `watch`, the helper does not know the
    /// new group; while a mark is open it also kills the group leaders of sidetop's
    /// session that appeared meanwhile and were orphaned with it.
    pub fn spawning(&self) -> SpawnMark<'_> {
        self.send(b'?', 0);
        SpawnMark(self)
    }

    fn send(&self, op: u8, pgid: u32) {
        let mut record = [0u8; RECORD];
        record[0] = op;
        record[1..].copy_from_slice(&pgid.to_le_bytes());
        // One write of 5 bytes: atomic on a pipe; the helper reads far faster than we write.
        if let Err(e) = (&self.pipe).write_all(&record) {
            tracing::error!("death-watch helper unreachable: {e}; sidecars may outlive a killed sidetop");
        }
    }
}

pub struct SpawnMark<'a>(&'a DeathWatch);

impl Drop for SpawnMark<'_> {
    fn drop(&mut self) {
        self.0.send(b'!', 0);
    }
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        // Closing the pipe (the File drops after this) tells the helper to act and exit;
        // collect it so no zombie is left behind while sidetop lives on (as in tests).
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::thread::spawn(move || {
                let _ = child.wait();
                super::subreaper::unregister(child.id());
            });
        }
    }
}

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
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, from the state (field 3) on.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(ProcStat {
            pid,
            ppid: field(4)? as u32,
            pgid: field(5)? as u32,
            session: field(6)? as u32,
            start_ticks: field(22)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Records sent from many threads at once arrive whole, never interleaved, with no
    /// lock around the pipe.
    #[test]
    fn records_from_many_threads_arrive_whole() {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain syscall with a valid out-array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors were just created and are owned here.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let watch =
            std::sync::Arc::new(DeathWatch { pipe: std::fs::File::from(write_end), child: Mutex::new(None) });
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::fs::File::from(read_end).read_to_end(&mut bytes).unwrap();
            bytes
        });
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let watch = watch.clone();
                std::thread::spawn(move || {
                    for i in 0..5000u32 {
                        watch.watch(t << 24 | i);
                        watch.forget(t << 24 | i);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(watch);
        let bytes = reader.join().unwrap();
        assert_eq!(bytes.len(), 8 * 5000 * 2 * RECORD);
        let mut open = std::collections::HashSet::new();
        for record in bytes.chunks(RECORD) {
            let pgid = u32::from_le_bytes(record[1..].try_into().unwrap());
            match record[0] {
                b'+' => assert!(open.insert(pgid), "{pgid} watched twice"),
                b'-' => assert!(open.remove(&pgid), "{pgid} forgotten before it was watched"),
                other => panic!("a torn record: {other}"),
            }
        }
        assert!(open.is_empty());
    }
}
