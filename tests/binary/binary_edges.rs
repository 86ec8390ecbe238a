//! Holes in the sidetop binary's edges, on the real binary: the death-watch helper (no
//! fixed table, immune to closed standard descriptors), signals during a long graceful
//! stop, skipped events said out loud, HTTP sidecars ready only once they listen, and
//! `ctl` writing into a closed pipe.

use crate::common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes waiting in a pipe, asked through either end.
fn unread(pipe: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through a valid pointer.
    assert_eq!(unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) }, 0);
    n as usize
}

/// Hole 3: the helper's table has no fixed size. 5,000 groups that do not exist (above
/// the kernel's pid range, so killing them is harmless) are registered before a real
/// one; when the pipe closes, the real one is killed. The forked helper it replaces
/// ignored every group past 4,096.
#[test]
fn the_death_watch_keeps_every_group_it_is_told() {
    let mut target = Command::new("sleep");
    target.arg("30").process_group(0);
    let mut target = target.spawn().unwrap();
    let mut helper = Command::new(bin()).arg("__deathwatch").stdin(Stdio::piped()).spawn().unwrap();
    let mut pipe = helper.stdin.take().unwrap();
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    let mut records = Vec::new();
    for fake in 0..5000u32 {
        records.push(b'+');
        records.extend_from_slice(&(pid_max + 1 + fake).to_le_bytes());
    }
    records.push(b'+');
    records.extend_from_slice(&target.id().to_le_bytes());
    pipe.write_all(&records).unwrap();
    // It has read everything before the pipe closes.
    wait_until(Duration::from_secs(10), "the helper to read every record", || unread(&pipe) == 0);
    drop(pipe);
    assert!(helper.wait().unwrap().success());
    let status = target.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the real group was killed: {status:?}");
}

/// Hole 4: sidetop started with stdin, stdout and stderr closed still kills its sidecars
/// when it is SIGKILLed (the forked helper once read EOF at once and left).
#[test]
fn closed_standard_descriptors_do_not_disarm_the_death_watch() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    // A grandchild in the sidecar's group: only the helper can take it along.
    let config = write_config(
        dir.path(),
        "[[sidecar]]\nname = \"parent\"\ncommand = [\"sh\", \"-c\", \"sleep 60 & wait\"]\n",
        &m,
    );
    let mut cmd = Command::new(bin());
    cmd.args(["--headless", "--config"]).arg(&config).arg("--log-dir").arg(dir.path().join("logs"));
    // SAFETY: close is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    wait_until(Duration::from_secs(15), "the sidecar and its child", || marked_pids(&m).len() == 2);
    let family = marked_pids(&m);
    // Not a wait for something to happen: a helper that read end of file at once (the
    // bug) would be gone by now; give it a moment to go before sidetop dies.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until(Duration::from_secs(3), "the sidecar and its child to die with sidetop", || {
        family.iter().all(|&pid| !pid_alive(pid))
    });
}

fn headless(toml: &str, m: &str) -> (Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), toml, m);
    let child = Command::new(bin())
        .args(["--headless", "--config"])
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, dir)
}

/// Hole 8: a second SIGTERM during a long graceful stop forces it.
#[test]
fn a_second_sigterm_forces_a_long_headless_stop() {
    let m = marker();
    let (mut child, _dir) = headless(
        r#"
[[sidecar]]
name = "stubborn"
command = ["sh", "-c", "trap 'echo ignoring SIGTERM' TERM; echo trapped; while true; do sleep 0.1; done"]
stop_timeout = "60s"
"#,
        &m,
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains("trapped")));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains("ignoring SIGTERM")));
    let begun = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(begun.elapsed() < Duration::from_secs(5), "forced, not after the 60 s grace");
    assert!(status.success(), "{status:?}");
    wait_until(Duration::from_secs(3), "no sidecar left", || marked_pids(&m).is_empty());
}

/// Counts the lines holding `needle` in sidetop's own log files in `dir`, reading only
/// what was appended since the last count.
struct LineCounter {
    dir: std::path::PathBuf,
    needle: &'static str,
    read: std::collections::HashMap<std::path::PathBuf, u64>,
    lines: usize,
}

impl LineCounter {
    fn new(dir: std::path::PathBuf, needle: &'static str) -> LineCounter {
        LineCounter { dir, needle, read: Default::default(), lines: 0 }
    }

    fn count(&mut self) -> usize {
        use std::io::{Read, Seek};
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("sidetop.log") {
                continue;
            }
            let Ok(mut file) = std::fs::File::open(entry.path()) else { continue };
            let offset = self.read.entry(entry.path()).or_insert(0);
            let mut new = Vec::new();
            file.seek(std::io::SeekFrom::Start(*offset)).unwrap();
            file.read_to_end(&mut new).unwrap();
            // Whole lines only: the last one may still be being written.
            let Some(end) = new.iter().rposition(|&b| b == b'\n') else { continue };
            *offset += end as u64 + 1;
            let text = String::from_utf8_lossy(&new[..end]);
            self.lines += text.lines().filter(|l| l.contains(self.needle)).count();
        }
        self.lines
    }
}

/// Hole 7: when headless output falls behind, the events it skipped are said, not lost
/// silently. A sidecar restarting as fast as it can makes thousands of events while
/// nobody reads sidetop's stdout.
#[test]
fn skipped_events_are_said_in_the_headless_output() {
    let m = marker();
    let (mut child, dir) = headless(
        r#"
[[sidecar]]
name = "flapper"
command = ["sh", "-c", "exit 1"]
backoff = { initial = "0", max = "0" }
crash_loop = { max_exits = 1000000 }
"#,
        &m,
    );
    let stdout = child.stdout.take().unwrap();
    // Nobody reads: the pipe fills and the printer blocks...
    // SAFETY: F_GETPIPE_SZ only reads the pipe's capacity.
    let capacity = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(capacity > 0, "sidetop's stdout is a pipe");
    // (The last page may be short when the printer blocks.)
    let full = capacity as usize - 4096;
    wait_until(Duration::from_secs(30), "sidetop's stdout pipe to fill", || unread(&stdout) >= full);
    // ... then events pile up past the backlog. sidetop's own log has a line for each,
    // written by a background thread a moment later. The margin covers that delay, the
    // room left in the pipe and the printer's queue.
    let mut events_logged = LineCounter::new(dir.path().join("logs"), " flapper: ");
    let before = events_logged.count();
    wait_until(Duration::from_secs(60), "events to pile up past the backlog", || {
        events_logged.count() >= before + sidetop::supervisor::EVENT_BACKLOG + 1000
    });
    // Reading again, the printer catches up and says what it skipped.
    let (found_tx, found) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let line = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("events not printed: the output fell behind"));
        let _ = found_tx.send(line);
    });
    let said = found.recv_timeout(Duration::from_secs(30)).ok().flatten();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    assert!(said.is_some(), "no line said how many events were skipped");
}

/// A fresh `python3 -m http.server` sidecar with no health check answers
/// `sidetop request` (it was refused while the server was still starting).
#[test]
fn request_waits_for_an_http_sidecar_to_listen() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[[sidecar]]
name = "web"
command = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
"#
        ),
        &m,
    );
    let out = Command::new(bin())
        .args(["request", "web", "--method", "GET", "--path", "/", "--config"])
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Directory listing"), "{stdout}");
}

/// The spawn window: sidetop SIGKILLed after `posix_spawn` returned but before the new
/// group was given to the death watch (widened here to seconds by a test-only pause).
/// The open spawn mark makes the helper find the orphaned group leader anyway.
#[test]
fn a_sidecar_spawned_as_sidetop_dies_does_not_survive() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[sidecar]]\nname = \"late\"\ncommand = [\"sh\", \"-c\", \"sleep 60 & wait\"]\n",
        &m,
    );
    let mut child = Command::new(bin())
        .args(["--headless", "--config"])
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .env("SIDETOP_TEST_PAUSE_AFTER_SPAWN_MS", "5000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(15), "the sidecar and its child", || marked_pids(&m).len() == 2);
    let family = marked_pids(&m);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until(Duration::from_secs(3), "the sidecar and its child to die with sidetop", || {
        family.iter().all(|&pid| !pid_alive(pid))
    });
}

#[test]
fn ctl_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let agent = crate::common::agent::Agent::running(
        r#"
[[sidecar]]
name = "talker"
command = ["python3", "-c", "import sys\nfor i in range(3000): print('line', i)\nsys.stdout.flush()\nimport time; time.sleep(60)"]
"#,
    );
    wait_until(Duration::from_secs(10), "the lines captured", || {
        crate::common::agent::text(&agent.ctl(&["logs", "talker"])).contains("line 2999")
    });
    let mut ctl = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(&agent.socket)
        .args(["logs", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(ctl.stdout.take());
    let out = ctl.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
}
