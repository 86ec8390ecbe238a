//! Log files under a flood and on a failing disk: every line, in order, with its stream;
//! a full disk is an event, the output waits (or drops, non-blocking, with a marker line
//! in the file), and writing resumes when space returns.

use crate::common;

use common::*;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split(" out| line ").nth(1))
        .map(|rest| rest[..9].parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_reaches_the_log_file_whole_and_in_order() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flood.log");
    let lines = 300_000u64;
    let (_cfg, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "flood"
command = ["python3", "{{sidecars}}/test/numbered.py", "{lines}", "1000", "0"]
restart = "never"
log_file = "{}"
log_file_max_size = "1GB"
"#,
            log.display()
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("flood").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Exited).await;
    // The writer may still be on its last batches when the child is gone.
    assert!(
        eventually(T, || h.log_file_counts().is_some_and(|c| c.written == lines + 1)).await,
        "{:?}",
        h.log_file_counts()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let seen = numbers(&text);
    assert_eq!(seen.len() as u64, lines, "every line is in the file");
    assert!(seen.iter().enumerate().all(|(i, &n)| i as u64 == n), "in order");
    assert!(text.lines().any(|l| l.ends_with(" err| done")), "stderr is tagged as such");
    assert_eq!(h.log_file_counts().unwrap().dropped, 0);
    sup.shutdown().await;
}

/// Runs headless sidetop with a file-size limit (a disk that fills up at `limit` bytes),
/// returning the child and a channel of its stdout lines.
fn headless_with_fsize_limit(
    config: &Path,
    limit: u64,
    logs: &Path,
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(bin());
    cmd.args(["--headless", "--config"]).arg(config).arg("--log-dir").arg(logs);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                // Keep draining so sidetop never blocks on its stdout.
            }
        }
    });
    (child, rx)
}

fn wait_line(rx: &mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + T;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(what) {
            return line;
        }
    }
    panic!("no line with {what:?} within {T:?}");
}

fn disk_full_scenario(mode: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("full.log");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[[sidecar]]
name = "writer"
command = ["python3", "{{sidecars}}/test/numbered.py", "0", "50", "5"]
log_file = "{}"
log_file_max_size = "1GB"
log_file_mode = "{mode}"
log_file_buffer = "64KiB"
"#,
            log.display()
        ),
        &marker(),
    );
    let (mut child, rx) = headless_with_fsize_limit(&config, 256 << 10, &dir.path().join("selflog"));
    let failed = wait_line(&rx, "log file write failed");
    assert!(failed.contains("File too large"), "{failed}");
    // Let output pile up against the full disk, then free the space.
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    wait_line(&rx, "log file writing resumed");
    // A little more output after the resume, then stop.
    let resumed_at = std::fs::metadata(&log).unwrap().len();
    let deadline = Instant::now() + T;
    while std::fs::metadata(&log).unwrap().len() < resumed_at + (20 << 10) {
        assert!(Instant::now() < deadline, "writing did not go on after the resume");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn a_full_disk_makes_the_output_wait_and_loses_nothing_after_it() {
    let text = disk_full_scenario("blocking");
    assert!(!text.contains("lines missing"), "blocking mode drops nothing");
    // Everything after the truncation is contiguous: the writer kept the text it could
    // not write, and the child waited.
    let seen = numbers(&text);
    assert!(seen.len() > 100, "{} lines", seen.len());
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "no gap after the disk came back");
}

#[test]
fn non_blocking_mode_drops_counts_and_marks_the_gap_in_the_file() {
    let text = disk_full_scenario("non-blocking");
    let marker = text.lines().find(|l| l.contains("lines missing here")).expect("a marker line");
    let count: u64 = marker.split("[sidetop] ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(count > 0, "{marker}");
    // After the marker the numbering jumps by at least the count.
    let after: Vec<&str> = text.lines().skip_while(|l| !l.contains("lines missing here")).collect();
    let seen = numbers(&after.join("\n"));
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "contiguous after the marker");
}

/// The recorder is written like a log file: on a full disk (a file-size limit) it says
/// so as an event, keeps what it could not write, retries, says when it resumes, and
/// what it could not keep meanwhile is counted in a `{"lost": N}` line at its place.
/// It once died quietly at its first failed write.
#[test]
fn a_full_disk_pauses_the_recording_and_it_resumes_with_the_gap_marked() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("rec.jsonl");
    let config = write_config(
        dir.path(),
        r#"
[[sidecar]]
name = "talker"
command = ["python3", "{sidecars}/test/notifier.py", "4000"]
[sidecar.ipc]
protocol = "jsonrpc"
"#,
        &marker(),
    );
    let mut cmd = Command::new(bin());
    cmd.arg("--record").arg(&recording).args(["--headless", "--config"]).arg(&config);
    cmd.arg("--log-dir").arg(dir.path().join("selflog"));
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let limit: u64 = 256 << 10;
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let failed = wait_line(&rx, "rec.jsonl failed");
    assert!(failed.contains("File too large") && failed.contains("retrying"), "{failed}");
    // 4 MB/s of exchanges against an 8 MiB queue: some are lost before the space comes back.
    std::thread::sleep(Duration::from_millis(3000));
    std::fs::OpenOptions::new().write(true).open(&recording).unwrap().set_len(0).unwrap();
    wait_line(&rx, "rec.jsonl resumed");
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let text = std::fs::read_to_string(&recording).unwrap();
    // The first line may be the rest of the one cut by the limit (the file was emptied
    // under it), and the last one cut again if the file reached the limit once more;
    // every other line is whole.
    let mut lines: Vec<&str> = text.lines().skip(1).collect();
    if text.len() as u64 == limit {
        lines.pop();
    }
    let mut last_seq: Option<u64> = None;
    let mut lost_marked = 0;
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(n) = value["lost"].as_u64() {
            lost_marked += n;
            last_seq = None;
            continue;
        }
        let notification: serde_json::Value =
            serde_json::from_str(value["response"].as_str().unwrap()).unwrap();
        let seq = notification["params"]["seq"].as_u64().unwrap();
        if let Some(last) = last_seq {
            assert_eq!(seq, last + 1, "contiguous except where a lost line says so");
        }
        last_seq = Some(seq);
    }
    assert!(lost_marked > 0, "the gap is marked");
}
