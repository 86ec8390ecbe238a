//! MCP tasks (revision 2025-11-25): a tool the server runs only as a task gets
//! `tools/call` with a `task`, answered at once with a task id; sidetop then follows it
//! (`tasks/get` at the server's poll interval, its status messages as log lines) and
//! fetches the outcome with `tasks/result`. The exchange is the whole: the original
//! request, the final result, the time until it came.

use super::Ipc;
use super::protocol::Outcome;
use super::rpc::RpcConn;
use crate::config::ipc::{RequestSpec, Speaks};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a task may be kept by the server after it ends (`ttl`, ms).
const TASK_TTL_MS: u64 = 5 * 60 * 1000;
/// Polling bounds, whatever the server suggests.
const MIN_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(5);

/// What `send` returns: request text, outcome, response text, latency, HTTP status.
pub(super) type Sent = (String, Outcome, Option<String>, Option<Duration>, Option<u16>);

/// `spec` with a `task` added when it calls a tool the server runs only as a task.
pub(super) fn augment(ipc: &Ipc, spec: &RequestSpec) -> Option<RequestSpec> {
    let RequestSpec::Rpc { method, params: Some(params) } = spec else { return None };
    if ipc.config.speaks != Speaks::Mcp || method != "tools/call" || params.get("task").is_some() {
        return None;
    }
    let name = params.get("name").and_then(Value::as_str)?;
    ipc.discovery().tools.iter().find(|t| t.name == name).filter(|t| t.requires_task())?;
    let mut params = params.clone();
    params["task"] = json!({ "ttl": TASK_TTL_MS });
    Some(RequestSpec::Rpc { method: method.clone(), params: Some(params) })
}

/// The task id of a `CreateTaskResult` reply, with the poll interval it suggests.
fn created_task(response: &str) -> Option<(String, Duration)> {
    let reply: Value = serde_json::from_str(response).ok()?;
    let task = reply.get("result")?.get("task")?;
    let id = task.get("taskId")?.as_str()?.to_string();
    let poll = task
        .get("pollInterval")
        .and_then(Value::as_u64)
        .map_or(Duration::from_millis(500), Duration::from_millis);
    Some((id, poll.clamp(MIN_POLL, MAX_POLL)))
}

/// Follows a task to its end when `sent` created one; otherwise `sent` as it is. The
/// task may take until `deadline` (the request's timeout, pushed on by each status
/// change up to `max_timeout`, as progress does for plain requests).
pub(super) async fn follow(ipc: &Ipc, run: Option<&Arc<RpcConn>>, sent: Sent, timeout: Duration) -> Sent {
    if ipc.config.speaks != Speaks::Mcp || !sent.1.is_ok() {
        return sent;
    }
    let Some((task_id, poll)) = sent.2.as_deref().and_then(created_task) else { return sent };
    let started = Instant::now() - sent.3.unwrap_or_default();
    let cap = started + ipc.config.max_timeout.max(timeout);
    let mut deadline = started + timeout;
    let mut last_status = String::new();
    let params = json!({ "taskId": task_id });
    let fail = |outcome: Outcome, response: Option<String>| {
        (sent.0.clone(), outcome, response, Some(started.elapsed()), None)
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return fail(Outcome::Timeout(timeout), None);
        }
        tokio::time::sleep(poll.min(left)).await;
        let get = RequestSpec::Rpc { method: "tasks/get".into(), params: Some(params.clone()) };
        let (_, outcome, response, _, _) = ipc.send(&get, left.max(MIN_POLL), run).await;
        if !outcome.is_ok() {
            return fail(outcome, response);
        }
        let reply: Value = response.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
        let result = &reply["result"];
        let status = result["status"].as_str().unwrap_or("").to_string();
        let said = format!("{status}: {}", result["statusMessage"].as_str().unwrap_or(""));
        if said != last_status {
            ipc.log_line(format!("[mcp task {task_id}] {}", said.trim_end_matches(": ")));
            last_status = said;
            deadline = (Instant::now() + timeout).min(cap);
        }
        match status.as_str() {
            // The result (or, once it needs input, the server's requests and then the
            // result) comes through `tasks/result`, which waits for the end.
            "completed" | "failed" | "cancelled" | "input_required" => break,
            _ => continue,
        }
    }
    let left = deadline.saturating_duration_since(Instant::now()).max(MIN_POLL);
    let result = RequestSpec::Rpc { method: "tasks/result".into(), params: Some(params) };
    let (_, outcome, response, _, _) = ipc.send(&result, left, run).await;
    (sent.0, outcome, response, Some(started.elapsed()), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_task_reply_names_its_task_and_poll_interval() {
        let reply = r#"{"jsonrpc":"2.0","id":3,"result":{"task":{"taskId":"t-1","status":"working","pollInterval":20}}}"#;
        assert_eq!(created_task(reply), Some(("t-1".into(), MIN_POLL)));
        let plain = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#;
        assert_eq!(created_task(plain), None);
    }
}
