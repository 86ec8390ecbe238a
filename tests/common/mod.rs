//! Helpers for tests that run real sidecars: configs in temp dirs, waiting on states,
//! and finding every process a test started (through a marker in their environment,
//! which children and grandchildren inherit).
#![allow(dead_code)]

use sidetop::config::Config;
use sidetop::supervisor::{SidecarHandle, Status};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub fn sidecars_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sidecars")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sidetop")
}

/// A unique value for `SIDETOP_TEST_MARKER`, so a test finds its own processes only.
pub fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("m{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Writes `toml` as `sidetop.toml` in a fresh temp dir (with `{sidecars}` and
/// `{marker}` substituted) and loads it.
pub fn config(toml: &str, marker: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), toml, marker);
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{}", e.render()));
    (dir, config)
}

pub fn write_config(dir: &Path, toml: &str, marker: &str) -> PathBuf {
    let text = toml.replace("{sidecars}", &sidecars_dir().display().to_string()).replace("{marker}", marker);
    let env = format!("env = {{ SIDETOP_TEST_MARKER = \"{marker}\" }}\n");
    let text = match text.find("[defaults]\n") {
        Some(at) => format!("{}[defaults]\n{env}{}", &text[..at], &text[at + 11..]),
        None => format!("[defaults]\n{env}{text}"),
    };
    let path = dir.join("sidetop.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Live (non-zombie) processes whose environment carries this marker.
pub fn marked_pids(marker: &str) -> Vec<i32> {
    let needle = format!("SIDETOP_TEST_MARKER={marker}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(true);
        if !zombie && environ.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Polls `cond` until true or the timeout; returns whether it became true.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for a status that satisfies `pred`, panicking with the last status on timeout.
pub async fn wait_status(
    handle: &SidecarHandle,
    timeout: Duration,
    pred: impl Fn(&Status) -> bool,
) -> Status {
    let mut rx = handle.watch();
    match tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
        Ok(Ok(status)) => status.clone(),
        _ => panic!(
            "{}: timed out; last status {:?}; events: {:#?}",
            handle.name,
            handle.status(),
            handle.events()
        ),
    }
}

pub fn log_texts(handle: &SidecarHandle) -> Vec<String> {
    handle.logs().iter().map(|l| l.text_lossy().into_owned()).collect()
}

/// A TCP port on 127.0.0.1 for a sidecar to listen on. Binding port 0 and closing it
/// races: the kernel hands the same port to the next test that does the same. Instead,
/// each test process takes ports from its own slice of 20000-29999 (below the kernel's
/// ephemeral range, so no outgoing connection takes them), never the same one twice, and
/// checks that nothing else holds it. Test binaries run one after another.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 20_000 + (std::process::id() % 100) * 100;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 100, "this test process used up its 100 ports");
        let port = (base + n) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until the sidecar is running and ready.
pub async fn wait_ready(handle: &SidecarHandle) -> Status {
    wait_status(handle, Duration::from_secs(20), |s| {
        s.state == sidetop::supervisor::State::Running && s.ready
    })
    .await
}

pub fn event_texts(handle: &SidecarHandle) -> Vec<String> {
    handle.events().iter().map(|e| e.kind.to_string()).collect()
}

/// True once no process with this marker is left, polling for up to 2 s: a process
/// that was just SIGKILLed takes a moment to disappear.
pub fn none_left(marker: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !marked_pids(marker).is_empty() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}
