//! IPC against real sidecars over real pipes and sockets: every protocol and framing,
//! matching under concurrency, timeouts and late replies, malformed frames, sidecars that
//! die mid-request, handshakes, health checks and readiness.

use crate::common;

use common::*;
use serde_json::{Value, json};
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::{Origin, Outcome};
use sidetop::metrics::latency::OutcomeKind;
use sidetop::supervisor::{EventKind, Life, Options, Supervisor};
use std::time::{Duration, Instant};

fn response_json(exchange: &sidetop::ipc::protocol::Exchange) -> Value {
    serde_json::from_str(exchange.response.as_deref().expect("a response")).expect("JSON response")
}

const ECHO: &str = r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
timeout = "3s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpc_over_stdio_round_trips_and_stray_lines_reach_the_log() {
    let m = marker();
    let (_dir, config) = config(ECHO, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let ex = h.request(&rpc("echo", json!({"hello": "world"}))).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{ex:?}");
    assert_eq!(response_json(&ex)["result"], json!({"hello": "world"}));
    assert!(ex.latency.unwrap() < Duration::from_secs(1));
    let ex = h.request(&rpc("fail", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::RpcError { code: -32000, message: "requested failure".into() });

    let logs = log_texts(h);
    assert!(logs.iter().any(|l| l.contains("this line is a stray print")), "{logs:?}");
    assert!(!logs.iter().any(|l| l.contains("\"jsonrpc\"")), "protocol frames stay out of the log: {logs:?}");
    let metrics = h.ipc().unwrap().metrics();
    assert_eq!(metrics.overall.total(), 2);
    assert_eq!(metrics.methods["echo"].since_start(Instant::now()).outcomes.get(OutcomeKind::Ok), 1);
    assert_eq!(metrics.methods["fail"].since_start(Instant::now()).outcomes.get(OutcomeKind::Error), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_framing_with_an_lsp_handshake() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "lsp"
command = ["python3", "-u", "{sidecars}/lsp_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
framing = "content-length"
handshake = [
    { method = "initialize", params = { processId = 0, capabilities = {} } },
    { method = "initialized", params = {}, notification = true },
]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("lsp").unwrap();
    let h = &*h;
    wait_ready(h).await;
    assert!(event_texts(h).contains(&"handshake done (2 steps)".to_string()), "{:?}", event_texts(h));
    {
        let metrics = h.ipc().unwrap().metrics();
        assert_eq!(metrics.handshake.len(), 1);
        let init = response_json(&metrics.handshake[0]);
        assert_eq!(init["result"]["serverInfo"]["name"], "lsp_echo");
    }
    // The server refuses everything before `initialized`: an answer proves the handshake.
    let ex = h.request(&rpc("echo", json!([1, 2, 3]))).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{ex:?}");
    assert_eq!(response_json(&ex)["result"], json!([1, 2, 3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_is_an_event_and_the_sidecar_is_not_ready() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "lsp"
command = ["python3", "-u", "{sidecars}/lsp_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
framing = "content-length"
handshake = [{ method = "echo", params = [1] }]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("lsp").unwrap();
    let h = &*h;
    assert!(
        eventually(Duration::from_secs(10), || event_texts(h)
            .iter()
            .any(|e| e.starts_with("handshake failed")))
        .await
    );
    let failed = event_texts(h).into_iter().find(|e| e.starts_with("handshake failed")).unwrap();
    assert!(
        failed.starts_with(
            "handshake failed: echo: error -32002: server not initialized; its last stderr: jsonrpc_echo: "
        ),
        "{failed}"
    );
    let s = h.status();
    assert!(s.state == Life::Running && !s.ready, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_round_trip_in_order() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "pricing"
command = ["python3", "-u", "{sidecars}/pricing.py"]
[sidecar.ipc]
protocol = "json-lines"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("pricing").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let pairs = ["BTC-USD", "ETH-USD", "EUR-USD", "BTC-USD", "NOPE"];
    let specs: Vec<RequestSpec> =
        pairs.iter().map(|p| RequestSpec::Line { value: json!({ "pair": p }) }).collect();
    let answers = futures_join(specs.iter().map(|spec| h.request(spec)).collect()).await;
    for (pair, ex) in pairs.iter().zip(answers) {
        let ex = ex.unwrap();
        assert_eq!(ex.outcome, Outcome::Ok);
        let body = response_json(&ex);
        if *pair == "NOPE" {
            assert!(body["error"].as_str().unwrap().contains("bad request"));
        } else {
            assert_eq!(body["pair"], *pair, "answers are matched in order");
            assert!(body["price"].as_f64().unwrap() > 0.0);
        }
    }
    assert!(
        eventually(Duration::from_secs(5), || log_texts(h).iter().any(|l| l.contains("pricing: BTC-USD")))
            .await
    );
}

/// Runs futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_and_a_non_2xx_status_is_an_error() {
    let m = marker();
    let port = free_port();
    let (_dir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "web"
command = ["python3", "-u", "{{sidecars}}/http_service.py"]
env = {{ PORT = "{port}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{port}"
[sidecar.health]
path = "/health"
status = 200
interval = "100ms"
"#
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("web").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let post = RequestSpec::Http {
        method: "POST".into(),
        path: "/price".into(),
        body: Some(json!({"pair": "ETH-USD"})),
    };
    let ex = h.request(&post).await.unwrap();
    assert_eq!((ex.outcome.clone(), ex.status), (Outcome::Ok, Some(200)), "{ex:?}");
    let response = ex.response.as_deref().unwrap();
    assert!(response.starts_with("HTTP 200 OK\ncontent-type: application/json\n"), "{response}");
    assert!(response.contains("\"pair\": \"ETH-USD\""), "{response}");
    let fail = RequestSpec::Http { method: "GET".into(), path: "/fail".into(), body: None };
    let ex = h.request(&fail).await.unwrap();
    assert_eq!((ex.outcome.clone(), ex.status), (Outcome::HttpStatus(500), Some(500)));
    assert_eq!(ex.outcome.kind(), OutcomeKind::Error);
    // Health checks are exchanges too, under their own method.
    assert!(
        eventually(Duration::from_secs(5), || h.ipc().unwrap().metrics().methods.contains_key("GET /health"))
            .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpc_over_tcp_and_unix_sockets() {
    let m = marker();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("echo.sock");
    let (_cdir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "tcp"
command = ["python3", "-u", "{{sidecars}}/jsonrpc_echo.py"]
env = {{ ECHO_LISTEN = "tcp:127.0.0.1:{port}" }}
[sidecar.ipc]
protocol = "jsonrpc"
transport = "tcp"
address = "127.0.0.1:{port}"

[[sidecar]]
name = "unix"
command = ["python3", "-u", "{{sidecars}}/jsonrpc_echo.py", "--content-length"]
env = {{ ECHO_LISTEN = "unix:{sock}" }}
[sidecar.ipc]
protocol = "jsonrpc"
transport = "unix"
framing = "content-length"
address = "{sock}"
"#,
            sock = sock.display()
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    for name in ["tcp", "unix"] {
        let h = sup.get(name).unwrap();
        let h = &*h;
        wait_ready(h).await;
        let ex = h.request(&rpc("sleep", json!({"ms": 1, "tag": name}))).await.unwrap();
        assert_eq!(ex.outcome, Outcome::Ok, "{name}: {ex:?}");
        assert_eq!(response_json(&ex)["result"]["tag"], name);
    }
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_answered_out_of_order_all_match() {
    let m = marker();
    let (_dir, config) = config(ECHO, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap().clone();
    wait_ready(&h).await;
    // Later requests sleep less, so replies come back roughly in reverse.
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                (i, h.request(&rpc("sleep", json!({"ms": 200 - 2 * i, "tag": i}))).await.unwrap())
            })
        })
        .collect();
    let mut answered_at = Vec::new();
    for call in calls {
        let (i, ex) = call.await.unwrap();
        assert_eq!(ex.outcome, Outcome::Ok, "{i}: {ex:?}");
        let body = response_json(&ex);
        assert_eq!(body["result"]["tag"], i, "request {i} got someone else's reply: {body}");
        answered_at.push((ex.at + ex.latency.unwrap(), i));
    }
    answered_at.sort();
    assert!(answered_at.first().unwrap().1 > answered_at.last().unwrap().1, "replies came out of order");
    assert_eq!(h.ipc().unwrap().metrics().protocol_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_s_late_reply_is_counted_and_never_matched() {
    let m = marker();
    let (_dir, config) = config(&ECHO.replace("timeout = \"3s\"", "timeout = \"200ms\""), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap();
    let h = &*h;
    wait_ready(h).await;
    let ex = h.request(&rpc("sleep", json!({"ms": 500, "tag": "slow"}))).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Timeout(Duration::from_millis(200)));
    assert!(eventually(Duration::from_secs(3), || h.ipc().unwrap().metrics().late == 1).await);
    let ex = h.request(&rpc("sleep", json!({"ms": 0, "tag": "fast"}))).await.unwrap();
    assert_eq!(response_json(&ex)["result"]["tag"], "fast");
    assert_eq!(h.ipc().unwrap().metrics().protocol_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_recorded_and_the_sidecar_keeps_running() {
    let m = marker();
    let (_dir, config) = config(&ECHO.replace("timeout = \"3s\"", "timeout = \"300ms\""), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap();
    let h = &*h;
    let pid = wait_ready(h).await.pid;
    let ex = h.request(&rpc("malformed", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome.kind(), OutcomeKind::Timeout, "the broken reply matched nothing");
    // The timeout is no sign that the broken reply has arrived: on a busy box it may come later.
    let errors = || h.ipc().unwrap().metrics().protocol_errors;
    assert!(eventually(Duration::from_secs(10), || errors() > 0).await, "the broken reply never came");
    {
        let metrics = h.ipc().unwrap().metrics();
        assert_eq!(metrics.protocol_errors, 1);
        let bad = metrics.traffic.iter().find(|e| e.origin == Origin::Sidecar).unwrap();
        assert!(
            matches!(&bad.outcome, Outcome::Malformed(why) if why.starts_with("invalid JSON")),
            "{bad:?}"
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || log_texts(h).iter().any(|l| l.contains("\"result\":"))).await,
        "the broken line is kept in the log"
    );
    assert_eq!(h.status().pid, pid);
    let ex = h.request(&rpc("ping", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_fail_promptly_when_the_sidecar_dies() {
    let m = marker();
    let (_dir, config) = config(&ECHO.replace("timeout = \"3s\"", "timeout = \"30s\""), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap().clone();
    wait_ready(&h).await;
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(
                async move { h.request(&rpc("sleep", json!({"ms": 20_000, "tag": i}))).await.unwrap() },
            )
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || h.ipc().unwrap().in_flight() == 10).await);
    let begun = Instant::now();
    let crash = h.request(&rpc("crash", Value::Null)).await.unwrap();
    assert_eq!(crash.outcome.kind(), OutcomeKind::Exited);
    for call in calls {
        let ex = call.await.unwrap();
        match &ex.outcome {
            Outcome::Exited(why) => assert!(why.contains("exited (exit code 3)"), "{why}"),
            other => panic!("expected exited, got {other:?}"),
        }
    }
    assert!(begun.elapsed() < Duration::from_secs(2), "took {:?}", begun.elapsed());
    assert_eq!(
        h.ipc().unwrap().metrics().overall.since_start(Instant::now()).outcomes.get(OutcomeKind::Exited),
        11
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_failures_past_the_threshold_restart_the_sidecar() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "sick"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
backoff = { initial = "50ms" }
[sidecar.ipc]
protocol = "jsonrpc"
[sidecar.health]
method = "fail"
interval = "100ms"
failures = 3
start_period = "0s"
restart_on_unhealthy = true
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("sick").unwrap();
    let h = &*h;
    let s = wait_status(h, Duration::from_secs(15), |s| s.restarts >= 1 && s.state == Life::Running).await;
    assert!(!s.ready);
    let events = event_texts(h);
    let expected = [
        "health check failed 1/3: error -32000: requested failure",
        "health check failed 3/3: error -32000: requested failure",
        "unhealthy: 3 health checks failed in a row",
        "restarting because it is unhealthy",
    ];
    for e in expected {
        assert!(events.iter().any(|x| x == e), "missing {e:?} in {events:#?}");
    }
    assert!(
        h.events().iter().any(|e| matches!(e.kind, EventKind::Restarting { .. })),
        "through the normal restart path"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_waits_for_ready_not_just_running() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ready-flag");
    let (_cdir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "app"
command = ["sleep", "30"]
depends_on = ["db"]

[[sidecar]]
name = "db"
command = ["sleep", "30"]
[sidecar.health]
exec = ["test", "-e", "{flag}"]
interval = "50ms"
failures = 1000
start_period = "0s"
"#,
            flag = flag.display()
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let (app, db) = (sup.get("app").unwrap(), sup.get("db").unwrap());
    let (app, db) = (&*app, &*db);
    wait_status(db, Duration::from_secs(5), |s| s.state == Life::Running).await;
    let running_at = Instant::now();
    // A start that must not happen, given a window that is not empty even on a slow box:
    // db's health check has seen it not ready three times, and at least 400 ms went by.
    let failed_checks =
        || db.events().iter().filter(|e| matches!(e.kind, EventKind::HealthFailed { .. })).count();
    assert!(
        eventually(Duration::from_secs(5), || failed_checks() >= 3).await,
        "db's health check never failed 3 times: {:?}",
        event_texts(db)
    );
    tokio::time::sleep(Duration::from_millis(400).saturating_sub(running_at.elapsed())).await;
    assert_eq!(app.status().state, Life::Waiting, "db runs but is not ready");
    let flag_at = Instant::now();
    std::fs::write(&flag, "").unwrap();
    wait_ready(db).await;
    let s = wait_status(app, Duration::from_secs(5), |s| s.state == Life::Running).await;
    assert!(s.started_at.unwrap() >= flag_at, "app started before db could be ready: {:?}", event_texts(app));
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_log_marks_ready_when_a_line_matches() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "slowstart"
command = ["sh", "-c", "echo warming up; sleep 0.3; echo 'listening on :8080'; exec sleep 30"]
[sidecar.health]
ready_log = "listening on :\\d+"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("slowstart").unwrap();
    let h = &*h;
    wait_status(h, Duration::from_secs(5), |s| s.state == Life::Running).await;
    assert!(!h.status().ready);
    let begun = Instant::now();
    wait_ready(h).await;
    assert!(begun.elapsed() >= Duration::from_millis(150));
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_from_the_sidecar_are_recorded() {
    let m = marker();
    let (_dir, config) =
        config(&ECHO.replace("command = [", "env = { ECHO_NOTIFY_INTERVAL = \"0.05\" }\ncommand = ["), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap();
    let h = &*h;
    assert!(eventually(Duration::from_secs(5), || h.ipc().unwrap().metrics().incoming >= 3).await);
    let metrics = h.ipc().unwrap().metrics();
    assert!(metrics.traffic.iter().any(|e| e.origin == Origin::Sidecar && e.method == "heartbeat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histogram_percentiles_agree_with_known_delays() {
    let m = marker();
    let (_dir, config) = config(ECHO, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("echo").unwrap().clone();
    wait_ready(&h).await;
    // 100 requests sleeping 10, 20, ... 100 ms (ten of each), ten at a time.
    let mut tasks = tokio::task::JoinSet::new();
    let mut latencies_us = Vec::new();
    for batch in 0..10 {
        for i in 1..=10u64 {
            let h = h.clone();
            tasks.spawn(async move {
                (i * 10, h.request(&rpc("sleep", json!({"ms": i * 10, "tag": batch}))).await.unwrap())
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (slept_ms, ex) = done.unwrap();
            assert_eq!(ex.outcome, Outcome::Ok);
            let us = ex.latency.unwrap().as_micros() as u64;
            assert!(us >= slept_ms * 1000, "a {slept_ms} ms sleep answered in {us} us");
            latencies_us.push(us);
        }
    }
    let summary = h.ipc().unwrap().metrics().methods["sleep"].since_start(Instant::now());
    assert_eq!(summary.count, 100);
    // The histogram's percentiles are the exact ones of what was measured, to its
    // precision (3 significant digits: 0.1%).
    latencies_us.sort();
    let agree = |hdr: u64, exact: u64| hdr.abs_diff(exact) <= exact / 1000 + 2;
    for (name, hdr, rank) in [
        ("p50", summary.p50, 50),
        ("p90", summary.p90, 90),
        ("p99", summary.p99, 99),
        ("max", summary.max, 100),
    ] {
        let exact = latencies_us[rank - 1];
        assert!(agree(hdr, exact), "{name}: histogram {hdr} us, measured {exact} us");
    }
    assert!(agree(summary.min, latencies_us[0]), "min {} vs {}", summary.min, latencies_us[0]);
    // And the known delays show through: the median request slept 50 ms.
    assert!(summary.p50 >= 50_000 && summary.p90 >= 90_000 && summary.max >= 100_000, "{summary:?}");
}
