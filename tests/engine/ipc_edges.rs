//! The engine's correctness holes found in review, each as a scenario on real processes:
//! writes cut by a deadline, state leaking from one run into the next, JSON-RPC batches,
//! unbounded answers and bodies, JSON log lines taken for replies, and a library that
//! must not reap its embedder's children.

use crate::common;

use common::*;
use serde_json::{Value, json};
use sidetop::config::Config;
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::{Origin, Outcome};
use sidetop::supervisor::{EventKind, Life, Options, Supervisor};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A JSON-RPC sidecar with an `initialize` handshake, restarted at once when it exits,
/// running `sidecars/test/SCRIPT STATE`: the state file tells the script which run it is
/// in. `extra` is more TOML for the sidecar.
fn two_runs(name: &str, script: &str, extra: &str) -> ((tempfile::TempDir, tempfile::TempDir), Config) {
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state");
    let toml = format!(
        r#"
[[sidecar]]
name = "{name}"
command = ["python3", "-u", "{{sidecars}}/test/{script}", "{}"]
backoff = {{ initial = "0" }}
[sidecar.ipc]
protocol = "jsonrpc"
timeout = "5s"
[[sidecar.ipc.handshake]]
method = "initialize"
{extra}"#,
        state.display()
    );
    let (config_dir, config) = config(&toml, &marker());
    ((state_dir, config_dir), config)
}

/// Hole 1: a request whose deadline passes while its frame is half written must not
/// leave half a frame in the pipe: the next request still gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_write_never_corrupts_the_next_frame() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "slow"
command = ["python3", "-u", "{sidecars}/test/slow_reader_rpc.py", "1.5"]
[sidecar.ipc]
protocol = "jsonrpc"
timeout = "300ms"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("slow").unwrap();
    let h = &*h;
    wait_ready(h).await;
    // 1 MB does not fit in the stdin pipe of a sidecar that is not reading yet.
    let big = "x".repeat(1 << 20);
    let ex = h.request(&rpc("big", json!({ "blob": big }))).await.unwrap();
    assert!(matches!(ex.outcome, Outcome::Timeout(_)), "{:?}", ex.outcome);
    let spec = RequestSpec::Rpc { method: "small".into(), params: Some(json!({"n": 1})) };
    let ipc = h.ipc().unwrap().clone();
    let ex = ipc.request_with_timeout(&spec, Origin::Operator, Duration::from_secs(10)).await;
    assert_eq!(ex.outcome, Outcome::Ok, "the frame after a timed-out one arrives whole: {ex:?}");
    let logs = log_texts(h);
    assert!(!logs.iter().any(|l| l.contains("not JSON")), "the sidecar saw a corrupt frame: {logs:?}");
    sup.shutdown().await;
}

/// Hole 2: a reply written to an old run's stdout (by a process it left behind) must not
/// complete a request of the new run, even though both runs number requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_reply_from_an_old_run_never_completes_the_new_runs_handshake() {
    let (_dirs, config) = two_runs("stale", "stale_replier.py", "");
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("stale").unwrap();
    let h = &*h;
    let status = wait_ready(h).await;
    assert_eq!(status.restarts, 1, "ready in the second run");
    let handshake = h.ipc().unwrap().metrics().handshake.clone();
    let init = handshake.last().expect("a handshake exchange");
    assert_eq!(init.outcome, Outcome::Ok);
    assert!(
        init.response.as_deref().unwrap_or("").contains("fresh"),
        "the handshake was completed by the old run's reply: {:?}",
        init.response
    );
    sup.shutdown().await;
}

/// Hole 2: a `ready_log` line from a run that died before it was ready must not mark the
/// next run ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_line_from_a_dead_run_never_readies_the_next() {
    let (_dirs, config) = two_runs("flaky", "ready_then_die.py", "[sidecar.health]\nready_log = \"READY\"\n");
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("flaky").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.restarts == 1 && s.state == Life::Running).await;
    // The second run answers its handshake; give it ample time to be (wrongly) ready.
    assert!(
        eventually(T, || event_texts(h).iter().any(|e| e.starts_with("handshake done"))).await,
        "{:?}",
        event_texts(h)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = h.status();
    assert!(!status.ready, "run 2 never printed its ready line: {status:?}, events {:?}", event_texts(h));
    sup.shutdown().await;
}

/// Hole 5: every item of a JSON-RPC batch counts: the reply completes its request, the
/// notification and the stray reply are recorded, the request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_of_a_batch_is_routed_and_requests_in_it_are_answered() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "batch"
command = ["python3", "-u", "{sidecars}/test/batcher.py"]
[sidecar.ipc]
protocol = "jsonrpc"
timeout = "5s"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("batch").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let ex = h.request(&rpc("batch", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{ex:?}");
    assert!(
        eventually(T, || log_texts(h).iter().any(|l| l.starts_with("answer: "))).await,
        "{:?}",
        log_texts(h)
    );
    let answer = log_texts(h).into_iter().find(|l| l.starts_with("answer: ")).unwrap();
    let answer: Value = serde_json::from_str(&answer["answer: ".len()..]).unwrap();
    assert!(answer.is_array(), "a batch is answered with a batch: {answer}");
    assert_eq!(answer[0]["id"], json!("q1"));
    assert_eq!(answer[0]["error"]["code"], json!(-32601));
    {
        let metrics = h.ipc().unwrap().metrics();
        assert_eq!(metrics.incoming, 2, "the notification and the request are counted");
        assert_eq!(metrics.protocol_errors, 1, "the reply to an unknown id is a protocol error");
        let methods: Vec<&str> = metrics.traffic.iter().map(|e| e.method.as_str()).collect();
        assert!(methods.contains(&"progress") && methods.contains(&"ask"), "{methods:?}");
    }
    sup.shutdown().await;
}

/// Hole 6: a sidecar that sends requests without ever reading the answers makes sidetop
/// keep a bounded number of answers pending; the rest are counted, and the engine stays
/// responsive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_flood_from_a_sidecar_is_bounded_and_counted() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "flood"
command = ["python3", "-u", "{sidecars}/test/request_flood.py", "20000"]
[sidecar.ipc]
protocol = "jsonrpc"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("flood").unwrap();
    let h = &*h;
    wait_ready(h).await;
    assert!(eventually(T, || log_texts(h).iter().any(|l| l == "flood done")).await);
    assert!(
        eventually(T, || h.ipc().unwrap().metrics().incoming == 20_000).await,
        "incoming: {}",
        h.ipc().unwrap().metrics().incoming
    );
    let dropped = h.ipc().unwrap().metrics().protocol_errors;
    assert!(dropped > 10_000, "answers beyond the bound are dropped and counted: {dropped}");
    // Still in control: a stop goes through at once.
    h.stop().await.unwrap();
    wait_status(h, T, |s| s.state == Life::Stopped).await;
    sup.shutdown().await;
}

/// Hole 6: an HTTP body larger than the frame cap is not read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_http_body_is_cut_at_the_cap() {
    let m = marker();
    let port = free_port();
    let (_dir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "big"
command = ["python3", "-u", "{{sidecars}}/test/big_body_http.py", "{port}"]
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
timeout = "10s"
"#
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("big").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let spec = RequestSpec::Http { method: "GET".into(), path: "/big".into(), body: None };
    let ex = h.request(&spec).await.unwrap();
    assert!(matches!(&ex.outcome, Outcome::Malformed(why) if why.contains("exceeds")), "{:?}", ex.outcome);
    assert!(ex.response.as_deref().unwrap_or("").len() < 64 << 10, "the body is not kept");
    sup.shutdown().await;
}

/// Hole 10: with `reply_has`, JSON log lines on a json-lines sidecar's stdout go to the
/// log, and only the line with the pointer is the reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_are_not_taken_for_replies_with_reply_has() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "pricing"
command = ["python3", "-u", "{sidecars}/test/json_logger.py"]
[sidecar.ipc]
protocol = "json-lines"
reply_has = "/price"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("pricing").unwrap();
    let h = &*h;
    wait_ready(h).await;
    for _ in 0..3 {
        let ex = h.request(&RequestSpec::Line { value: json!({"pair": "EURUSD"}) }).await.unwrap();
        assert_eq!(ex.outcome, Outcome::Ok);
        let reply: Value = serde_json::from_str(ex.response.as_deref().unwrap()).unwrap();
        assert_eq!(reply["price"], json!(1.25), "{reply}");
    }
    assert!(eventually(T, || log_texts(h).iter().filter(|l| l.contains("\"level\"")).count() == 3).await);
    sup.shutdown().await;
}

/// Hole 9: the library does not make its embedder a subreaper, nor reap its children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_leaves_the_embedders_children_alone() {
    let m = marker();
    let (_dir, config) = config("[[sidecar]]\nname = \"idle\"\ncommand = [\"sleep\", \"30\"]\n", &m);
    // A child of the embedding program, in a group of its own, that exits at once.
    let mut mine = std::process::Command::new("true");
    std::os::unix::process::CommandExt::process_group(&mut mine, 0);
    let mut mine = mine.spawn().unwrap();
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let mut flag: libc::c_int = 0;
    unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag as *mut libc::c_int) };
    assert_eq!(flag, 0, "no test in this file asks for a subreaper, and the library does not make one");
    // Long enough for several passes of the orphan tending, which once reaped it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = mine.wait().expect("our own child is still ours to reap");
    assert!(status.success());
    sup.shutdown().await;
}

/// Headless and dashboard: a sidecar's HTTP address is waited for before it is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sidecar_is_ready_when_it_listens() {
    let m = marker();
    let port = free_port();
    let (_dir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "web"
command = ["sh", "-c", "sleep 1; exec python3 -m http.server --bind 127.0.0.1 {port}"]
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
"#
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("web").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Running).await;
    // Asked before it listens: the request waits for it instead of failing.
    let spec = RequestSpec::Http { method: "GET".into(), path: "/".into(), body: None };
    let ex = h.request(&spec).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{ex:?}");
    wait_ready(h).await;
    let events = h.events();
    let listening = events.iter().position(|e| e.kind == EventKind::Listening).expect("a listening event");
    let ready = events.iter().position(|e| e.kind == EventKind::Ready).expect("a ready event");
    assert!(listening < ready);
    sup.shutdown().await;
}

/// Notifications inside a batch keep their own params: three MCP log messages sent in one
/// batch become three log lines with their text. The params were once read from the
/// whole frame (an array), so they came out empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_in_a_batch_keep_their_params() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "mcp"
command = ["python3", "-u", "{sidecars}/test/mcp_batcher.py"]
[sidecar.ipc]
protocol = "mcp"
timeout = "5s"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("mcp").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let ex = h.request(&rpc("burst", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{ex:?}");
    let noted = || log_texts(h).into_iter().filter(|l| l.contains("batched note")).collect::<Vec<_>>();
    assert!(eventually(T, || noted().len() == 3).await, "{:?}", log_texts(h));
    for i in 0..3 {
        assert!(noted().iter().any(|l| l.contains(&format!("batched note {i}"))), "{:?}", noted());
    }
    sup.shutdown().await;
}

/// A burst of 5,000 MCP log messages: every one is a log line, or the ones that did not
/// fit the queue are counted in the log. They were once dropped without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_server_log_messages_loses_none_silently() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "mcp"
command = ["python3", "-u", "{sidecars}/test/mcp_batcher.py"]
scrollback_lines = 20000
[sidecar.ipc]
protocol = "mcp"
timeout = "5s"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("mcp").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let ex = h.request(&rpc("flood", serde_json::json!({"n": 5000}))).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{ex:?}");
    let accounted = || {
        let texts = log_texts(h);
        let shown = texts.iter().filter(|l| l.contains("flood note")).count() as u64;
        let dropped: u64 = texts
            .iter()
            .filter_map(|l| l.strip_prefix("[sidetop] "))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        (shown, dropped)
    };
    assert!(
        eventually(T, || {
            let (s, d) = accounted();
            s + d == 5000
        })
        .await,
        "{:?}",
        accounted()
    );
    sup.shutdown().await;
}
