//! A sidecar's start as an operator sees it: failures of its health check while it is
//! still starting are not failures (a start window, like a startup probe), and a start
//! that goes wrong says why in the sidecar's own words (its exit and last stderr).

use crate::common;

use common::*;
use sidetop::supervisor::{EventKind, Life, Options, Supervisor};
use std::time::Duration;

fn health_failures(h: &sidetop::supervisor::SidecarHandle) -> usize {
    h.events().iter().filter(|e| matches!(e.kind, EventKind::HealthFailed { .. })).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_before_the_first_success_are_the_sidecar_starting() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("listening");
    let (_cdir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "slow"
command = ["sh", "-c", "sleep 1; touch {flag}; exec sleep 30"]
[sidecar.health]
exec = ["test", "-e", "{flag}"]
interval = "100ms"
"#,
            flag = flag.display()
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("slow").unwrap();
    let s = wait_status(&h, Duration::from_secs(5), |s| s.state == Life::Running).await;
    assert_eq!(s.label(), "starting", "not ready yet, and not failing either");
    wait_ready(&h).await;
    assert_eq!(health_failures(&h), 0, "{:?}", event_texts(&h));
    assert!(!h.status().unhealthy);
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_count_once_the_start_window_is_over() {
    let m = marker();
    let (_cdir, config) = config(
        r#"
[[sidecar]]
name = "never"
command = ["sleep", "30"]
[sidecar.health]
exec = ["false"]
interval = "100ms"
failures = 2
start_period = "600ms"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("never").unwrap();
    wait_status(&h, Duration::from_secs(5), |s| s.state == Life::Running).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(health_failures(&h), 0, "inside the window: {:?}", event_texts(&h));
    let s = wait_status(&h, Duration::from_secs(5), |s| s.unhealthy).await;
    assert_eq!(s.label(), "unhealthy");
    let texts = event_texts(&h);
    assert!(texts.iter().any(|e| e == "health check failed 1/2: exit code 1"), "{texts:?}");
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_that_dies_in_its_handshake_says_why() {
    let m = marker();
    let (_cdir, config) = config(
        r#"
[[sidecar]]
name = "mcp"
restart = "never"
command = ["sh", "-c", "echo 'Traceback (most recent call last):' >&2; echo \"ModuleNotFoundError: No module named 'mcp'\" >&2; exit 1"]
[sidecar.ipc]
protocol = "jsonrpc"
handshake = [{ method = "initialize", params = {} }]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("mcp").unwrap();
    wait_status(&h, Duration::from_secs(5), |s| s.state == Life::Exited).await;
    let texts = event_texts(&h);
    let failed =
        texts.iter().find(|e| e.starts_with("handshake failed")).unwrap_or_else(|| panic!("{texts:?}"));
    assert!(
        failed.starts_with("handshake failed: initialize: the sidecar exited (exit code 1) after ")
            && failed.ends_with(
                "; its last stderr: Traceback (most recent call last): | ModuleNotFoundError: No module named 'mcp'"
            ),
        "{failed}"
    );
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_refused_by_a_running_sidecar_quotes_its_stderr() {
    let m = marker();
    let (_cdir, config) = config(
        r#"
[[sidecar]]
name = "picky"
command = ["python3", "-u", "-c", """
import sys, json
print('config: no API key set, every call will fail', file=sys.stderr)
for line in sys.stdin:
    msg = json.loads(line)
    print(json.dumps({'jsonrpc': '2.0', 'id': msg['id'], 'error': {'code': -32000, 'message': 'no API key'}}))
"""]
[sidecar.ipc]
protocol = "jsonrpc"
handshake = [{ method = "initialize", params = {} }]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("picky").unwrap();
    let s = wait_status(&h, Duration::from_secs(10), |s| s.unhealthy).await;
    assert_eq!(s.label(), "unhealthy", "running, but it cannot answer");
    let texts = event_texts(&h);
    assert!(
        texts.iter().any(|e| e
            == "handshake failed: initialize: error -32000: no API key; its last stderr: config: no API key set, every call will fail"),
        "{texts:?}"
    );
    sup.shutdown().await;
}
