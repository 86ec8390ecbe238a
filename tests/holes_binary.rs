//! Holes in the sidetop binary's edges, on the real binary: the death-watch helper (no
//! fixed table, immune to closed standard descriptors), signals during a long graceful
//! stop, skipped events said out loud, and HTTP sidecars ready only once they listen.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn gone(pid: i32) -> bool {
    !pid_alive(pid)
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
    // Let it read everything before the pipe closes.
    std::thread::sleep(Duration::from_millis(300));
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
    // The helper must still be there, reading its pipe.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until(Duration::from_secs(3), "the sidecar and its child to die with sidetop", || {
        family.iter().all(|&pid| gone(pid))
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

/// Hole 7: when headless output falls behind, the events it skipped are said, not lost
/// silently. A sidecar restarting as fast as it can makes thousands of events while
/// nobody reads sidetop's stdout.
#[test]
fn skipped_events_are_said_in_the_headless_output() {
    let m = marker();
    let (mut child, _dir) = headless(
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
    // Nobody reads for a while: the pipe fills, the printer blocks, events pile up.
    std::thread::sleep(Duration::from_secs(6));
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("events not printed: the output fell behind"))
    });
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    child.wait().unwrap();
    let said = reader.join().unwrap();
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
