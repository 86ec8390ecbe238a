//! Real clients through `sidetop wrap`: the `mcp` Python SDK's stdio client and pygls's
//! language client (from the test virtualenv) drive the example servers once direct and
//! once wrapped, with a `ctl restart` in the middle of their work.

use crate::common;

use common::{bin, client_python, sidecars_dir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs `tests/clients/SCRIPT SIDETOP SOCKET SERVER` and parses its JSON report.
fn client_report(script: &str, server: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("wrap.sock");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let out = Command::new(client_python())
        .arg(script)
        .arg(bin())
        .arg(&socket)
        .arg(sidecars_dir().join(server))
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// The row of `method` in a report's `latency` (or in `rows` itself when it is the list).
fn latency_row<'a>(report: &'a Value, method: &str) -> &'a Value {
    let rows = report.get("latency").unwrap_or(report).as_array().unwrap();
    rows.iter().find(|r| r["method"] == method).unwrap_or_else(|| panic!("no {method} in {rows:?}"))
}

#[test]
fn the_mcp_sdk_client_gets_the_same_results_and_rides_through_a_restart() {
    let report = client_report("mcp_wrap_client.py", "mcp_server.py");
    let (direct, wrapped) = (&report["direct"], &report["wrapped"]);
    assert_eq!(direct["same"], wrapped["same"], "same calls, same results");
    assert_eq!(wrapped["server"], "sidetop-example-mcp");
    assert_eq!(direct["same"]["tools"].as_array().unwrap().len(), 8, "{direct}");

    // The loop: every call answered right, except those in flight at the restart, and
    // those only with the documented error.
    let outcomes = wrapped["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 160);
    let failed: Vec<&Value> = outcomes.iter().filter(|o| *o != "ok").collect();
    assert!(failed.iter().all(|o| **o == -32050), "only in-flight calls may fail: {failed:?}");
    assert!(failed.len() <= 4, "at most one call a worker is in flight: {failed:?}");
    assert_eq!(wrapped["restarts"], 1);
    assert_eq!(wrapped["after_restart"], "42", "the new server answers");

    // The new server has no extra tool: the client is told and its new list says so.
    assert!(wrapped["tools_before"].as_array().unwrap().contains(&"extra_tool".into()));
    assert_eq!(wrapped["tools_after"], direct["same"]["tools"]);
    let told = wrapped["notifications"].as_array().unwrap();
    let list_changed = told.iter().filter(|n| *n == "notifications/tools/list_changed").count();
    assert_eq!(list_changed, 2, "one from toggle_extra, one from the restart: {told:?}");

    // What ctl shows: the application's own calls, and one initialize (the wrapper's
    // replay to the new server is not the client's and is not counted).
    let rows = wrapped["latency"].as_array().unwrap();
    let add = rows.iter().find(|r| r["method"] == "tools/call add" && r["origin"] == "application");
    assert_eq!(add.map(|r| &r["count"]), Some(&Value::from(162)), "the client's calls alone: {rows:?}");
    // sidetop's own calls went in beside the client's without disturbing it (its
    // outcomes above), their replies kept from it; those given to the old server at the
    // restart ended at once with it.
    let load = &wrapped["load"];
    assert_eq!(load["count"], 30, "{load}");
    assert!(load["failures"].as_u64().unwrap() <= 2, "at most the two in flight at the restart: {load}");
    let ours = rows.iter().find(|r| r["method"] == "tools/call add" && r["origin"] == "load");
    assert_eq!(ours.map(|r| &r["count"]), Some(&Value::from(30)), "{rows:?}");
    let init = latency_row(wrapped, "initialize");
    assert_eq!((init["count"].as_u64(), init["origin"].as_str()), (Some(1), Some("application")));
    assert_eq!(latency_row(wrapped, "tools/call fail_tool")["errors"], 1);
}

#[test]
fn a_pygls_client_keeps_its_documents_and_diagnostics_across_a_restart() {
    let report = client_report("lsp_wrap_client.py", "lsp_server.py");
    assert_eq!(report["server"], "sidetop-example-lsp");
    let pids = report["pids"].as_array().unwrap();
    assert_ne!(pids[0], pids[1], "the server was restarted: {pids:?}");
    // The new server published diagnostics for the text as the incremental edits left it,
    // from the wrapper's didOpen at the version the client had reached.
    assert_eq!(report["reopened_version"], 4);
    assert_eq!(report["hover"], "hover at 0:1");
    assert_eq!(report["exit_code"], 0, "the wrapper ends as the server did after exit");
    // Both servers were stopped through the protocol: the old one by the wrapper's own
    // shutdown (its reply kept from the client), the new one by the client's.
    let stderr = report["stderr"].as_str().unwrap();
    assert_eq!(stderr.matches("exit after shutdown, status 0").count(), 2, "{stderr}");
    assert!(!stderr.contains("SIGTERM"), "{stderr}");
    assert_eq!(
        report["unknown_replies"],
        serde_json::json!([]),
        "no reply of the wrapper's reaches the client"
    );
    let init = latency_row(&report, "initialize");
    assert_eq!((init["count"].as_u64(), init["origin"].as_str()), (Some(1), Some("application")));
    assert_eq!(latency_row(&report, "textDocument/hover")["origin"], "application");
    assert_eq!(latency_row(&report, "window/workDoneProgress/create")["origin"], "sidecar");
}

#[test]
fn an_asyncio_host_gets_the_same_bytes_through_the_wrapper_with_a_stalled_observer() {
    let report = client_report("asyncio_host.py", "pricing.py");
    let (direct, wrapped) = (&report["direct"], &report["wrapped"]);
    assert_eq!(direct["sent"], wrapped["sent"]);
    assert_eq!(direct["got"], wrapped["got"], "the host reads the same bytes as from the child itself");
    assert!(direct["got"].as_str().unwrap().len() > 100_000, "3,000 replies");
    assert_eq!((direct["code"].as_i64(), wrapped["code"].as_i64()), (Some(0), Some(0)));
    // Every reply came within the host's 2 s timeout although the `ctl traffic -f` beside
    // it never read a byte; the wrapper measured each call.
    let line = latency_row(&wrapped["extra"], "line");
    assert_eq!((line["count"].as_u64(), line["origin"].as_str()), (Some(3000), Some("application")));
    println!("slowest reply: direct {} ms, wrapped {} ms", direct["slowest_ms"], wrapped["slowest_ms"]);
}
