//! Helpers for tests that run real sidecars: configs in temp dirs, waiting on states,
//! and finding every process a test started (through a marker in their environment,
//! which children and grandchildren inherit).
#![allow(dead_code)]

pub mod agent;
pub mod dashboard;
pub mod tmux;
pub mod wrapper;

#[allow(unused_imports)]
pub use dashboard::{ctrl, key, offline_dashboard, press};

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

/// The Python that has the gRPC example sidecar's packages: `scripts/test` makes a
/// virtualenv under target/ and says where in `SIDETOP_TEST_PYTHON`. A test that needs it
/// fails (never skips) when it is missing.
pub fn grpc_python() -> String {
    venv_python("grpc, grpc_reflection, grpc_health", "sidecars/requirements-grpc.txt")
}

/// The Python that has the real MCP and LSP clients (the `mcp` SDK, pygls) and jsonschema, from the same
/// virtualenv.
pub fn client_python() -> String {
    venv_python("mcp, pygls, jsonschema", "sidecars/requirements-test.txt")
}

fn venv_python(modules: &str, requirements: &str) -> String {
    let python = std::env::var("SIDETOP_TEST_PYTHON").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")));
        format!("{target}/sidetop-venv/bin/python")
    });
    let works = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        works,
        "{python} cannot import {modules}: run the tests with scripts/test, which installs {requirements}"
    );
    python
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

/// Polls `cond` until true, from a plain (not async) test; panics naming `what` on timeout.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
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
        _ => {
            // The output's tail too: a sidecar that cannot start says why there.
            let logs = log_texts(handle);
            panic!(
                "{}: timed out; last status {:?}; events: {:#?}; last output: {:#?}",
                handle.name,
                handle.status(),
                handle.events(),
                &logs[logs.len().saturating_sub(10)..]
            )
        }
    }
}

pub fn log_texts(handle: &SidecarHandle) -> Vec<String> {
    handle.logs().iter().map(|l| l.text_lossy().into_owned()).collect()
}

/// A TCP port on 127.0.0.1 for a sidecar to listen on, reserved for the rest of this
/// test process.
///
/// Binding port 0 and dropping the listener races: the port is free again until the
/// sidecar binds it, and the kernel may hand it to the next test that binds port 0. Nor
/// can the listener be handed over: the sidecars take a port number, not a descriptor.
/// So each port is reserved instead:
/// - from 20000-29999, below the kernel's ephemeral range (32768 and up), so no outgoing
///   connection and no port-0 bind takes it in the meantime;
/// - never twice in one process: an atomic counter walks the range;
/// - never by two processes at once, even two `cargo test` runs from different
///   checkouts: a port is taken only with an exclusive `flock` on
///   `$TMPDIR/sidetop-test-ports/PORT`, held until this process exits (the kernel drops
///   it even when the process is killed, so nothing goes stale; every process walks from
///   the start of the range, so there are only as many files as ports in use at once);
/// - checked free by binding it without SO_REUSEADDR, which catches anything else on the
///   machine using it, and a connection of an earlier test still in TIME_WAIT on it
///   (which would refuse a sidecar that binds without SO_REUSEADDR).
///
/// The lock files are never deleted: a process holding a lock on a deleted file and one
/// locking its replacement would both think they own the port.
///
/// Only a program outside the tests that binds a port in this range between the check and
/// the sidecar's bind could still collide, so tests do not retry with another port.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("sidetop-test-ports");
    if std::fs::create_dir(&dir).is_ok() {
        // Shared by every user's test runs, like /tmp itself.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < COUNT,
            "no free port left in {FIRST}-{} (lock files in {})",
            FIRST + COUNT - 1,
            dir.display()
        );
        let port = (FIRST + n) as u16;
        let path = dir.join(port.to_string());
        // Read-only is enough for a lock, and works on a file another user created.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .or_else(|_| std::fs::File::open(&path));
        let Ok(file) = file else { continue };
        if file.try_lock().is_err() {
            continue; // another test process holds it
        }
        let free = tokio::net::TcpSocket::new_v4()
            .and_then(|socket| socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port))))
            .is_ok();
        if free {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
            return port;
        }
    }
}

/// Waits until the sidecar is running and ready.
pub async fn wait_ready(handle: &SidecarHandle) -> Status {
    wait_status(handle, Duration::from_secs(20), |s| s.state == sidetop::supervisor::Life::Running && s.ready)
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

/// A dashboard's state over the engine API, in-process, as `sidetop` builds it: subscribed,
/// then a snapshot.
pub async fn dashboard_of(
    engine: &std::sync::Arc<sidetop::api::engine::Engine>,
) -> (sidetop::app::state::State, sidetop::api::link::Link) {
    use serde_json::json;
    use sidetop::app::model::Model;
    use sidetop::app::state::{Mode, State};
    let link = sidetop::api::local::connect(engine.clone());
    let subscribe = json!({"events": true, "status": true, "samples": true, "traffic": true});
    link.caller.call("subscribe", subscribe).await.unwrap();
    let snapshot = serde_json::from_value(link.caller.call("snapshot", json!({})).await.unwrap()).unwrap();
    (State::new(Model::from_snapshot(snapshot), Mode::InProcess), link)
}

/// Applies the engine's notices to `state` (carrying out the log follows `update` asks
/// for) until `done` holds; fails the test after `timeout`.
pub async fn pump_until(
    state: &mut sidetop::app::state::State,
    link: &mut sidetop::api::link::Link,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&sidetop::app::state::State) -> bool,
) {
    use sidetop::app::msg::Msg;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let deadline = tokio::time::Instant::now() + timeout;
    if let Some(effect) = sidetop::app::update::follow_logs(state) {
        sidetop::app::effects::carry_out(effect, state, &link.caller, &tx);
    }
    while !done(state) {
        match tokio::time::timeout_at(deadline, link.notices.recv()).await {
            Ok(Some(notice)) => {
                for effect in sidetop::app::update::update(state, Msg::Notice(notice)) {
                    sidetop::app::effects::carry_out(effect, state, &link.caller, &tx);
                }
            }
            Ok(None) => panic!("the engine went away while waiting for {what}"),
            Err(_) => panic!("gave up after {timeout:?} waiting for {what}"),
        }
    }
}

/// A JSON-RPC request; `null` params are left out.
pub fn rpc(method: &str, params: serde_json::Value) -> sidetop::config::ipc::RequestSpec {
    let params = if params.is_null() { None } else { Some(params) };
    sidetop::config::ipc::RequestSpec::Rpc { method: method.into(), params }
}
