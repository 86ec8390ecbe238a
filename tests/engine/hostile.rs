//! Hostile sidecars: output that attacks the terminal, protocol abuse, and faults. Nothing
//! may crash, hang, leak or reach the operator's terminal.

use crate::common;

use common::*;
use serde_json::{Value, json};
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::{Origin, Outcome};
use sidetop::metrics::latency::OutcomeKind;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_are_kept_raw_but_shown_neutralized_and_memory_stays_bounded() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "escapes"
command = ["python3", "{sidecars}/hostile/escapes.py"]
env = { HOSTILE_MB = "8" }
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("escapes").unwrap();
    let h = &*h;
    assert!(eventually(T, || log_texts(h).iter().any(|l| l == "HOSTILE-DONE")).await, "{:?}", log_texts(h));
    let logs = h.logs();
    // The unterminated OSC and its 8 MB: one cut line, not 8 MB held.
    let cut: Vec<_> = logs.iter().filter(|l| l.cut).collect();
    assert_eq!(cut.len(), 1);
    assert!(logs.held_bytes() < 200 << 10, "holds {} bytes", logs.held_bytes());
    for line in logs.iter() {
        let shown = sidetop::text::sanitize::sanitize(&line.bytes);
        assert!(!shown.contains("pwned"), "{shown:?}");
        assert!(
            !shown.contains('\x07')
                && !shown.contains("\x1b]")
                && !shown.contains("\x1bP")
                && !shown.contains("\x1b[2J")
        );
    }
    assert_eq!(h.status().state, Life::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_abuse_is_recorded_and_everyone_goes_on() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "hostile"
command = ["python3", "-u", "{sidecars}/hostile/rpc_hostile.py"]
[sidecar.ipc]
protocol = "jsonrpc"
timeout = "2s"

[[sidecar]]
name = "short"
command = ["python3", "-u", "{sidecars}/hostile/short_frame.py"]
[sidecar.ipc]
protocol = "jsonrpc"
framing = "content-length"
timeout = "300ms"

[[sidecar]]
name = "bystander"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let (h, short, bystander) =
        (sup.get("hostile").unwrap(), sup.get("short").unwrap(), sup.get("bystander").unwrap());
    let (h, short, bystander) = (&*h, &*short, &*bystander);
    for s in [h, short, bystander] {
        wait_ready(s).await;
    }
    let errors = || h.ipc().unwrap().metrics().protocol_errors;

    let ex = h.request(&rpc("twice", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok);
    assert!(eventually(T, || errors() == 1).await, "the second answer is an unknown id");

    let ex = h.request(&rpc("unknown_id", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome.kind(), OutcomeKind::Timeout);
    assert!(eventually(T, || errors() == 2).await);

    let ex = h.request(&rpc("garbage", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome.kind(), OutcomeKind::Timeout);
    assert!(eventually(T, || errors() == 3).await);
    assert!(log_texts(h).iter().any(|l| l.contains("garbage")), "kept in the log");

    let ex = h.request(&rpc("huge", json!({"mb": 20}))).await.unwrap();
    assert_eq!(ex.outcome.kind(), OutcomeKind::Timeout, "a 20 MB frame is refused");
    assert!(eventually(T, || errors() == 4).await);
    let oversize = h
        .ipc()
        .unwrap()
        .metrics()
        .traffic
        .iter()
        .rev()
        .find(|e| e.origin == Origin::Sidecar)
        .cloned()
        .unwrap();
    assert!(matches!(&oversize.outcome, Outcome::Malformed(why) if why.contains("exceeds")), "{oversize:?}");

    let ex = h.request(&rpc("flood", json!({"n": 50_000}))).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok);
    {
        let metrics = h.ipc().unwrap().metrics();
        assert_eq!(metrics.incoming, 50_000);
        assert!(metrics.traffic.len() <= sidetop::ipc::stats::TRAFFIC, "the traffic ring stays bounded");
    }

    // A lying Content-Length stalls only its own sidecar.
    let ex = short.request(&rpc("ping", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome.kind(), OutcomeKind::Timeout);

    let ex = h.request(&rpc("ping", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "the abused sidecar still answers");
    let ex = bystander.request(&rpc("ping", Value::Null)).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok);
    for s in [h, short, bystander] {
        assert_eq!(s.status().state, Life::Running);
    }
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_closed_stdout_unread_stdin_and_a_bounded_fork_bomb() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "mute"
command = ["sh", "-c", "exec 1>&-; echo still here >&2; exec sleep 60"]

[[sidecar]]
name = "deaf"
command = ["sleep", "60"]
[sidecar.ipc]
protocol = "json-lines"
timeout = "500ms"

[[sidecar]]
name = "bomb"
command = ["sh", "-c", "i=0; while [ $i -lt 300 ]; do sleep 60 & i=$((i+1)); done; echo forked; wait"]
stop_timeout = "1s"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let (mute, deaf, bomb) = (sup.get("mute").unwrap(), sup.get("deaf").unwrap(), sup.get("bomb").unwrap());
    let (mute, deaf, bomb) = (&*mute, &*deaf, &*bomb);
    assert!(eventually(T, || log_texts(mute).contains(&"still here".to_string())).await);
    assert_eq!(mute.status().state, Life::Running, "closing stdout is not exiting");

    // 4 MB to a sidecar that never reads: the pipe fills, the request times out, and
    // the engine does not notice.
    let big = RequestSpec::Line { value: json!({ "blob": "b".repeat(4 << 20) }) };
    let begun = Instant::now();
    let ex = deaf.request(&big).await.unwrap();
    assert_eq!(ex.outcome.kind(), OutcomeKind::Timeout, "{:?}", ex.outcome);
    assert!(begun.elapsed() < Duration::from_secs(3));
    mute.restart().await.unwrap();
    wait_status(mute, T, |s| s.restarts == 1 && s.state == Life::Running).await;

    assert!(eventually(T, || log_texts(bomb).contains(&"forked".to_string())).await);
    assert!(marked_pids(&m).len() > 300);
    let begun = Instant::now();
    sup.shutdown().await;
    assert!(begun.elapsed() < Duration::from_millis(1000 + 1500), "took {:?}", begun.elapsed());
    assert!(none_left(&m), "left: {}", marked_pids(&m).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_written_as_fast_as_possible_drains_with_the_ring_at_its_cap() {
    let m = marker();
    let line = "g".repeat(99);
    let (_dir, config) = config(
        &format!(
            "[[sidecar]]\nname = \"gig\"\ncommand = [\"sh\", \"-c\", \"yes {line} | head -c 1000000000\"]\nrestart = \"never\"\n"
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("gig").unwrap();
    let h = &*h;
    wait_status(h, Duration::from_secs(300), |s| s.state == Life::Exited).await;
    assert!(
        eventually(Duration::from_secs(60), || h.logs().total_lines == 10_000_000).await,
        "{}",
        h.logs().total_lines
    );
    let logs = h.logs();
    assert_eq!(logs.total_bytes, 1_000_000_000 - 10_000_000);
    assert!(logs.len() <= 10_000 && logs.held_bytes() <= 4 << 20);
}
