//! Record and replay through the binary: an agent records a load run (`--record`, and
//! `ctl record` / `ctl record --stop`), then `sidetop replay` sends the same traffic to
//! the same sidecar (exit 0) and to a slowed-down build of it (exit 1, the regression
//! named).

use crate::common;

use common::agent::{Agent, text};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// `sleep` answers after 20 ms (plus ECHO_SLEEP_EXTRA_MS: a slower build).
fn echo_config(extra_ms: u32) -> String {
    format!(
        r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{{sidecars}}/jsonrpc_echo.py"]
env = {{ ECHO_SLEEP_EXTRA_MS = "{extra_ms}" }}
[sidecar.ipc]
protocol = "jsonrpc"

[[sidecar]]
name = "idle"
command = ["sleep", "60"]
"#
    )
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn load_run(agent: &Agent, n: &str) {
    let out = agent.ctl(&["request", "echo", "-m", "sleep", "-p", r#"{"ms": 20}"#, "-n", n, "-c", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("{n} requests")), "{}", text(&out));
}

fn replay(config_toml: &str, recording: &Path, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), config_toml, &marker());
    Command::new(bin())
        .arg("--config")
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .arg("replay")
        .arg(recording)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_recorded_load_run_replays_clean_and_a_slower_build_is_named() {
    let out_dir = tempfile::tempdir().unwrap();
    let recording = out_dir.path().join("traffic.jsonl");
    let agent = Agent::start_with(&echo_config(0), &["--record", recording.to_str().unwrap()]);
    agent.wait_running();
    wait_until(Duration::from_secs(20), "echo ready", || {
        agent.status().iter().any(|s| s["state"] == "ready")
    });
    load_run(&agent, "60");
    let out = agent.ctl(&["shutdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut agent = agent;
    agent.child.wait().unwrap();

    // Every exchange of the run, each with what it takes to send it again.
    let lines = records(&recording);
    let load: Vec<&Value> = lines.iter().filter(|r| r["origin"] == "load").collect();
    assert_eq!(load.len(), 60, "{lines:?}");
    for r in &load {
        assert_eq!(
            (r["sidecar"].as_str(), r["method"].as_str(), r["outcome"].as_str()),
            (Some("echo"), Some("sleep"), Some("ok"))
        );
        assert_eq!(r["spec"]["rpc"]["params"]["ms"], 20, "{r}");
        assert!(r["latency_us"].as_u64().unwrap() >= 20_000, "{r}");
        assert!(r["response"].as_str().unwrap().contains("slept_ms"), "{r}");
    }

    let same = replay(&echo_config(0), &recording, &["--speed", "max", "-c", "4"]);
    let said = text(&same);
    assert_eq!(same.status.code(), Some(0), "{said}");
    assert!(said.contains("replaying 60 requests to echo"), "{said}");
    assert!(said.lines().any(|l| l.starts_with("sleep ") && l.contains(" 60 ")), "a row per method:\n{said}");
    assert!(said.contains("no outcome got worse"), "{said}");

    let slower = replay(&echo_config(30), &recording, &["--speed", "max", "-c", "4"]);
    let said = text(&slower);
    assert_eq!(slower.status.code(), Some(1), "{said}");
    assert!(said.contains("regression: sleep: p50 "), "the regression named:\n{said}");
    assert!(said.contains("allowed, 5% of p50 then and at least"), "{said}");
    assert!(said.contains("worse than the recording"), "{said}");
}

#[test]
fn ctl_record_records_one_sidecar_until_stopped() {
    let agent = Agent::start(&echo_config(0));
    agent.wait_running();
    wait_until(Duration::from_secs(20), "echo ready", || {
        agent.status().iter().any(|s| s["state"] == "ready")
    });
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("echo.jsonl");
    let out = agent.ctl(&["record", "echo", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("recording the exchanges of echo to"), "{}", text(&out));
    load_run(&agent, "10");
    let out = agent.ctl(&["request", "echo", "-m", "fail"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = agent.ctl(&["record", "--stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stopped: 11 exchanges of echo recorded to"), "{}", text(&out));
    // Nothing more is written after the stop.
    load_run(&agent, "5");
    let lines = records(&file);
    assert_eq!(lines.len(), 11, "{lines:?}");
    let failed = lines.last().unwrap();
    assert_eq!((failed["outcome"].as_str(), failed["origin"].as_str()), (Some("error"), Some("operator")));
    assert_eq!(failed["error"], "error -32000: requested failure");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600);

    // Usage mistakes are said, with the forms that work.
    let out = agent.ctl(&["record", "echo"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("give `record NAME FILE`"), "{}", text(&out));
    let out = agent.ctl(&["record", "--stop"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no recording is running"), "{}", text(&out));
    let out = agent.ctl(&["record", "nosuch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn record_is_refused_where_no_sidecar_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &echo_config(0), &marker());
    let file = dir.path().join("r.jsonl");
    let out = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .arg("--record")
        .arg(&file)
        .args(["request", "echo", "-m", "ping"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--record applies where sidecars run"), "{}", text(&out));
    assert!(!file.exists(), "nothing written");
}
