//! The built-in conversations of the protocols sidetop understands on top of JSON-RPC:
//! MCP's and LSP's handshakes, and LSP's shutdown.

use super::ipc::HandshakeStep;
use serde_json::json;
use std::path::Path;

/// The MCP revision sidetop asks for (servers answer with the one they speak).
pub const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

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
