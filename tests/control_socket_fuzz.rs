//! The control socket under hostile clients, on a real agent: garbage, invalid UTF-8, a
//! 100 MB line, half a message and a stall, 1,000 idle connections, connect/disconnect
//! churn, and every method with wrong types in every field. Throughout, another client
//! is answered; afterwards the agent's descriptors and memory are back where they were;
//! every bad message got a JSON-RPC error and the agent never crashed.

mod common;

use common::agent::Agent;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
"#;

/// A client that said hello.
struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next: u64,
}

impl Client {
    fn connect(socket: &Path) -> Client {
        let stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut client =
            Client { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream, next: 1 };
        let hello = client.call("hello", json!({"version": sidetop::api::PROTOCOL_VERSION}));
        assert!(hello.get("result").is_some(), "{hello}");
        client
    }

    fn send_line(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    /// The next reply (notifications skipped).
    fn reply(&mut self) -> Value {
        loop {
            let mut line = String::new();
            assert!(self.reader.read_line(&mut line).unwrap() > 0, "the agent closed the connection");
            let value: Value = serde_json::from_str(&line).unwrap();
            if value.get("method").is_none() {
                return value;
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(message.to_string().as_bytes());
        let reply = self.reply();
        assert_eq!(reply["id"], json!(id), "{reply}");
        reply
    }
}

fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The values a field of the wrong type gets.
fn wrong_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!(u64::MAX),
        json!("x"),
        json!("🦀\u{0}\u{1b}[2J"),
        json!([]),
        json!([1, "a"]),
        json!({}),
        json!({"nested": {"deep": [null]}}),
        json!("y".repeat(100_000)),
    ]
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() => "uint",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every method (but `shutdown`) with each field of its params, and the params
/// themselves, given every wrong value; and whether an error is owed: always where the
/// params are not an object, and where a field's value is of another JSON type than
/// the field's (fields that take any JSON, and null, which means unset, aside).
fn wrong_calls() -> Vec<(String, Value, bool)> {
    let plausible: Vec<(&str, Value)> = vec![
        ("hello", json!({"version": 2, "read_only": false})),
        (
            "subscribe",
            json!({"events": true, "status": false, "samples": false, "traffic": false, "stderr": false, "logs": ["echo"], "from_seq": 0}),
        ),
        ("follow_logs", json!({"sidecars": {"echo": 0}, "stderr": false})),
        ("status", json!({})),
        ("snapshot", json!({})),
        ("start", json!({"sidecar": "echo"})),
        ("stop", json!({"sidecar": "nobody", "sidecars": ["nobody"]})),
        ("restart", json!({"sidecar": "nobody"})),
        ("kill", json!({"sidecar": "nobody"})),
        ("signal", json!({"sidecar": "nobody", "signal": "SIGUSR1"})),
        ("logs", json!({"sidecar": "echo", "lines": 10, "stderr": false})),
        ("events", json!({"sidecar": "echo", "limit": 10})),
        (
            "request",
            json!({"sidecar": "echo", "method": "ping", "params": {}, "template": "none", "spec": {"Rpc": {"method": "ping"}}}),
        ),
        ("load", json!({"sidecar": "nobody", "requests": 1, "concurrency": 1, "duration_ms": 10})),
        ("stdin", json!({"sidecar": "nobody", "text": "x"})),
        ("clear_logs", json!({"sidecar": "nobody"})),
        ("record", json!({"file": "relative.jsonl", "sidecar": "nobody", "max_bytes": 4096, "stop": false})),
        ("no_such_method", json!({})),
    ];
    const ANY: [&str; 5] = ["params", "value", "body", "args", "spec"];
    let mut calls = Vec::new();
    for (method, params) in plausible {
        for wrong in wrong_values() {
            calls.push((method.to_string(), wrong.clone(), !wrong.is_null() && !wrong.is_object()));
            for (key, right) in params.as_object().unwrap() {
                let mut broken = params.clone();
                broken[key] = wrong.clone();
                // null is an unset option, not a wrong type.
                let owed =
                    !ANY.contains(&key.as_str()) && !wrong.is_null() && json_type(right) != json_type(&wrong);
                calls.push((method.to_string(), broken, owed));
            }
        }
    }
    calls
}

#[test]
fn the_control_socket_survives_hostile_clients() {
    let agent = Agent::running(CONFIG);
    let pid = agent.child.id();
    let socket = agent.socket.clone();
    let mut watcher = Client::connect(&socket);
    let answers = |watcher: &mut Client| {
        let status = watcher.call("status", json!({}));
        assert!(status["result"]["sidecars"].is_array(), "{status}");
    };
    answers(&mut watcher);
    // Warmed up: 1,000 connections at once first, so what follows is measured against
    // an agent that has allocated what that many need (the allocator keeps its high
    // water mark: growth past it is what a leak would look like).
    let warm: Vec<UnixStream> = (0..1000).map(|_| UnixStream::connect(&socket).unwrap()).collect();
    answers(&mut watcher);
    drop(warm);
    for _ in 0..20 {
        drop(Client::connect(&socket));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds_of(pid) > 30 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (fds_before, rss_before) = (fds_of(pid), rss_kib(pid));

    // Garbage and invalid UTF-8: a parse error each, and the connection still works.
    let mut tried = 0u64;
    let mut hostile = Client::connect(&socket);
    for garbage in [
        &b"garbage"[..],
        b"\xff\xfe\xfd{}",
        b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"st\xc3",
        b"[",
        b"{}}",
        b"\x1b[2J\x00\x07",
    ] {
        hostile.send_line(garbage);
        let reply = hostile.reply();
        assert_eq!(reply["error"]["code"], json!(-32700), "{:?}: {reply}", String::from_utf8_lossy(garbage));
        tried += 1;
    }
    for no_method in [json!({"jsonrpc": "2.0", "id": 9}), json!({"jsonrpc": "2.0", "id": 10, "method": 5})] {
        hostile.send_line(no_method.to_string().as_bytes());
        let reply = hostile.reply();
        assert_eq!(reply["error"]["code"], json!(-32600), "{reply}");
        tried += 1;
    }

    // Wrong types in every field of every method: an error each, never a crash.
    let calls = wrong_calls();
    let mut owed_errors = 0;
    for (method, params, owed) in &calls {
        let reply = hostile.call(method, params.clone());
        let shown: String = params.to_string().chars().take(120).collect();
        assert!(
            reply["error"]["code"].is_i64() || reply.get("result").is_some(),
            "{method} {shown}: {reply}"
        );
        if *owed {
            assert!(reply["error"]["code"].is_i64(), "{method} {shown}: a wrong type is an error: {reply}");
            owed_errors += 1;
        }
        tried += 1;
    }
    assert!(owed_errors > 300, "{owed_errors}");
    drop(hostile);
    answers(&mut watcher);

    // A 100 MB line: refused with an error once past the cap, the connection closed.
    let mut huge = UnixStream::connect(&socket).unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = huge.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            if writer.write_all(&chunk).is_err() {
                return; // the agent closed it: expected
            }
        }
    });
    let mut reply = String::new();
    BufReader::new(&mut huge).read_line(&mut reply).unwrap();
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["error"]["code"], json!(-32600), "{reply}");
    flood.join().unwrap();
    drop(huge);
    tried += 1;

    // Half a message, then a stall: the others are answered meanwhile.
    let mut stalled = UnixStream::connect(&socket).unwrap();
    stalled.write_all(b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"meth").unwrap();
    answers(&mut watcher);

    // 1,000 idle connections held open: the watcher is still answered.
    let idle: Vec<UnixStream> = (0..1000).map(|_| UnixStream::connect(&socket).unwrap()).collect();
    answers(&mut watcher);
    let held = idle.len();
    drop(idle);
    drop(stalled);

    // Connect/disconnect churn, 1,000 a second for 10 s, with the watcher asking
    // throughout; every answer within a second.
    let churn_socket = socket.clone();
    let churn = std::thread::spawn(move || {
        let mut cycles = 0u64;
        let begun = Instant::now();
        while begun.elapsed() < Duration::from_secs(10) {
            let tick = Instant::now();
            for _ in 0..100 {
                if let Ok(mut s) = UnixStream::connect(&churn_socket) {
                    let _ = s.write_all(
                        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":{\"version\":2}}\n",
                    );
                    cycles += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed()));
        }
        cycles
    });
    let mut slowest = Duration::ZERO;
    while !churn.is_finished() {
        let asked = Instant::now();
        answers(&mut watcher);
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let cycles = churn.join().unwrap();
    assert!(cycles >= 5_000, "{cycles} connections in 10 s");

    // Back where it was: descriptors (the churn's sessions end once their peers are
    // gone) and memory.
    answers(&mut watcher);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds_of(pid) > fds_before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (fds_after, rss_after) = (fds_of(pid), rss_kib(pid));
    eprintln!(
        "control socket fuzz: {tried} bad messages ({} wrong-typed calls, {owed_errors} with a type error owed), a 100 MB line, {held} idle \
         connections held, {cycles} connect/disconnect cycles in 10 s (slowest answer meanwhile {:.1} ms); \
         fds {fds_before} -> {fds_after}, RSS {rss_before} KiB -> {rss_after} KiB",
        calls.len(),
        slowest.as_secs_f64() * 1e3
    );
    assert!(fds_after <= fds_before + 2, "descriptors: {fds_before} before, {fds_after} after");
    // Allocator arenas make the figure noisy (+1.2 to +8.2 MB over runs on a loaded
    // 2-core machine); a leak of 1.2 KB per connect cycle (12 MB over 10,000) still fails.
    assert!(rss_after < rss_before + 12 * 1024, "RSS: {rss_before} KiB before, {rss_after} KiB after");
    assert!(slowest < Duration::from_secs(2), "the watcher waited {slowest:?}");
    let mut rest = Vec::new();
    let _ = watcher.reader.get_mut().set_nonblocking(true);
    let _ = watcher.reader.read_to_end(&mut rest);
    drop(agent);
}
