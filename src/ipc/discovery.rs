//! What a server says about itself: its name, version, protocol version and capabilities
//! (from its `initialize` reply, MCP and LSP alike), and for MCP servers their tools,
//! resources and prompts (every page, following `nextCursor`). Each tool becomes a
//! request template named after it, its arguments filled from its input schema.

use super::Ipc;
use super::protocol::Origin;
use crate::config::ipc::{RequestSpec, RequestTemplate, Speaks};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Pages of a list followed at most (a server whose cursor never ends must not loop us).
const MAX_PAGES: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
    /// The capabilities it announced, by name (`tools`, `resources`, `hoverProvider`…).
    pub capabilities: Vec<String>,
}

impl ServerInfo {
    /// From an `initialize` reply (MCP's `serverInfo` + `protocolVersion`, LSP's
    /// `serverInfo` + `capabilities`).
    pub fn from_reply(reply: &str) -> Option<ServerInfo> {
        let reply: Value = serde_json::from_str(reply).ok()?;
        let result = reply.get("result")?;
        let info = result.get("serverInfo").cloned().unwrap_or_default();
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        Some(ServerInfo {
            name: text(info.get("name")),
            version: text(info.get("version")),
            protocol_version: text(result.get("protocolVersion")),
            capabilities: result
                .get("capabilities")
                .and_then(Value::as_object)
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default(),
        })
    }

    /// `sidetop-example-mcp 1.2.0 · MCP 2025-06-18 · tools, resources, prompts`.
    pub fn describe(&self, protocol: &str) -> String {
        let mut parts = vec![format!("{} {}", self.name, self.version).trim().to_string()];
        if !self.protocol_version.is_empty() {
            parts.push(format!("{protocol} {}", self.protocol_version));
        }
        if !self.capabilities.is_empty() {
            parts.push(self.capabilities.join(", "));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" · ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "inputSchema")]
    pub input_schema: Value,
    /// MCP 2025-11-25: `{"taskSupport": "required" | "optional" | "forbidden"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Value>,
}

impl Tool {
    /// The server runs this tool only as a task (`tools/call` with a `task`).
    pub fn requires_task(&self) -> bool {
        self.execution.as_ref().and_then(|e| e.get("taskSupport")).and_then(Value::as_str) == Some("required")
    }
}

impl Tool {
    /// `tools/call` with its arguments filled in: defaults where given, the first value of
    /// an enum, else a placeholder of the right type for what is required.
    pub fn template(&self) -> RequestTemplate {
        RequestTemplate {
            name: self.name.clone(),
            spec: RequestSpec::Rpc {
                method: "tools/call".into(),
                params: Some(json!({"name": self.name, "arguments": arguments(&self.input_schema)})),
            },
            description: self.description.clone(),
        }
    }

    /// `name(timezone: string*, verbose: boolean)`: `*` marks what is required.
    pub fn signature(&self) -> String {
        let required: Vec<&str> = self.input_schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let args: Vec<String> = self.input_schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| {
                let kind = match schema.get("enum").and_then(Value::as_array) {
                    Some(values) => values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("|"),
                    None => schema
                        .get("type")
                        .map_or("any".into(), |t| t.as_str().map_or(t.to_string(), str::to_string)),
                };
                format!("{name}: {kind}{}", if required.contains(&name.as_str()) { "*" } else { "" })
            })
            .collect();
        format!("{}({})", self.name, args.join(", "))
    }
}

/// The arguments object a schema asks for.
pub fn arguments(schema: &Value) -> Value {
    let required: Vec<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Map::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let value = match (property.get("default"), property.get("enum").and_then(|e| e.as_array()?.first()))
        {
            (Some(default), _) => default.clone(),
            (None, Some(first)) => first.clone(),
            (None, None) if required.contains(&name.as_str()) => placeholder(property),
            _ => continue,
        };
        out.insert(name.clone(), value);
    }
    Value::Object(out)
}

fn placeholder(schema: &Value) -> Value {
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => {
            kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("string")
        }
        Some(Value::String(kind)) => kind.as_str(),
        _ => "string",
    };
    match kind {
        "number" | "integer" => json!(0),
        "boolean" => json!(false),
        "array" => json!([]),
        "object" => arguments(schema),
        "null" => Value::Null,
        _ => json!(""),
    }
}

/// What an MCP server offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub server: Option<ServerInfo>,
    pub tools: Vec<Tool>,
    pub resources: Vec<String>,
    pub prompts: Vec<String>,
    /// Why a list could not be had.
    pub error: Option<String>,
}

impl Discovery {
    pub fn templates(&self) -> Vec<RequestTemplate> {
        self.tools.iter().map(Tool::template).collect()
    }
}

/// Every item of an MCP list (`tools/list` → `tools`), page after page.
pub async fn list_all(ipc: &Ipc, method: &str, key: &str) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor.as_ref().map(|c| json!({"cursor": c}));
        let spec = RequestSpec::Rpc { method: method.into(), params };
        let exchange = ipc.request(&spec, Origin::Handshake).await;
        if !exchange.outcome.is_ok() {
            return Err(format!("{method}: {}", exchange.outcome));
        }
        let reply: Value = serde_json::from_str(exchange.response.as_deref().unwrap_or_default())
            .map_err(|e| format!("{method}: unreadable reply: {e}"))?;
        let result = &reply["result"];
        items.extend(result[key].as_array().cloned().unwrap_or_default());
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => return Ok(items),
        }
    }
    Err(format!("{method}: still more pages after {MAX_PAGES}"))
}

/// Tools, and resources and prompts where the server's capabilities say it has them.
pub async fn discover(ipc: &Ipc, server: Option<ServerInfo>) -> Discovery {
    let has = |what: &str| server.as_ref().is_some_and(|s| s.capabilities.iter().any(|c| c == what));
    let mut found = Discovery { server: server.clone(), ..Discovery::default() };
    let mut errors = Vec::new();
    if has("tools") || server.is_none() {
        match list_all(ipc, "tools/list", "tools").await {
            Ok(tools) => {
                found.tools = tools.into_iter().filter_map(|t| serde_json::from_value(t).ok()).collect()
            }
            Err(e) => errors.push(e),
        }
    }
    let names = |items: Vec<Value>, key: &str| -> Vec<String> {
        items.iter().filter_map(|i| i.get(key).and_then(Value::as_str).map(str::to_string)).collect()
    };
    if has("resources") {
        match list_all(ipc, "resources/list", "resources").await {
            Ok(items) => found.resources = names(items, "uri"),
            Err(e) => errors.push(e),
        }
    }
    if has("prompts") {
        match list_all(ipc, "prompts/list", "prompts").await {
            Ok(items) => found.prompts = names(items, "name"),
            Err(e) => errors.push(e),
        }
    }
    found.error = (!errors.is_empty()).then(|| errors.join("; "));
    found
}

/// After a handshake: what the server said about itself, and (MCP) what it offers.
pub async fn learn(ipc: &Ipc) {
    let speaks = ipc.config.speaks;
    if speaks == Speaks::Plain {
        return;
    }
    let server = {
        let metrics = ipc.metrics();
        metrics
            .handshake
            .iter()
            // The last `initialize` that succeeded: a refused revision was retried.
            .rev()
            .filter(|e| e.method == "initialize" && e.outcome.is_ok())
            .find_map(|e| e.response.as_deref().and_then(ServerInfo::from_reply))
    };
    let found = match speaks {
        Speaks::Mcp => discover(ipc, server).await,
        _ => Discovery { server, ..Discovery::default() },
    };
    ipc.set_discovery(found);
}

/// For the life of a run: lists again each time the server says they changed.
pub async fn keep_current(ipc: &Ipc) {
    if ipc.config.speaks != Speaks::Mcp {
        return std::future::pending().await;
    }
    loop {
        ipc.relist.notified().await;
        let server = ipc.discovery().server;
        let found = discover(ipc, server).await;
        ipc.set_discovery(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_come_from_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "timezone": {"type": "string"},
                "count": {"type": "integer", "default": 3},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "verbose": {"type": "boolean"},
                "point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
            },
            "required": ["timezone", "point"]
        });
        assert_eq!(
            arguments(&schema),
            json!({"timezone": "", "count": 3, "mode": "fast", "point": {"x": 0}}),
            "required ones, defaults, enums; optional ones without either are left out"
        );
        let tool = Tool { name: "t".into(), description: None, input_schema: schema, execution: None };
        assert_eq!(
            tool.signature(),
            "t(count: integer, mode: \"fast\"|\"slow\", point: object*, timezone: string*, verbose: boolean)"
        );
    }

    #[test]
    fn server_info_from_an_initialize_reply() {
        let reply = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{},"logging":{}},"serverInfo":{"name":"x","version":"1.2"}}}"#;
        let info = ServerInfo::from_reply(reply).unwrap();
        assert_eq!(info.describe("MCP"), "x 1.2 · MCP 2025-06-18 · logging, tools");
    }
}
