//! sidetop's own requests to a wrapped sidecar (`ctl request`, a dashboard's test
//! request): written between two of the application's frames, under `sidetop-` ids, their
//! replies kept from the application, measured with their own origin beside the
//! application's calls.

use crate::common;

use common::sidecars_dir;
use common::wrapper::{App, ctl, wrap_command};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn echo_script() -> String {
    sidecars_dir().join("jsonrpc_echo.py").display().to_string()
}

fn ctl_output(socket: &Path, args: &[&str]) -> Output {
    Command::new(common::bin()).arg("ctl").arg("--socket").arg(socket).args(args).output().unwrap()
}

/// `ctl latency NAME --json`: count per (method, origin).
fn counts(socket: &Path, name: &str) -> Vec<(String, String, u64)> {
    ctl(socket, &["latency", name, "--json"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["origin"].as_str().unwrap_or("-").to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn count(rows: &[(String, String, u64)], method: &str, origin: &str) -> u64 {
    rows.iter().filter(|r| r.0 == method && r.1 == origin).map(|r| r.2).sum()
}

#[test]
fn a_request_of_sidetops_waits_for_the_applications_frame_and_never_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = echo_script();
    let mut app = App::start(dir.path(), &["--name", "echo"], &["python3", &script]);
    assert_eq!(app.call(json!(0), "ping", json!({}))["result"], "pong");
    // Half a request: sidetop's must not land inside it.
    app.write_raw(br#"{"jsonrpc":"2.0","id":1,"me"#);
    let socket = app.socket.clone();
    let asked = std::thread::spawn(move || ctl_output(&socket, &["request", "echo", "--method", "ping"]));
    std::thread::sleep(Duration::from_millis(300));
    app.write_raw(b"thod\":\"ping\"}\n");
    let reply = app.reply(&json!(1), Duration::from_secs(10));
    assert_eq!(reply["result"], "pong", "the application's request reached the child whole: {reply}");
    let out = asked.join().unwrap();
    assert!(out.status.success(), "ctl request: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pong"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The application's calls and a load run of sidetop's at once.
    let socket = app.socket.clone();
    let load = std::thread::spawn(move || {
        ctl_output(
            &socket,
            &["request", "echo", "--method", "echo", "--params", "[7]", "-n", "200", "-c", "4"],
        )
    });
    for i in 2..302 {
        app.send(json!(i), "echo", json!({"n": i}));
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for i in 2..302 {
        let reply = app.reply(&json!(i), Duration::from_secs(20));
        assert_eq!(reply["result"], json!({"n": i}), "its own answer: {reply}");
    }
    let out = load.join().unwrap();
    assert!(out.status.success(), "the load run: {}", String::from_utf8_lossy(&out.stderr));
    let rows = counts(&app.socket, "echo");
    assert_eq!(count(&rows, "echo", "application"), 300, "{rows:?}");
    assert_eq!(count(&rows, "ping", "application"), 2, "{rows:?}");
    assert_eq!(count(&rows, "echo", "load"), 200, "{rows:?}");
    assert_eq!(count(&rows, "ping", "operator"), 1, "{rows:?}");
    std::thread::sleep(Duration::from_millis(200));
    let stray: Vec<&Value> = app.told.iter().collect();
    assert!(
        stray.iter().all(|m| !m.to_string().contains("sidetop-")),
        "none of sidetop's replies reached the application: {stray:?}"
    );
    assert!(app.finish().success());
}

#[test]
fn content_length_frames_cut_anywhere_keep_sidetops_requests_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("wrap.sock");
    let script = echo_script();
    let mut child = wrap_command(
        dir.path(),
        &["--name", "lsp-ish", "--framing", "content-length", "--socket", socket.to_str().unwrap()],
        &["python3", &script, "--content-length"],
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let (mut stdin, reader) = common::wrapper::stdin_and_output(&mut child);
    common::wait_until(Duration::from_secs(10), "the wrapper's socket", || socket.exists());
    let load_socket = socket.clone();
    let load = std::thread::spawn(move || {
        ctl_output(&load_socket, &["request", "lsp-ish", "--method", "ping", "-n", "100", "-c", "2"])
    });
    // 200 frames written in pieces cut at every few bytes, headers and bodies alike.
    let mut stream = Vec::new();
    for i in 0..200 {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"echo","params":["{}"]}}"#, "x".repeat(i % 37));
        stream.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }
    for (n, piece) in stream.chunks(23).enumerate() {
        stdin.write_all(piece).unwrap();
        stdin.flush().unwrap();
        if n % 40 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let out = load.join().unwrap();
    assert!(out.status.success(), "the load run: {}", String::from_utf8_lossy(&out.stderr));
    drop(stdin);
    let got = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    let text = String::from_utf8_lossy(&got);
    assert!(!text.contains("sidetop-"), "sidetop's replies stay out of the application's stream");
    let mut ids = Vec::new();
    let mut rest = &got[..];
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let len: usize = head.trim().trim_start_matches("Content-Length:").trim().parse().unwrap();
        let body: Value = serde_json::from_slice(&rest[end + 4..end + 4 + len]).unwrap();
        if let Some(id) = body.get("id") {
            assert!(body.get("error").is_none(), "every request reached the child whole: {body}");
            ids.push(id.as_u64().unwrap());
        }
        rest = &rest[end + 4 + len..];
    }
    ids.sort();
    assert_eq!(ids, (0..200).collect::<Vec<u64>>(), "each of the application's requests answered once");
}

#[test]
fn a_json_lines_sidecar_says_why_sidetop_cannot_add_its_own_requests() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import sys\nfor line in sys.stdin:\n    print(line.strip(), flush=True)\n";
    let app =
        App::start(dir.path(), &["--name", "lines", "--protocol", "json-lines"], &["python3", "-c", script]);
    let out = ctl_output(&app.socket, &["request", "lines", "--value", "{}"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("json-lines sidecars answer in order"), "{said}");
    assert!(app.finish().success());
}

#[test]
fn health_checks_from_the_config_go_through_the_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sidetop.toml");
    std::fs::write(
        &config,
        "[[sidecar]]\nname = \"echo\"\ncommand = [\"true\"]\n[sidecar.ipc]\nprotocol = \"jsonrpc\"\n\
         [sidecar.health]\nmethod = \"ping\"\ninterval = \"100ms\"\nfailures = 2\nstart_period = \"0s\"\n\
         restart_on_unhealthy = true\n",
    )
    .unwrap();
    let script = echo_script();
    let mut app = App::start(
        dir.path(),
        &["--name", "echo", "--config", config.to_str().unwrap()],
        &["python3", &script],
    );
    common::wait_until(Duration::from_secs(10), "health checks through the wrapper", || {
        count(&counts(&app.socket, "echo"), "ping", "health") >= 5
    });
    let status = common::wrapper::status(&app.socket);
    assert_eq!(status["restarts"], 0, "healthy, never restarted: {status}");
    assert_eq!(app.call(json!(1), "echo", json!([1]))["result"], json!([1]));
    assert!(app.told.iter().all(|m| !m.to_string().contains("sidetop-")), "{:?}", app.told);
    assert!(app.finish().success());
}
