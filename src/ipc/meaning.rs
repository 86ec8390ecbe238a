//! What MCP and LSP mean on top of JSON-RPC, for the exchanges sidetop measures: a tool
//! call is measured per tool, a tool result flagged `isError` is an error, a request in
//! flight carries a progress token, and the servers' log and progress notifications are
//! lines of the sidecar's log. Pure functions of the message text.

use crate::config::ipc::{RequestSpec, Speaks};
use serde_json::{Value, json};

/// The name latency is kept under: `tools/call get_current_time` for an MCP tool call,
/// the method otherwise.
pub fn label(speaks: Speaks, spec: &RequestSpec) -> String {
    if let (Speaks::Mcp, RequestSpec::Rpc { method, params: Some(params) }) = (speaks, spec)
        && (method == "tools/call" || method == "prompts/get")
        && let Some(name) = params.get("name").and_then(Value::as_str)
    {
        return format!("{method} {name}");
    }
    spec.method_label()
}

/// MCP: asks for progress notifications about this request (its id is the token).
pub fn add_progress_token(speaks: Speaks, message: &mut Value, id: u64) {
    if speaks != Speaks::Mcp || message.get("method").and_then(Value::as_str) == Some("initialize") {
        return;
    }
    match message.get_mut("params") {
        Some(Value::Object(params)) => {
            let meta = params.entry("_meta").or_insert_with(|| json!({}));
            if let Value::Object(meta) = meta {
                meta.insert("progressToken".into(), json!(id));
            }
        }
        None => message["params"] = json!({"_meta": {"progressToken": id}}),
        // Positional params have no room for it.
        Some(_) => {}
    }
}

/// An MCP tool result that reports a failure (`isError: true`): its text, to count the
/// exchange as an error.
pub fn tool_error(speaks: Speaks, response: &str) -> Option<String> {
    if speaks != Speaks::Mcp || !response.contains("isError") {
        return None;
    }
    let reply: Value = serde_json::from_str(response).ok()?;
    let result = reply.get("result")?;
    if result.get("isError").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let text: Vec<&str> = result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .collect();
    Some(if text.is_empty() { "the tool reported an error".into() } else { text.join(" ") })
}

/// The progress token of an MCP `notifications/progress` (a request id of ours).
pub fn progress_token(params: &Value) -> Option<u64> {
    params.get("progressToken").and_then(Value::as_u64)
}

/// A notification that belongs in the sidecar's log, as the line to show: MCP's
/// `notifications/message` and `notifications/progress`, LSP's `window/logMessage`,
/// `window/showMessage` and `$/progress`.
pub fn log_line(speaks: Speaks, method: &str, params: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (speaks, method) {
        (Speaks::Mcp, "notifications/message") => {
            let level = params.get("level").and_then(Value::as_str).unwrap_or("info");
            let logger =
                params.get("logger").and_then(Value::as_str).map(|l| format!("{l}: ")).unwrap_or_default();
            Some(format!("[mcp {level}] {logger}{}", params.get("data").map(text).unwrap_or_default()))
        }
        (Speaks::Mcp, "notifications/progress") => {
            let progress = params.get("progress").map(text).unwrap_or_default();
            let total = params.get("total").map(|t| format!("/{}", text(t))).unwrap_or_default();
            let message =
                params.get("message").and_then(Value::as_str).map(|m| format!(" {m}")).unwrap_or_default();
            Some(format!("[mcp progress] {progress}{total}{message}"))
        }
        (Speaks::Lsp, "window/logMessage" | "window/showMessage") => {
            let level = match params.get("type").and_then(Value::as_u64) {
                Some(1) => "error",
                Some(2) => "warning",
                Some(3) => "info",
                _ => "log",
            };
            Some(format!("[lsp {level}] {}", params.get("message").map(text).unwrap_or_default()))
        }
        (Speaks::Lsp, "$/progress") => {
            let token = params.get("token").map(text).unwrap_or_default();
            let value = params.get("value").cloned().unwrap_or_default();
            let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
            let words: Vec<String> = ["title", "message"]
                .iter()
                .filter_map(|k| value.get(*k).and_then(Value::as_str).map(str::to_string))
                .chain(value.get("percentage").map(|p| format!("{}%", text(p))))
                .collect();
            Some(format!("[lsp progress] {token}: {kind} {}", words.join(" ")).trim_end().to_string())
        }
        _ => None,
    }
}

/// The answer to a request a language server sends its client, where the protocol has
/// an obvious one (sidetop has no editor state to offer); `None`: not handled.
pub fn answer(speaks: Speaks, method: &str, params: &Value) -> Option<Value> {
    match (speaks, method) {
        (
            Speaks::Lsp,
            "window/workDoneProgress/create" | "client/registerCapability" | "client/unregisterCapability",
        ) => Some(Value::Null),
        (Speaks::Lsp, "workspace/configuration") => {
            let items = params.get("items").and_then(Value::as_array).map_or(0, Vec::len);
            Some(Value::Array(vec![Value::Null; items]))
        }
        (Speaks::Mcp, "ping") => Some(json!({})),
        _ => None,
    }
}

/// The reply to a request from the sidecar: its answer where sidetop has one, else the
/// error the protocol gives a client without that capability. sidetop's MCP client
/// offers no `sampling`, `elicitation` or `roots` (it has no model, no person at a
/// prompt, no workspace), so those get "method not found", which the spec asks of a
/// client that does not support them.
pub fn answer_message(speaks: Speaks, id: Value, method: &str, params: &Value) -> Value {
    if let Some(result) = answer(speaks, method, params) {
        return json!({"jsonrpc": "2.0", "id": id, "result": result});
    }
    let message = match (speaks, method) {
        (Speaks::Mcp, "sampling/createMessage") => {
            "sidetop offers no sampling capability (it has no model)".to_string()
        }
        (Speaks::Mcp, "elicitation/create") => {
            "sidetop offers no elicitation capability (no person answers its prompts)".to_string()
        }
        (Speaks::Mcp, "roots/list") => "sidetop offers no roots capability".to_string(),
        _ => format!("sidetop does not handle {method} requests"),
    };
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_is_measured_per_tool() {
        let call = RequestSpec::Rpc { method: "tools/call".into(), params: Some(json!({"name": "add"})) };
        assert_eq!(label(Speaks::Mcp, &call), "tools/call add");
        assert_eq!(label(Speaks::Plain, &call), "tools/call");
    }

    #[test]
    fn the_progress_token_goes_into_meta() {
        let mut m = json!({"method": "tools/call", "params": {"name": "x", "_meta": {"a": 1}}});
        add_progress_token(Speaks::Mcp, &mut m, 42);
        assert_eq!(m["params"]["_meta"], json!({"a": 1, "progressToken": 42}));
        let mut bare = json!({"method": "tools/list"});
        add_progress_token(Speaks::Mcp, &mut bare, 7);
        assert_eq!(bare["params"], json!({"_meta": {"progressToken": 7}}));
    }

    #[test]
    fn is_error_results_are_errors_with_their_text() {
        let failed =
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"boom"}],"isError":true}}"#;
        assert_eq!(tool_error(Speaks::Mcp, failed).as_deref(), Some("boom"));
        let fine = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}"#;
        assert_eq!(tool_error(Speaks::Mcp, fine), None);
    }

    #[test]
    fn server_logs_read_as_lines() {
        let mcp = json!({"level": "warning", "logger": "example", "data": "disk almost full"});
        assert_eq!(
            log_line(Speaks::Mcp, "notifications/message", &mcp).unwrap(),
            "[mcp warning] example: disk almost full"
        );
        let lsp = json!({"type": 3, "message": "ready"});
        assert_eq!(log_line(Speaks::Lsp, "window/logMessage", &lsp).unwrap(), "[lsp info] ready");
        let progress = json!({"token": "indexing", "value": {"kind": "report", "percentage": 50}});
        assert_eq!(
            log_line(Speaks::Lsp, "$/progress", &progress).unwrap(),
            "[lsp progress] indexing: report 50%"
        );
    }
}
