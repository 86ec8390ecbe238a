//! The built-in conversations of the protocols sidetop understands on top of JSON-RPC:
//! MCP's and LSP's handshakes, and LSP's shutdown.

use super::ipc::HandshakeStep;
use serde_json::json;
use std::path::Path;

/// The MCP revisions sidetop's handshake speaks, newest first; it offers the first and
/// goes on with the one the server answers.
pub const MCP_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The MCP revision sidetop asks for (servers answer with the one they speak).
pub const MCP_PROTOCOL_VERSION: &str = MCP_PROTOCOL_VERSIONS[0];

/// A server that refuses `initialize` outright for its version (instead of answering
/// with one it speaks, as the spec asks) is offered an older one: the newest it lists as
/// supported in the error's `data.supported`, else the next older one sidetop knows.
/// `None`: nothing older to offer.
pub fn mcp_older_offer(params: &serde_json::Value, error_reply: Option<&str>) -> Option<serde_json::Value> {
    let offered = params.get("protocolVersion")?.as_str()?;
    let reply: serde_json::Value = error_reply.and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
    let supported: Vec<&str> = reply
        .pointer("/error/data/supported")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let position = MCP_PROTOCOL_VERSIONS.iter().position(|v| *v == offered)?;
    let older = &MCP_PROTOCOL_VERSIONS[position + 1..];
    let next = older
        .iter()
        .find(|v| supported.contains(v))
        .or_else(|| supported.is_empty().then(|| older.first()).flatten())?;
    let mut params = params.clone();
    params["protocolVersion"] = json!(next);
    Some(params)
}

fn step(method: &str, params: serde_json::Value, notification: bool) -> HandshakeStep {
    HandshakeStep { method: method.into(), params: Some(params), notification }
}

fn client_info() -> serde_json::Value {
    json!({"name": "sidetop", "version": env!("CARGO_PKG_VERSION")})
}

/// `initialize` (a current protocol version, who we are, no capabilities), then
/// `notifications/initialized`.
pub fn mcp_handshake() -> Vec<HandshakeStep> {
    vec![
        step(
            "initialize",
            json!({"protocolVersion": MCP_PROTOCOL_VERSION, "capabilities": {}, "clientInfo": client_info()}),
            false,
        ),
        HandshakeStep { method: "notifications/initialized".into(), params: None, notification: true },
    ]
}

/// `initialize` (our pid, the sidecar's folder as the root, no client capabilities
/// beyond progress), then `initialized`.
pub fn lsp_handshake(cwd: &Path) -> Vec<HandshakeStep> {
    // `dir/.` as the config resolves "." reads as `dir` to a server.
    let cwd: std::path::PathBuf =
        cwd.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
    let root = format!("file://{}", cwd.display());
    vec![
        step(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": client_info(),
                "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": cwd.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()}],
                "capabilities": {"window": {"workDoneProgress": true}},
            }),
            false,
        ),
        step("initialized", json!({}), true),
    ]
}

/// `shutdown`, then `exit`: a language server then exits 0 by itself.
pub fn lsp_shutdown() -> Vec<HandshakeStep> {
    vec![
        HandshakeStep { method: "shutdown".into(), params: None, notification: false },
        HandshakeStep { method: "exit".into(), params: None, notification: true },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_version_falls_back_to_one_the_server_lists_or_the_next_older() {
        let params = json!({"protocolVersion": "2025-11-25"});
        let listed = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unsupported protocol version","data":{"supported":["2024-11-05","2025-03-26"]}}}"#;
        assert_eq!(mcp_older_offer(&params, Some(listed)).unwrap()["protocolVersion"], "2025-03-26");
        let bare = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad version"}}"#;
        assert_eq!(mcp_older_offer(&params, Some(bare)).unwrap()["protocolVersion"], "2025-06-18");
        assert_eq!(mcp_older_offer(&json!({"protocolVersion": "2024-11-05"}), Some(bare)), None);
    }
}
