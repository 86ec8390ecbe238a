//! Language servers, understood: `sidecars/lsp_server.py` with `protocol = "lsp"`. The
//! handshake is built in (rootUri from the sidecar's folder), log and progress
//! notifications are log lines, diagnostics are counted, and a stop goes through
//! `shutdown` and `exit`: the server exits 0 by itself, no signal.

use crate::common;

use common::*;
use serde_json::json;
use sidetop::config::ipc::RequestSpec;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::time::Duration;

const CONFIG: &str = r#"
[[sidecar]]
name = "lsp"
command = ["python3", "-u", "{sidecars}/lsp_server.py"]
stop_timeout = "3s"
[sidecar.ipc]
protocol = "lsp"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_server_from_initialize_to_exit() {
    let m = marker();
    let (dir, config) = config(CONFIG, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("lsp").unwrap();
    wait_ready(&h).await;
    let ipc = h.ipc().unwrap().clone();
    let server = ipc.discovery().server.expect("server info from initialize");
    assert_eq!((server.name.as_str(), server.version.as_str()), ("sidetop-example-lsp", "0.3.0"));
    assert!(server.capabilities.iter().any(|c| c == "hoverProvider"), "{server:?}");

    // Its log and progress notifications are lines of its log; rootUri is its folder.
    let root = format!("file://{}", dir.path().display());
    let ready_line = format!("[lsp info] example-lsp ready (root {root})");
    assert!(
        eventually(Duration::from_secs(5), || log_texts(&h).iter().any(|l| l == &ready_line)).await,
        "{ready_line:?} in {:?}",
        log_texts(&h)
    );
    assert!(
        eventually(Duration::from_secs(5), || log_texts(&h)
            .iter()
            .any(|l| l == "[lsp progress] indexing: end indexed 3 files"))
        .await,
        "{:?}",
        log_texts(&h)
    );
    assert!(
        log_texts(&h).iter().any(|l| l == "[lsp progress] indexing: begin Indexing 0%"),
        "{:?}",
        log_texts(&h)
    );

    // Diagnostics are counted per document.
    let text = "fn main() {}\n// TODO one\n// TODO two\n";
    ipc.notify(
        "textDocument/didOpen",
        Some(&json!({"textDocument": {"uri": "file:///tmp/a.rs", "languageId": "rust", "version": 1, "text": text}})),
    )
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || ipc.diagnostics() == (1, 2)).await,
        "{:?}",
        ipc.diagnostics()
    );
    let hover = RequestSpec::Rpc {
        method: "textDocument/hover".into(),
        params: Some(
            json!({"textDocument": {"uri": "file:///tmp/a.rs"}, "position": {"line": 1, "character": 3}}),
        ),
    };
    let ex = h.request(&hover).await.unwrap();
    assert!(ex.outcome.is_ok() && ex.response.as_deref().unwrap().contains("hover at 1:3"), "{ex:?}");

    // Stopped through the protocol: shutdown, exit, and it exits 0 by itself.
    h.stop().await.unwrap();
    wait_status(&h, Duration::from_secs(10), |s| s.state == Life::Stopped).await;
    let events = event_texts(&h);
    assert!(events.iter().any(|e| e == "stopping: shutdown, exit (SIGTERM in 3s)"), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("exited: exit code 0 after")), "{events:?}");
    assert!(!events.iter().any(|e| e.starts_with("stopping: sent")), "no signal: {events:?}");
    let shutdown = ipc.metrics().methods.get("shutdown").map(|s| s.total());
    assert_eq!(shutdown, Some(1), "the shutdown request is an exchange like any other");
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_shutdown_gets_the_signal_after_the_grace() {
    let m = marker();
    // A JSON-RPC echo that does not know `shutdown`: refused, so the signal comes.
    let toml = r#"
[[sidecar]]
name = "stubborn"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
stop_timeout = "1s"
[sidecar.ipc]
protocol = "jsonrpc"
shutdown = [{ method = "shutdown" }, { method = "exit", notification = true }]
"#;
    let (_dir, config) = config(toml, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("stubborn").unwrap();
    wait_ready(&h).await;
    h.stop().await.unwrap();
    wait_status(&h, Duration::from_secs(10), |s| s.state == Life::Stopped).await;
    let events = event_texts(&h);
    assert!(events.iter().any(|e| e == "stopping: shutdown, exit (SIGTERM in 1s)"), "{events:?}");
    assert!(
        events.iter().any(|e| e == "stopping: sent SIGTERM (SIGKILL in 1s)"),
        "then the signal: {events:?}"
    );
    sup.shutdown().await;
}

/// The diagnostics kept are bounded: a document closed (diagnostics cleared) is not kept,
/// and a restart starts from none (the new process knows nothing of the old documents).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_are_forgotten_on_close_and_on_restart() {
    let m = marker();
    let (_dir, config) = config(CONFIG, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("lsp").unwrap();
    wait_ready(&h).await;
    let ipc = h.ipc().unwrap().clone();
    let doc = |i: usize| json!({"uri": format!("file:///tmp/d{i}.rs"), "languageId": "rust", "version": 1, "text": "// TODO\n"});
    for i in 0..50 {
        ipc.notify("textDocument/didOpen", Some(&json!({"textDocument": doc(i)}))).await.unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || ipc.diagnostics() == (50, 50)).await,
        "{:?}",
        ipc.diagnostics()
    );
    for i in 0..40 {
        ipc.notify("textDocument/didClose", Some(&json!({"textDocument": {"uri": doc(i)["uri"]}})))
            .await
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || ipc.diagnostics() == (10, 10)).await,
        "{:?}",
        ipc.diagnostics()
    );
    h.restart().await.unwrap();
    wait_ready(&h).await;
    assert_eq!(ipc.diagnostics(), (0, 0), "the new run starts with none");
    sup.shutdown().await;
}
