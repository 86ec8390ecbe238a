//! MCP servers, understood: `sidecars/mcp_server.py` over stdio and over Streamable HTTP.
//! The handshake is built in; the server's tools (every page) become templates; latency
//! is kept per tool; `isError` is an error; progress keeps a slow call alive past its
//! timeout; `list_changed` re-lists; server log messages reach the log; a stdio server is
//! stopped by closing its stdin. MCP as it is today: the current revision offered and an
//! older one taken from the server, task-augmented tool calls (the example server's and
//! the npm reference server's), requests from the server answered.

use crate::common;

use common::*;
use serde_json::{Value, json};
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::Outcome;
use sidetop::metrics::latency::OutcomeKind;
use sidetop::supervisor::{Life, Options, SidecarHandle, Supervisor};
use std::time::{Duration, Instant};

fn stdio_config() -> String {
    r#"
[[sidecar]]
name = "tools"
command = ["python3", "-u", "{sidecars}/mcp_server.py"]
stop_timeout = "3s"
[sidecar.ipc]
protocol = "mcp"
timeout = "400ms"
"#
    .to_string()
}

fn http_config(port: u16) -> String {
    format!(
        r#"
[[sidecar]]
name = "tools"
command = ["python3", "-u", "{{sidecars}}/mcp_server.py", "--http", "{port}"]
# Every reply as an event stream, so list_changed rides along with toggle_extra's.
env = {{ MCP_HTTP_SSE = "1" }}
[sidecar.ipc]
protocol = "mcp"
url = "http://127.0.0.1:{port}/mcp"
timeout = "400ms"
"#
    )
}

fn call(tool: &str, arguments: Value) -> RequestSpec {
    RequestSpec::Rpc {
        method: "tools/call".into(),
        params: Some(json!({"name": tool, "arguments": arguments})),
    }
}

/// Everything the server offers is known, every page of it, before it is ready.
async fn ready_with_tools(h: &SidecarHandle) {
    wait_ready(h).await;
    let found = h.ipc().unwrap().discovery();
    let server = found.server.as_ref().expect("server info from initialize");
    assert_eq!((server.name.as_str(), server.version.as_str()), ("sidetop-example-mcp", "1.2.0"));
    assert_eq!(server.protocol_version, "2025-11-25", "the current revision, offered and taken");
    let names: Vec<&str> = found.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "get_current_time",
            "add",
            "slow_task",
            "fail_tool",
            "toggle_extra",
            "log_something",
            "research",
            "ask_client"
        ],
        "four pages of two, followed"
    );
    assert_eq!((found.resources.len(), found.prompts.len(), found.error.as_deref()), (1, 1, None));
    let templates = found.templates();
    assert_eq!(templates[0].name, "get_current_time");
    assert_eq!(templates[0].description.as_deref(), Some("Current time in a timezone"));
    assert_eq!(
        serde_json::to_value(&templates[0].spec).unwrap()["rpc"]["params"],
        json!({"name": "get_current_time", "arguments": {"timezone": "UTC"}}),
        "the schema's default"
    );
}

async fn tools_called_by_name(h: &SidecarHandle) {
    let ex = h.request(&call("add", json!({"a": 2, "b": 3}))).await.unwrap();
    assert!(ex.outcome.is_ok(), "{ex:?}");
    assert_eq!(ex.method, "tools/call add");
    assert!(ex.response.as_deref().unwrap().contains("\"text\": \"5\""), "{ex:?}");
    h.request(&call("get_current_time", json!({"timezone": "Europe/Paris"}))).await.unwrap();
    let failed = h.request(&call("fail_tool", json!({}))).await.unwrap();
    assert_eq!(failed.outcome, Outcome::ToolError("this tool always fails".into()));
    let metrics = h.ipc().unwrap().metrics();
    let now = Instant::now();
    for (method, ok, errors) in
        [("tools/call add", 1, 0), ("tools/call get_current_time", 1, 0), ("tools/call fail_tool", 0, 1)]
    {
        let stats = metrics.methods.get(method).unwrap_or_else(|| panic!("{method} kept on its own"));
        let outcomes = stats.since_start(now).outcomes;
        assert_eq!(
            (outcomes.get(OutcomeKind::Ok), outcomes.get(OutcomeKind::Error)),
            (ok, errors),
            "{method}"
        );
    }
    assert!(!metrics.methods.contains_key("tools/call"), "no lump for every tool");
}

/// 6 steps of 150 ms against a 400 ms timeout: progress keeps it going.
async fn progress_past_the_timeout(h: &SidecarHandle) {
    let begun = Instant::now();
    let ex = h.request(&call("slow_task", json!({"steps": 6, "step_ms": 150}))).await.unwrap();
    assert!(ex.outcome.is_ok(), "{ex:?}");
    assert!(begun.elapsed() >= Duration::from_millis(850), "{:?}", begun.elapsed());
    assert!(ex.response.as_deref().unwrap().contains("done after 6 steps"), "{ex:?}");
    // One step of 900 ms reports its progress too late: a timeout, as without progress.
    let quiet = h.request(&call("slow_task", json!({"steps": 1, "step_ms": 900}))).await.unwrap();
    assert!(matches!(quiet.outcome, Outcome::Timeout(_)), "{quiet:?}");
}

async fn list_changed_lists_again(h: &SidecarHandle) {
    h.request(&call("toggle_extra", json!({}))).await.unwrap();
    let ipc = h.ipc().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || ipc.discovery().tools.iter().any(|t| t.name == "extra_tool"))
            .await,
        "{:?}",
        ipc.discovery().tools
    );
    let extra = ipc.discovery().templates().into_iter().find(|t| t.name == "extra_tool").unwrap();
    assert_eq!(
        serde_json::to_value(&extra.spec).unwrap()["rpc"]["params"]["arguments"],
        json!({"choice": "red"}),
        "an enum's first value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_stdio() {
    let m = marker();
    let (_dir, config) = config(&stdio_config(), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("tools").unwrap();
    ready_with_tools(&h).await;
    tools_called_by_name(&h).await;
    progress_past_the_timeout(&h).await;
    list_changed_lists_again(&h).await;

    // The server's log message and its progress are lines of its log.
    h.request(&call("log_something", json!({}))).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || log_texts(&h)
            .iter()
            .any(|l| l == "[mcp warning] example: disk almost full"))
        .await,
        "{:?}",
        log_texts(&h)
    );
    assert!(log_texts(&h).iter().any(|l| l == "[mcp progress] 3/6 step 3 of 6"), "{:?}", log_texts(&h));

    // Stopped the MCP way: its stdin closed, and it exits 0 without a signal.
    let pid = h.status().pid.unwrap();
    h.stop().await.unwrap();
    wait_status(&h, Duration::from_secs(10), |s| s.state == Life::Stopped).await;
    let events = event_texts(&h);
    assert!(events.iter().any(|e| e == "stopping: closed its stdin (SIGTERM in 3s)"), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("exited: exit code 0 after")), "{events:?}");
    assert!(!events.iter().any(|e| e.starts_with("stopping: sent")), "no signal needed: {events:?}");
    assert!(!pid_alive(pid as i32));
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_streamable_http() {
    let m = marker();
    let (_dir, config) = config(&http_config(free_port()), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("tools").unwrap();
    ready_with_tools(&h).await;
    tools_called_by_name(&h).await;
    // slow_task is answered as an event stream: progress events, then the reply.
    progress_past_the_timeout(&h).await;
    list_changed_lists_again(&h).await;
    // A restart is a new server: a new session, and it still answers.
    h.restart().await.unwrap();
    wait_status(&h, Duration::from_secs(10), |s| s.state == Life::Running && s.ready && s.restarts == 1)
        .await;
    let ex = h.request(&call("add", json!({"a": 1, "b": 1}))).await.unwrap();
    assert!(ex.outcome.is_ok(), "after a restart: {ex:?}");
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_missing_its_module_says_so() {
    let m = marker();
    let toml = stdio_config()
        .replace("stop_timeout = \"3s\"", "restart = \"never\"\nenv = { MCP_FAIL_IMPORT = \"1\" }");
    let (_dir, config) = config(&toml, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("tools").unwrap();
    wait_status(&h, Duration::from_secs(5), |s| s.state == Life::Exited).await;
    assert!(
        eventually(Duration::from_secs(2), || event_texts(&h)
            .iter()
            .any(|e| e.starts_with("handshake failed")))
        .await,
        "{:?}",
        event_texts(&h)
    );
    let failed = event_texts(&h).into_iter().find(|e| e.starts_with("handshake failed")).unwrap();
    assert!(
        failed.starts_with("handshake failed: initialize: the sidecar exited (exit code 1) after")
            && failed.ends_with("ModuleNotFoundError: No module named 'mcp'"),
        "{failed}"
    );
    sup.shutdown().await;
}

fn sidetop_request(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .arg("--config")
        .arg(config)
        .arg("--log-dir")
        .arg(config.parent().unwrap().join("logs"))
        .arg("request")
        .arg("tools")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn sidetop_request_lists_and_calls_tools() {
    let dir = tempfile::tempdir().unwrap();
    // A generous timeout: on a loaded machine python's first reply can pass 400 ms, and a
    // handshake that times out leaves the server unhealthy (listing is what is tested).
    let toml = stdio_config().replace("timeout = \"400ms\"", "timeout = \"5s\"");
    let config = write_config(dir.path(), &toml, &marker());
    let out = sidetop_request(&config, &["--list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{listed}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 8, "one line a tool:\n{listed}");
    assert!(
        lines[0].starts_with("get_current_time(timezone: string*)")
            && lines[0].ends_with("Current time in a timezone"),
        "{listed}"
    );
    assert!(lines.iter().any(|l| l.starts_with("slow_task(mode: \"normal\"|\"quiet\", step_ms: integer, steps: integer)")), "{listed}");

    let out = sidetop_request(&config, &["--tool", "add", "--args", r#"{"a": 2, "b": 40}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("\"text\": \"42\""), "{shown}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tools/call add"), "per tool");

    let out = sidetop_request(&config, &["--tool", "fail_tool"]);
    assert_eq!(out.status.code(), Some(1), "an isError result fails the command");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tool error: this tool always fails"));

    let out = sidetop_request(&config, &["--tool", "add", "--args", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--args must be a JSON object"));
}

/// The revision the server answers with, or (when it refuses the one offered) the newest
/// it lists as supported, is the one the session runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_settles_on_a_revision_the_server_speaks() {
    for (env, expected) in [
        (r#"{ MCP_PROTOCOLS = "2025-06-18,2025-03-26" }"#, "2025-06-18"),
        (r#"{ MCP_PROTOCOLS = "2025-03-26,2024-11-05", MCP_REFUSE_UNKNOWN = "1" }"#, "2025-03-26"),
    ] {
        let m = marker();
        let toml =
            stdio_config().replace("stop_timeout = \"3s\"", &format!("stop_timeout = \"3s\"\nenv = {env}"));
        let (_dir, config) = config(&toml, &m);
        let sup = Supervisor::start(&config, Options::default()).unwrap();
        let h = sup.get("tools").unwrap();
        wait_ready(&h).await;
        let found = h.ipc().unwrap().discovery();
        assert_eq!(found.server.as_ref().unwrap().protocol_version, expected, "{env}");
        let reply = h.request(&call("add", json!({"a": 1, "b": 2}))).await.unwrap();
        assert!(reply.outcome.is_ok(), "{env}: {:?}", reply.outcome);
        sup.shutdown().await;
    }
}

/// A tool the server runs only as a task: called with a `task`, followed through
/// `tasks/get` (its statuses in the log) to `tasks/result`; the exchange is the whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_only_tool_is_called_as_a_task_and_followed_to_its_result() {
    let m = marker();
    let (_dir, config) = config(&stdio_config().replace("timeout = \"400ms\"", "timeout = \"5s\""), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("tools").unwrap();
    wait_ready(&h).await;
    let started = Instant::now();
    let exchange =
        h.request(&call("research", json!({"topic": "tides", "stages": 3, "stage_ms": 150}))).await.unwrap();
    assert!(exchange.outcome.is_ok(), "{:?}: {:?}", exchange.outcome, exchange.response);
    let response = exchange.response.as_deref().unwrap_or_default();
    assert!(
        response.contains("report on tides: 3 stages"),
        "the task's result, not its creation: {response}"
    );
    assert_eq!(exchange.method, "tools/call research");
    assert!(
        exchange.latency.unwrap() >= Duration::from_millis(400),
        "measured to the result: {:?}",
        exchange.latency
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    let logs = log_texts(&h);
    assert!(
        logs.iter().any(|l| l.starts_with("[mcp task ") && l.contains("working: stage 2 of 3")),
        "{logs:?}"
    );
    sup.shutdown().await;
}

/// `roots/list`, `sampling/createMessage` and `elicitation/create` from the server get
/// "method not found" (sidetop offers none of them), at once, and show as traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_the_server_are_answered_and_shown() {
    let m = marker();
    let (_dir, config) = config(&stdio_config().replace("timeout = \"400ms\"", "timeout = \"5s\""), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("tools").unwrap();
    wait_ready(&h).await;
    let started = Instant::now();
    let exchange = h.request(&call("ask_client", json!({}))).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "never left waiting (the server waits 5 s)");
    let response = exchange.response.as_deref().unwrap_or_default();
    for expected in [
        "roots/list: error -32601 sidetop offers no roots capability",
        "sampling/createMessage: error -32601 sidetop offers no sampling capability",
        "elicitation/create: error -32601 sidetop offers no elicitation capability",
    ] {
        assert!(response.contains(expected), "{expected} in {response}");
    }
    let seen: Vec<String> = h.ipc().unwrap().metrics().traffic.iter().map(|e| e.method.clone()).collect();
    for method in ["roots/list", "sampling/createMessage", "elicitation/create"] {
        assert!(seen.iter().any(|m| m == method), "{method} on the traffic tab: {seen:?}");
    }
    sup.shutdown().await;
}

/// The npm reference server (`@modelcontextprotocol/server-everything`, installed by
/// scripts/test under target/npm): its task-only tool works through `sidetop request`.
#[test]
fn the_reference_servers_task_only_tool_works() {
    let server = format!(
        "{}/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")))
    );
    assert!(
        std::path::Path::new(&server).exists(),
        "{server} is missing: scripts/test installs @modelcontextprotocol/server-everything"
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[[sidecar]]\nname = \"tools\"\ncommand = [\"node\", \"{server}\", \"stdio\"]\n[sidecar.ipc]\nprotocol = \"mcp\"\ntimeout = \"20s\"\n"
    );
    let config = write_config(dir.path(), &toml, &marker());
    let out = sidetop_request(&config, &["--list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("simulate-research-query("), "{listed}{}", String::from_utf8_lossy(&out.stderr));
    let out = sidetop_request(
        &config,
        &["--tool", "simulate-research-query", "--args", r#"{"topic": "tides", "ambiguous": true}"#],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{shown}{said}");
    assert!(shown.contains("# Research Report: tides"), "{shown}");
    assert!(!said.contains("task augmentation"), "{said}");
    assert!(said.contains("MCP 2025-11-25") || shown.contains("Research Report"), "{said}");
}
