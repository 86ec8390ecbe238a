//! JSON-RPC over a WebSocket (`sidecars/ws_service.py`): one message per frame, replies
//! matched by id in any order, server pushes counted per method with their rate, the
//! ping round trip measured, and a restart of the sidecar survived.

use crate::common;

use common::*;
use serde_json::json;
use sidetop::config::ipc::RequestSpec;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::time::{Duration, Instant};

/// `sidecars/ws_service.py` (a heartbeat every `heartbeat` seconds) spoken to in
/// `protocol` over a WebSocket, `more` added to its `[sidecar.ipc]`; ready.
async fn ws_service(heartbeat: &str, protocol: &str, more: &str) -> (tempfile::TempDir, Supervisor) {
    let port = free_port();
    let toml = format!(
        r#"
[[sidecar]]
name = "ws"
command = ["python3", "-u", "{{sidecars}}/ws_service.py", "{port}"]
env = {{ WS_HEARTBEAT_S = "{heartbeat}" }}
[sidecar.ipc]
protocol = "{protocol}"
transport = "websocket"
url = "ws://127.0.0.1:{port}/"
{more}
"#
    );
    let (dir, config) = config(&toml, &marker());
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    wait_ready(&sup.get("ws").unwrap()).await;
    (dir, sup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_over_a_websocket() {
    let (_dir, sup) = ws_service("0.2", "jsonrpc", "").await;
    let h = sup.get("ws").unwrap();

    let sum = h.request(&rpc("add", json!({"a": 2, "b": 3}))).await.unwrap();
    assert!(sum.outcome.is_ok() && sum.response.as_deref().unwrap().contains("\"result\": 5"), "{sum:?}");
    // Concurrent requests answered out of order all find their own reply.
    let begun = Instant::now();
    let calls: Vec<_> = [300u64, 50, 200, 10]
        .iter()
        .map(|ms| {
            let h = h.clone();
            tokio::spawn(async move { (*ms, h.request(&rpc("sleep", json!({"ms": ms}))).await.unwrap()) })
        })
        .collect();
    for call in calls {
        let (ms, ex) = call.await.unwrap();
        assert!(ex.response.as_deref().unwrap().contains(&format!("\"slept_ms\": {ms}")), "{ex:?}");
    }
    assert!(begun.elapsed() < Duration::from_millis(800), "in parallel: {:?}", begun.elapsed());

    // Pushes: a subscription's notifications and the heartbeat, per method, with a rate.
    let sub = h.request(&rpc("subscribe", json!({"topic": "ticks", "interval_ms": 50}))).await.unwrap();
    assert!(sub.outcome.is_ok(), "{sub:?}");
    let ipc = h.ipc().unwrap().clone();
    let pushed = |method: &str| ipc.metrics().pushes.get(method).map_or(0, |s| s.total());
    assert!(eventually(Duration::from_secs(5), || pushed("ticks") >= 10 && pushed("heartbeat") >= 3).await);
    let rate = ipc.metrics().pushes["ticks"].window(Instant::now()).per_second;
    assert!(rate > 0.0, "{rate}");
    assert!(eventually(Duration::from_secs(5), || ipc.ping().is_some()).await, "ping round trip measured");

    // A restart: sidetop connects to the new process and goes on.
    h.restart().await.unwrap();
    wait_status(&h, Duration::from_secs(10), |s| s.state == Life::Running && s.ready && s.restarts == 1)
        .await;
    let again = h.request(&rpc("add", json!({"a": 1, "b": 1}))).await.unwrap();
    assert!(again.outcome.is_ok(), "after the restart: {again:?}");
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_url_is_checked_with_the_config() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        r#"
[[sidecar]]
name = "ws"
command = ["true"]
[sidecar.ipc]
protocol = "jsonrpc"
transport = "websocket"
url = "http://127.0.0.1:1/"
"#,
        &m,
    );
    let err = sidetop::config::Config::load(&path).unwrap_err().render();
    assert!(err.contains(":10:7: sidecar[0].ipc.url: a WebSocket url starts with ws://"), "{err}");
}

/// json-lines over a WebSocket: each value a frame, replies in order (a reply is what has
/// `/result`, as `reply_has` says).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_over_a_websocket() {
    let (_dir, sup) = ws_service("0.05", "json-lines", "reply_has = \"/result\"").await;
    let h = sup.get("ws").unwrap();
    for (a, b) in [(1, 2), (20, 22), (300, 3)] {
        let value = json!({"jsonrpc": "2.0", "id": a, "method": "add", "params": {"a": a, "b": b}});
        let ex = h.request(&RequestSpec::Line { value }).await.unwrap();
        assert!(ex.response.as_deref().unwrap().contains(&format!("\"result\": {}", a + b)), "{ex:?}");
    }
    sup.shutdown().await;
}

/// A message past the 8 MiB frame cap (the library's default is 64 MiB) is refused and
/// counted as a protocol error; the connection starts over and the next request works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_past_the_frame_cap_is_refused_and_counted() {
    let (_dir, sup) = ws_service("0", "jsonrpc", "timeout = \"10s\"").await;
    let h = sup.get("ws").unwrap();
    let big = "x".repeat(9 << 20);
    let ex = h.request(&rpc("echo", json!({ "blob": big }))).await.unwrap();
    assert!(!ex.outcome.is_ok(), "a 9 MiB reply is refused: {:?}", ex.outcome);
    assert!(h.ipc().unwrap().metrics().protocol_errors >= 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ping = h.request(&rpc("ping", json!({}))).await.unwrap();
        if ping.outcome.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "reconnected: {:?}", ping.outcome);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sup.shutdown().await;
}
