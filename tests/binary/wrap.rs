//! `sidetop wrap` as an application uses it: a real child behind the wrapper, real pipes,
//! real signals; the bytes compared with the same child run directly, and the calls seen
//! through the wrapper's engine socket.

use crate::common;

use common::{bin, marked_pids, marker, none_left, sidecars_dir, wait_until};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::wrapper::wrap_command as wrap;

fn echo() -> Vec<String> {
    vec!["python3".into(), sidecars_dir().join("jsonrpc_echo.py").display().to_string()]
}

/// What the host sends: requests, a notification, a line that is not JSON, invalid
/// UTF-8, and one request split over two writes.
fn host_bytes() -> Vec<Vec<u8>> {
    let mut writes: Vec<Vec<u8>> = Vec::new();
    for i in 0..50 {
        writes.push(format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}\n").into_bytes());
    }
    writes.push(b"{\"jsonrpc\":\"2.0\",\"method\":\"note\",\"params\":{}}\n".to_vec());
    writes.push(b"this is not json\n".to_vec());
    writes.push(b"\xff\xfe{\"broken\n".to_vec());
    writes.push(b"{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"met".to_vec());
    writes.push(b"hod\":\"echo\",\"params\":{\"x\":\"\xc3\xa9\"}}\n".to_vec());
    writes.push(b"{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"fail\"}\n".to_vec());
    writes
}

/// Runs `child` with the host's bytes on stdin (then closed); returns stdout and status.
fn converse(mut child: Child) -> (Vec<u8>, std::process::ExitStatus) {
    let (mut stdin, reader) = common::wrapper::stdin_and_output(&mut child);
    for write in host_bytes() {
        stdin.write_all(&write).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(stdin);
    let out = reader.join().unwrap();
    (out, child.wait().unwrap())
}

/// Answers each line in order, quoting the bytes it got (so what reached the child
/// shows in what comes back), in writes of odd sizes.
const SERIAL: &str = r#"
import sys
out = sys.stdout.buffer
out.write(b"starting\n"); out.flush()
for line in sys.stdin.buffer:
    reply = b"got %d bytes: " % len(line) + line
    out.write(reply[:7]); out.flush()
    out.write(reply[7:]); out.flush()
sys.stderr.write("done\n")
sys.exit(3)
"#;

#[test]
fn the_application_gets_the_same_bytes_as_from_the_child_directly() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = ["python3".to_string(), "-c".to_string(), SERIAL.to_string()];
    let direct = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (want, direct_status) = converse(direct);
    let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let wrapped = wrap(dir.path(), &[], &argv).stderr(Stdio::null()).spawn().unwrap();
    let (got, status) = converse(wrapped);
    assert!(want.len() > 50 * 40, "the direct run answered: {}", String::from_utf8_lossy(&want));
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    assert_eq!(got, want, "byte for byte");
    assert_eq!(status.code(), direct_status.code(), "closing stdin ends both the same way");
}

#[test]
fn content_length_frames_pass_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let script = sidecars_dir().join("jsonrpc_echo.py");
    let frame = |body: &str| format!("Content-Length: {}\r\n\r\n{body}", body.len());
    let input = [
        frame(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
        frame(r#"{"jsonrpc":"2.0","id":2,"method":"echo","params":[1,2,3]}"#),
    ]
    .concat();
    let run = |mut c: Command| {
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.stdout, out.status.code())
    };
    let mut direct = Command::new("python3");
    direct
        .arg(&script)
        .arg("--content-length")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let script = script.display().to_string();
    let mut wrapped =
        wrap(dir.path(), &["--framing", "content-length"], &["python3", &script, "--content-length"]);
    wrapped.stderr(Stdio::null());
    let (want, want_code) = run(direct);
    let (got, code) = run(wrapped);
    assert!(String::from_utf8_lossy(&want).contains("Content-Length"), "{}", String::from_utf8_lossy(&want));
    assert_eq!(got, want);
    assert_eq!(code, want_code);
}

#[test]
fn the_wrapper_exits_with_the_childs_code_and_dies_of_its_signal() {
    let dir = tempfile::tempdir().unwrap();
    let status = wrap(dir.path(), &[], &["sh", "-c", "exit 7"]).status().unwrap();
    assert_eq!(status.code(), Some(7));
    let status = wrap(dir.path(), &[], &["sh", "-c", "kill -SEGV $$"]).status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "killed by SIGSEGV, not exit 139: {status:?}");
    let status = wrap(dir.path(), &[], &["/no/such/program"]).output().unwrap();
    assert_eq!(status.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&status.stderr).contains("/no/such/program"));
}

#[test]
fn stderr_is_passed_on_and_signals_reach_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import signal, sys, time
def on(sig, _):
    print(f"got {signal.Signals(sig).name}", flush=True)
    sys.exit(5)
signal.signal(signal.SIGUSR1, on)
print("ready", flush=True)
print("to stderr", file=sys.stderr, flush=True)
time.sleep(30)
"#;
    let mut child = wrap(dir.path(), &[], &["python3", "-c", script]).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut eline = String::new();
    err.read_line(&mut eline).unwrap();
    assert_eq!(eline, "to stderr\n");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got SIGUSR1\n");
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

#[test]
fn a_sigkilled_wrapper_takes_the_childs_tree_along() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker();
    let mut child = wrap(dir.path(), &[], &["sh", "-c", "sleep 300 & setsid sleep 300 & echo up; wait"])
        .env("SIDETOP_TEST_MARKER", &m)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "up\n");
    wait_until(Duration::from_secs(5), "the child and its two sleeps", || marked_pids(&m).len() >= 3);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(none_left(&m), "alive after the wrapper was SIGKILLed: {:?}", marked_pids(&m));
}

/// The engine's snapshot over the wrapper's socket.
fn snapshot(socket: &std::path::Path) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut client = sidetop::client::Client::connect(socket, true).await.unwrap();
        client.call("snapshot", serde_json::json!({})).await.unwrap()
    })
}

#[test]
fn the_applications_calls_are_measured_per_method_with_their_origin() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("wrap.sock");
    let cmd = echo();
    let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let mut child = wrap(dir.path(), &["--name", "echo", "--socket", socket.to_str().unwrap()], &argv)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut replies = 0;
    let mut line = String::new();
    for i in 0..20 {
        writeln!(stdin, "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}").unwrap();
    }
    writeln!(stdin, "{{\"jsonrpc\":\"2.0\",\"id\":\"f\",\"method\":\"fail\"}}").unwrap();
    writeln!(stdin, "{{\"jsonrpc\":\"2.0\",\"id\":\"n\",\"method\":\"notify\"}}").unwrap();
    stdin.flush().unwrap();
    while replies < 22 {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the wrapper ended early");
        if line.contains("\"id\"") {
            replies += 1;
        }
    }
    wait_until(Duration::from_secs(10), "the wrapper's socket", || socket.exists());
    let mut snap = Value::Null;
    wait_until(Duration::from_secs(5), "22 calls observed", || {
        snap = snapshot(&socket);
        snap["latency"][0]["overall"]["all"]["count"] == 22
    });
    let methods = snap["latency"][0]["methods"].as_array().unwrap();
    let count = |name: &str| {
        methods.iter().find(|m| m["method"] == name).map(|m| m["all"]["count"].as_u64().unwrap()).unwrap_or(0)
    };
    assert_eq!(count("ping"), 20, "{methods:?}");
    assert_eq!(count("fail"), 1);
    let traffic = snap["traffic"][0].as_array().unwrap();
    assert!(traffic.iter().any(|e| e["method"] == "ping" && e["origin"] == "application"), "{traffic:?}");
    assert!(
        traffic.iter().any(|e| e["method"] == "fail" && e["outcome"].to_string().contains("rpc_error")),
        "the error reply is the outcome: {traffic:?}"
    );
    assert!(
        traffic.iter().any(|e| e["origin"] == "sidecar" && e["method"] != "(frame)"),
        "the sidecar's own notification is seen: {traffic:?}"
    );
    // `ctl latency` and `ctl traffic` read the same, for people and for scripts.
    let ctl = |args: &[&str]| {
        let out = Command::new(bin()).arg("ctl").arg("--socket").arg(&socket).args(args).output().unwrap();
        assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let rows: Vec<Value> =
        ctl(&["latency", "echo", "--json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ping = rows.iter().find(|r| r["method"] == "ping").expect("a ping row");
    assert_eq!(
        (ping["origin"].as_str(), ping["count"].as_u64()),
        (Some("application"), Some(20)),
        "{rows:?}"
    );
    assert!(ping["p50_us"].as_u64().unwrap() <= ping["p99_us"].as_u64().unwrap());
    let fail = rows.iter().find(|r| r["method"] == "fail").unwrap();
    assert_eq!(fail["errors"], 1, "{rows:?}");
    let table = ctl(&["latency", "echo"]);
    assert!(table.starts_with("METHOD") && table.contains("application"), "{table}");
    let exchanges: Vec<Value> = ctl(&["traffic", "echo", "-n", "3", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exchanges.len(), 3, "{exchanges:?}");
    let text = ctl(&["traffic", "echo", "-n", "50"]);
    assert!(text.contains("application -> ping") && text.contains("  > {"), "{text}");
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!socket.exists(), "the socket goes with the wrapper");
}

/// Answers each line at once with the same bytes, `"method":"bulk"` made a result.
const BULK_ANSWERER: &str = r#"
import sys
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(line.replace(b'"method":"bulk"', b'"result":1', 1))
    sys.stdout.buffer.flush()
"#;

#[test]
fn after_reads_the_observer_dropped_it_picks_the_stream_up_at_the_next_frame() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("wrap.sock");
    let mut child = wrap(
        dir.path(),
        &["--name", "bulk", "--socket", socket.to_str().unwrap()],
        &["python3", "-c", BULK_ANSWERER],
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    const FRAMES: usize = 3000;
    const FRAME: usize = 64 << 10;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 20];
        let mut total = 0;
        // Each answer is 5 bytes shorter than its request (`"result":1`).
        while total < FRAMES * (FRAME - 5) {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "the wrapper ended early");
            total += n;
        }
    });
    // Faster than an observer that looks every few milliseconds keeps up with: reads are
    // dropped, and the next ones begin inside frames.
    for i in 0..FRAMES {
        let head = format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"bulk\",\"params\":\"");
        let line = format!("{head}{}\"}}\n", "x".repeat(FRAME - head.len() - 3));
        stdin.write_all(line.as_bytes()).unwrap();
    }
    reader.join().unwrap();
    wait_until(Duration::from_secs(10), "the wrapper's socket", || socket.exists());
    let ctl = |args: &[&str]| {
        let out = Command::new(bin()).arg("ctl").arg("--socket").arg(&socket).args(args).output().unwrap();
        assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let traffic: Vec<Value> = ctl(&["traffic", "bulk", "-n", "200", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(traffic.iter().any(|e| e["method"] == "bulk"), "calls were seen: {}", traffic.len());
    let broken: Vec<&Value> =
        traffic.iter().filter(|e| e["outcome"].to_string().contains("malformed")).collect();
    assert!(broken.is_empty(), "pieces of frames are not reported as the sidecar's: {:?}", &broken[..1]);
    let text = |e: &Value| e["request"].as_str().unwrap_or_default().len();
    assert!(traffic.iter().all(|e| text(e) < 5000), "4 KiB of each side kept");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let log: String = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(log.contains("without being observed"), "reads were dropped, as meant: {log}");
}
