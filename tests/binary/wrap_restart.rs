//! `sidetop wrap` restarts its child while the application's pipes stay open: the
//! requests in flight get the documented error at once, the next ones reach the new
//! child; `--restart on-failure` does the same after a crash.

use crate::common;

use common::wrapper::{App, ctl, status};
use common::{sidecars_dir, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

fn echo() -> Vec<String> {
    vec!["python3".into(), sidecars_dir().join("jsonrpc_echo.py").display().to_string()]
}

fn argv(cmd: &[String]) -> Vec<&str> {
    cmd.iter().map(String::as_str).collect()
}

fn pid(socket: &std::path::Path) -> Option<u64> {
    status(socket)["pid"].as_u64()
}

#[test]
fn a_restart_answers_the_request_in_flight_and_the_next_reaches_the_new_child() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = echo();
    let mut app = App::start(dir.path(), &["--name", "echo"], &argv(&cmd));
    assert_eq!(app.call(json!(1), "ping", json!({}))["result"], "pong");
    let first = pid(&app.socket).unwrap();
    app.send(json!("slow"), "sleep", json!({"ms": 30_000}));
    std::thread::sleep(Duration::from_millis(200));
    ctl(&app.socket, &["restart", "echo"]);
    // Sent while the old child is going: it waits for the new one.
    app.send(json!(2), "ping", json!({}));
    let slow = app.reply(&json!("slow"), Duration::from_secs(5));
    assert_eq!(slow["error"]["code"], -32050, "{slow}");
    assert!(slow["error"]["message"].as_str().unwrap().contains("restarted"), "{slow}");
    let ping = app.reply(&json!(2), Duration::from_secs(15));
    assert_eq!(ping["result"], "pong", "the new child answers: {ping}");
    let second = pid(&app.socket).unwrap();
    assert_ne!(first, second, "a new child");
    assert!(app.call(json!(3), "echo", json!({"x": 1}))["result"].is_object());
    let rows: Vec<Value> = ctl(&app.socket, &["latency", "echo", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sleep = rows.iter().find(|r| r["method"] == "sleep").expect("the abandoned call is measured");
    assert_eq!((sleep["count"].as_u64(), sleep["errors"].as_u64()), (Some(1), Some(1)), "{rows:?}");
    assert_eq!(app.finish().code(), Some(0));
}

/// A child that answers `{"method":"pid"}` with its pid and dies of SIGSEGV on `segv`.
const CRASHER: &str = r#"
import json, os, signal, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg["method"] == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": os.getpid()}), flush=True)
"#;

#[test]
fn on_failure_a_crash_restarts_the_child_and_the_next_call_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::start(
        dir.path(),
        &["--name", "crasher", "--restart", "on-failure"],
        &["python3", "-c", CRASHER],
    );
    let first = app.call(json!(1), "pid", json!({}))["result"].as_u64().unwrap();
    let crash = app.call(json!(2), "segv", json!({}));
    assert_eq!(crash["error"]["code"], -32050, "the call that crashed it is answered: {crash}");
    let second = app.call(json!(3), "pid", json!({}))["result"].as_u64().unwrap();
    assert_ne!(first, second);
    let s = status(&app.socket);
    assert_eq!(s["restarts"], 1, "{s}");
    assert!(s["last_exit"].as_str().unwrap().contains("SIGSEGV"), "{s}");
    assert_eq!(app.finish().code(), Some(0));
}

#[test]
fn without_on_failure_a_crash_ends_the_wrapper_as_it_ended_the_child() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::start(dir.path(), &["--name", "crasher"], &["python3", "-c", CRASHER]);
    app.call(json!(1), "pid", json!({}));
    app.send(json!(2), "segv", json!({}));
    wait_until(Duration::from_secs(10), "the wrapper to end", || app.child.try_wait().unwrap().is_some());
    let status = app.child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}");
}
