//! The measuring proxy (`[sidecar.ipc] listen`) as an application meets it: real HTTP
//! servers behind it, real clients in front, bytes compared with direct requests, the
//! application's calls in `ctl latency` and `ctl traffic`.

use crate::common;

use common::agent::{Agent, text};
use common::{free_port, sidecars_dir, wait_until};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn clients() -> std::path::PathBuf {
    sidecars_dir().join("../tests/clients")
}

fn latency(agent: &Agent, name: &str) -> Vec<Value> {
    let out = agent.ctl(&["--json", "latency", name]);
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn count_of(rows: &[Value], method: &str, origin: &str) -> u64 {
    rows.iter()
        .filter(|r| r["method"] == method && r["origin"] == origin)
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum()
}

/// One request on a fresh connection, the raw response as text.
fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_thousand_requests_through_the_proxy_match_direct_ones_and_are_measured_per_route() {
    let (files_port, files_listen) = (free_port(), free_port());
    let (svc_port, svc_listen) = (free_port(), free_port());
    let www = tempfile::tempdir().unwrap();
    let mut blob = Vec::new();
    for i in 0..300_000u32 {
        blob.extend_from_slice(&i.to_le_bytes());
    }
    std::fs::write(www.path().join("blob.bin"), &blob).unwrap();
    std::fs::write(www.path().join("index.txt"), "hello through the proxy\n").unwrap();
    let metrics = free_port();
    let agent = Agent::start_with(
        &format!(
            r#"
[[sidecar]]
name = "files"
command = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{files_port}"]
cwd = "{www}"
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{files_port}"
listen = "127.0.0.1:{files_listen}"
[sidecar.health]
path = "/index.txt"
interval = "200ms"

[[sidecar]]
name = "svc"
command = ["python3", "{{sidecars}}/http_service.py"]
env = {{ PORT = "{svc_port}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{svc_port}"
listen = "127.0.0.1:{svc_listen}"
[sidecar.health]
path = "/health"
interval = "200ms"
"#,
            www = www.path().display()
        ),
        &["--metrics", &format!("127.0.0.1:{metrics}")],
    );
    wait_until(Duration::from_secs(20), "both ready", || {
        agent.status().iter().filter(|s| s["state"] == "ready").count() == 2
    });
    let compare = |direct: u16, proxied: u16, count: &str, paths: &[&str]| -> Value {
        let out = Command::new("python3")
            .arg(clients().join("http_compare.py"))
            .args([direct.to_string(), proxied.to_string(), count.to_string()])
            .args(paths)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let files = compare(files_port, files_listen, "400", &["/blob.bin", "/index.txt", "/missing-{i}", "/"]);
    assert_eq!(files["differing"], 0, "{files}");
    assert!(files["bytes"].as_u64().unwrap() > 100 * 1_200_000, "{files}");
    let svc = compare(svc_port, svc_listen, "600", &["/health", "/fail", "/users/{i}", "POST /price"]);
    assert_eq!(svc["differing"], 0, "{svc}");

    wait_until(Duration::from_secs(10), "the application's calls counted", || {
        count_of(&latency(&agent, "svc"), "GET /users/:id", "application") == 150
    });
    let rows = latency(&agent, "svc");
    assert_eq!(count_of(&rows, "GET /health", "application"), 150, "{rows:?}");
    assert_eq!(count_of(&rows, "GET /fail", "application"), 150, "{rows:?}");
    assert_eq!(count_of(&rows, "POST /price", "application"), 150, "{rows:?}");
    let fail = rows.iter().find(|r| r["method"] == "GET /fail" && r["origin"] == "application").unwrap();
    assert_eq!(fail["errors"], 150, "a 500 is an error: {fail}");
    assert!(count_of(&rows, "GET /health", "health") > 0, "sidetop's own checks are apart: {rows:?}");
    let files_rows = latency(&agent, "files");
    assert_eq!(count_of(&files_rows, "GET /blob.bin", "application"), 100, "{files_rows:?}");
    assert_eq!(count_of(&files_rows, "GET /missing-:id", "application"), 0, "a word with a number is kept");
    assert_eq!(
        files_rows
            .iter()
            .filter(|r| r["origin"] == "application")
            .map(|r| r["count"].as_u64().unwrap())
            .sum::<u64>(),
        400
    );

    let traffic = text(&agent.ctl(&["traffic", "svc"]));
    assert!(traffic.contains("application -> GET /users/:id"), "{traffic}");
    assert!(traffic.contains("HTTP 500"), "{traffic}");
    let scraped = get(metrics, "/metrics");
    assert!(
        scraped.lines().any(|l| l.contains("sidecar=\"svc\"") && l.contains("method=\"GET /users/:id\"")),
        "the routes are in /metrics: {scraped}"
    );
}

#[test]
fn a_hundred_megabytes_stream_through_in_flat_memory_and_a_hang_up_cancels_the_sidecar_side() {
    let (port, listen) = (free_port(), free_port());
    let (stream_port, stream_listen) = (free_port(), free_port());
    let www = tempfile::tempdir().unwrap();
    let big = www.path().join("big.bin");
    {
        let mut file = std::fs::File::create(&big).unwrap();
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
        for _ in 0..100 {
            file.write_all(&block).unwrap();
        }
    }
    let agent = Agent::start(&format!(
        r#"
[[sidecar]]
name = "files"
command = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
cwd = "{www}"
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{listen}"

[[sidecar]]
name = "stream"
command = ["python3", "{{sidecars}}/test/stream_http.py"]
env = {{ PORT = "{stream_port}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{stream_port}"
listen = "127.0.0.1:{stream_listen}"
[sidecar.health]
path = "/health"
interval = "200ms"
"#,
        www = www.path().display()
    ));
    wait_until(Duration::from_secs(20), "both ready", || {
        agent.status().iter().filter(|s| s["state"] == "ready").count() == 2
    });
    let pid = agent.child.id();
    let before = rss_kb(pid, "VmRSS:");
    let script = "import hashlib,sys,urllib.request\n\
                  h=hashlib.sha256();n=0\n\
                  r=urllib.request.urlopen(sys.argv[1])\n\
                  while True:\n\
                  \x20 b=r.read(1<<16)\n\
                  \x20 if not b: break\n\
                  \x20 h.update(b);n+=len(b)\n\
                  print(n,h.hexdigest())";
    let fetch = |url: String| {
        let out = Command::new("python3").args(["-c", script, &url]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let proxied = fetch(format!("http://127.0.0.1:{listen}/big.bin"));
    let direct = fetch(format!("http://127.0.0.1:{port}/big.bin"));
    assert_eq!(proxied, direct);
    assert!(proxied.starts_with("104857600 "), "{proxied}");
    let peak = rss_kb(pid, "VmHWM:");
    assert!(
        peak < before + 32 * 1024,
        "100 MB through the proxy raised sidetop's memory from {before} kB to a peak of {peak} kB"
    );

    // A client that reads a little of an endless stream and goes away.
    let mut client = TcpStream::connect(("127.0.0.1", stream_listen)).unwrap();
    write!(client, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0; 1 << 20];
    let mut got = 0;
    while got < 512 * 1024 {
        got += client.read(&mut buf).unwrap();
    }
    let hung_up = Instant::now();
    drop(client);
    wait_until(Duration::from_secs(10), "the sidecar to see the hang-up", || {
        text(&agent.ctl(&["logs", "stream"])).contains("stream cancelled after")
    });
    eprintln!("the sidecar saw the hang-up {:?} after it", hung_up.elapsed());
    wait_until(Duration::from_secs(5), "the cut exchange in the traffic", || {
        text(&agent.ctl(&["traffic", "stream"])).contains("hung up before the response ended")
    });

    // Server-sent events arrive one by one, not at the end.
    let mut sse = TcpStream::connect(("127.0.0.1", stream_listen)).unwrap();
    write!(sse, "GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut seen = String::new();
    while !seen.contains("event 0") {
        let n = sse.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the first event: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(started.elapsed() < Duration::from_millis(350), "the first event waited for the rest");
    assert!(!seen.contains("event 2"), "all events came at once: {seen}");
}

#[test]
fn a_crash_looping_sidecar_answers_503_with_its_last_exit_and_a_taken_port_fails_only_its_sidecar() {
    let (port, listen) = (free_port(), free_port());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let (ok_port, ok_listen) = (free_port(), free_port());
    let agent = Agent::start(&format!(
        r#"
[[sidecar]]
name = "crashy"
command = ["sh", "-c", "echo 'config file missing: /etc/crashy.toml' >&2; exit 3"]
restart = "always"
backoff = {{ initial = "50ms", max = "50ms" }}
crash_loop = {{ max_exits = 3, window = "60s" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{listen}"
timeout = "2s"

[[sidecar]]
name = "blocked"
command = ["python3", "{{sidecars}}/http_service.py"]
env = {{ PORT = "{ok_port}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{ok_port}"
listen = "127.0.0.1:{taken_port}"

[[sidecar]]
name = "fine"
command = ["python3", "{{sidecars}}/http_service.py"]
env = {{ PORT = "{ok_listen}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{ok_listen}"
[sidecar.health]
path = "/health"
interval = "200ms"
"#
    ));
    wait_until(Duration::from_secs(20), "crashy in a crash loop", || {
        agent.status().iter().any(|s| s["name"] == "crashy" && s["state"] == "crash-loop")
    });
    let started = Instant::now();
    let answer = get(listen, "/anything");
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("crash loop"), "{answer}");
    assert!(answer.contains("exit code 3"), "{answer}");
    assert!(answer.contains("config file missing"), "the last stderr line: {answer}");
    assert!(took < Duration::from_secs(1), "a crash loop is not waited for: {took:?}");

    let status = agent.status();
    let blocked = status.iter().find(|s| s["name"] == "blocked").unwrap();
    assert_eq!(blocked["state"], "failed", "{blocked}");
    let shown = blocked.to_string();
    assert!(shown.contains(&format!("listen 127.0.0.1:{taken_port}")) && shown.contains("in use"), "{shown}");
    wait_until(Duration::from_secs(20), "the others keep running", || {
        agent.status().iter().any(|s| s["name"] == "fine" && s["state"] == "ready")
    });
    let rows = latency(&agent, "crashy");
    assert_eq!(
        count_of(&rows, "GET /anything", "application"),
        1,
        "the refused request is counted: {rows:?}"
    );
    drop(taken);
}

#[test]
fn a_request_while_the_sidecar_restarts_waits_for_it_and_one_that_never_comes_up_gets_503_at_the_bound() {
    let (port, listen) = (free_port(), free_port());
    let (never, never_listen) = (free_port(), free_port());
    let agent = Agent::start(&format!(
        r#"
[[sidecar]]
name = "svc"
command = ["python3", "{{sidecars}}/http_service.py"]
env = {{ PORT = "{port}" }}
restart = "always"
backoff = {{ initial = "700ms", max = "700ms" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{listen}"
timeout = "5s"
[sidecar.health]
path = "/health"
interval = "100ms"

[[sidecar]]
name = "never-ready"
command = ["sleep", "60"]
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{never}"
listen = "127.0.0.1:{never_listen}"
timeout = "1s"
[sidecar.health]
path = "/health"
interval = "100ms"
"#
    ));
    wait_until(Duration::from_secs(20), "svc ready", || {
        agent.status().iter().any(|s| s["name"] == "svc" && s["state"] == "ready")
    });
    assert!(get(listen, "/health").starts_with("HTTP/1.1 200"));
    let out = agent.ctl(&["signal", "svc", "KILL"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(Duration::from_secs(5), "svc backing off", || {
        agent.status().iter().any(|s| s["name"] == "svc" && s["state"] != "ready")
    });
    let answer = get(listen, "/health");
    assert!(answer.starts_with("HTTP/1.1 200"), "the request waited for the restart: {answer}");

    let started = Instant::now();
    let answer = get(never_listen, "/health");
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("not ready after 1s"), "{answer}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn grpc_calls_through_the_proxy_are_measured_per_method_with_their_status_and_streams_to_the_last_message() {
    let (port, listen) = (free_port(), free_port());
    let python = common::grpc_python();
    let agent = Agent::start(&format!(
        r#"
[[sidecar]]
name = "pricing"
command = ["{python}", "-u", "{{sidecars}}/grpc_service.py", "{port}"]
[sidecar.ipc]
protocol = "grpc"
address = "127.0.0.1:{port}"
listen = "127.0.0.1:{listen}"
[sidecar.health]
grpc_service = ""
interval = "200ms"
"#
    ));
    wait_until(Duration::from_secs(30), "pricing ready", || {
        agent.status().iter().any(|s| s["name"] == "pricing" && s["state"] == "ready")
    });
    let client = |args: &[&str]| -> Value {
        let out = Command::new(&python)
            .arg(clients().join("grpc_proxy_client.py"))
            .arg(listen.to_string())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let got = client(&[]);
    assert_eq!(got["ok"], 20, "{got}");
    assert_eq!(got["not_found"], 5, "{got}");
    assert_eq!(
        got["streams"],
        serde_json::json!([[0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0]]),
        "{got}"
    );
    assert_eq!(got["stream_errors"], serde_json::json!([["NOT_FOUND", [0.0, 1.0]]]), "{got}");

    let unary = "/sidetop.example.Pricing/GetPrice";
    let stream = "/sidetop.example.Pricing/Ticks";
    wait_until(Duration::from_secs(10), "the calls counted", || {
        let rows = latency(&agent, "pricing");
        count_of(&rows, unary, "application") == 25 && count_of(&rows, stream, "application") == 4
    });
    let rows = latency(&agent, "pricing");
    let row =
        |method: &str| rows.iter().find(|r| r["method"] == method && r["origin"] == "application").unwrap();
    assert_eq!(row(unary)["errors"], 5, "NOT_FOUND is an error: {rows:?}");
    assert_eq!(row(stream)["errors"], 1, "{rows:?}");
    // Five messages 20 ms apart: a stream is measured to its last one, not its headers.
    assert!(row(stream)["p50_us"].as_u64().unwrap() >= 90_000, "{rows:?}");
    let traffic = text(&agent.ctl(&["traffic", "pricing"]));
    assert!(traffic.contains("error 5: unknown pair FAIL"), "{traffic}");

    let out = agent.ctl(&["stop", "pricing"]);
    assert!(out.status.success(), "{}", text(&out));
    let down = client(&["down"]);
    assert_eq!(down["code"], "UNAVAILABLE", "{down}");
    assert!(down["details"].as_str().unwrap().contains("pricing is not available: it is stopped"), "{down}");
}

/// A WebSocket client of `ws_service.py` through the proxy: one JSON-RPC call, its reply
/// (pushes that come first are collected), with the pushes seen.
struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pushes: Vec<String>,
}

impl WsClient {
    async fn connect(port: u16) -> Result<WsClient, String> {
        let (socket, resp) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(resp.status(), 101);
        Ok(WsClient { socket, pushes: Vec::new() })
    }

    async fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let request = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.socket.send(Message::text(request.to_string())).await.unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a reply in time")
                .expect("the connection open")
                .unwrap();
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == id {
                return value;
            }
            self.pushes.push(value["method"].as_str().unwrap_or("?").to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_over_a_websocket_through_the_proxy_is_matched_both_ways_and_a_reconnect_waits_for_the_restart()
 {
    let (port, listen) = (free_port(), free_port());
    let agent = Agent::start(&format!(
        r#"
[[sidecar]]
name = "ws"
command = ["python3", "-u", "{{sidecars}}/ws_service.py", "{port}"]
env = {{ WS_HEARTBEAT_S = "0.1" }}
restart = "always"
backoff = {{ initial = "500ms", max = "500ms" }}
[sidecar.ipc]
protocol = "jsonrpc"
transport = "websocket"
url = "ws://127.0.0.1:{port}/"
listen = "127.0.0.1:{listen}"
[sidecar.health]
method = "ping"
interval = "200ms"
"#
    ));
    let ready = |agent: &Agent| agent.status().iter().any(|s| s["name"] == "ws" && s["state"] == "ready");
    wait_until(Duration::from_secs(20), "ws ready", || ready(&agent));
    let mut client = WsClient::connect(listen).await.unwrap();
    for id in 0..10 {
        assert_eq!(client.call(id, "ping", Value::Null).await["result"], "pong");
    }
    assert_eq!(client.call(10, "add", serde_json::json!({"a": 2, "b": 3})).await["result"], 5);
    let failed = client.call(11, "fail", Value::Null).await;
    assert_eq!(failed["error"]["code"], -32000, "{failed}");
    // (Before the subscription's ticks fill the traffic ring.)
    wait_until(Duration::from_secs(5), "the call in the traffic", || {
        text(&agent.ctl(&["traffic", "ws"])).contains("application -> add")
    });
    let sub = client.call(12, "subscribe", serde_json::json!({"topic": "ticks", "interval_ms": 50})).await;
    assert!(sub["result"]["subscription"].is_string(), "{sub}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.call(13, "sleep", serde_json::json!({"ms": 100})).await["result"]["slept_ms"], 100);
    assert!(client.pushes.iter().any(|m| m == "ticks"), "{:?}", client.pushes);

    let rows = {
        let mut rows = Vec::new();
        wait_until(Duration::from_secs(10), "the application's calls counted", || {
            rows = latency(&agent, "ws");
            count_of(&rows, "ping", "application") == 10
        });
        rows
    };
    assert_eq!(count_of(&rows, "add", "application"), 1, "{rows:?}");
    let fail = rows.iter().find(|r| r["method"] == "fail" && r["origin"] == "application").unwrap();
    assert_eq!(fail["errors"], 1, "{rows:?}");
    let slept = rows.iter().find(|r| r["method"] == "sleep" && r["origin"] == "application").unwrap();
    assert!(slept["p50_us"].as_u64().unwrap() >= 100_000, "the reply's latency, not the frame's: {rows:?}");
    assert!(count_of(&rows, "ping", "health") > 0, "sidetop's own checks apart: {rows:?}");
    let traffic = text(&agent.ctl(&["traffic", "ws"]));
    assert!(traffic.contains("sidecar <- ticks"), "the application's pushes: {traffic}");

    // The sidecar dies; the client reconnects at once and is answered once it is back.
    let out = agent.ctl(&["signal", "ws", "KILL"]);
    assert!(out.status.success(), "{}", text(&out));
    drop(client);
    wait_until(Duration::from_secs(5), "ws restarting", || !ready(&agent));
    let mut again = WsClient::connect(listen).await.expect("the upgrade waits for the restart");
    assert_eq!(again.call(1, "ping", Value::Null).await["result"], "pong");

    // Stopped: an upgrade is refused with 503 and the reason.
    let out = agent.ctl(&["stop", "ws"]);
    assert!(out.status.success(), "{}", text(&out));
    let refused = WsClient::connect(listen).await.err().expect("refused");
    assert!(refused.contains("503"), "{refused}");
}

#[test]
fn the_applications_http_calls_are_recorded_and_replay_against_the_sidecar() {
    let (port, listen) = (free_port(), free_port());
    let toml = format!(
        r#"
[[sidecar]]
name = "svc"
command = ["python3", "{{sidecars}}/http_service.py"]
env = {{ PORT = "{port}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{listen}"
[sidecar.health]
path = "/health"
interval = "1s"
"#
    );
    let out_dir = tempfile::tempdir().unwrap();
    let recording = out_dir.path().join("app.jsonl");
    let mut agent = Agent::start_with(&toml, &["--record", recording.to_str().unwrap()]);
    wait_until(Duration::from_secs(20), "svc ready", || agent.status().iter().any(|s| s["state"] == "ready"));
    for i in 0..12 {
        assert!(get(listen, &format!("/slow?ms=20&n={i}")).starts_with("HTTP/1.1 200"));
    }
    for i in 0..4 {
        assert!(get(listen, &format!("/users/{i}")).starts_with("HTTP/1.1 404"));
    }
    let out = agent.ctl(&["shutdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    agent.child.wait().unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(&recording)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["origin"] == "application")
        .collect();
    assert_eq!(lines.len(), 16, "{lines:?}");
    assert_eq!(lines[0]["method"], "GET /slow");
    assert_eq!(lines[0]["spec"]["http"]["path"], "/slow?ms=20&n=0", "{}", lines[0]);

    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), &toml, &common::marker());
    let out = Command::new(common::bin())
        .arg("--config")
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .args(["replay", recording.to_str().unwrap(), "--speed", "max"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(said.contains("replaying 16 requests to svc"), "{said}");
    assert!(said.lines().any(|l| l.starts_with("GET /slow ") && l.contains(" 12 ")), "{said}");
    assert!(said.lines().any(|l| l.starts_with("GET /users/:id ") && l.contains(" 4 ")), "{said}");
    assert!(said.contains("no outcome got worse"), "{said}");
}
