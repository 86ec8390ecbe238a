//! Building a request from its parts as people give them (a template's name, a method
//! and params, a value, an HTTP path and body, an MCP tool and its arguments): one place
//! for `sidetop request`'s flags, `ctl request` through the control socket and the
//! engine's own `request` call, so each says the same about what is wrong.

use crate::config::SidecarConfig;
use crate::config::ipc::{Protocol, RequestSpec};
use serde_json::{Value, json};

/// A request's parts as text, the way a command line or a JSON call carries them; JSON
/// values are still text here, so a parse error can name the flag it came from.
#[derive(Debug, Clone, Default)]
pub struct RequestFields {
    pub template: Option<String>,
    pub method: Option<String>,
    pub params: Option<String>,
    pub value: Option<String>,
    pub path: Option<String>,
    pub body: Option<String>,
    /// MCP: call this tool.
    pub tool: Option<String>,
    /// MCP: the tool's arguments.
    pub args: Option<String>,
    /// MCP: list the tools instead.
    pub list: bool,
}

/// Works out the request to send, or says exactly what is wrong with the arguments.
pub fn build_spec(sidecar: &SidecarConfig, args: &RequestFields) -> Result<RequestSpec, String> {
    let Some(ipc) = &sidecar.ipc else {
        return Err(format!("{} has no [sidecar.ipc]: sidetop cannot send it requests", sidecar.name));
    };
    let json = |flag: &str, text: &Option<String>| -> Result<Option<Value>, String> {
        text.as_deref()
            .map(|t| serde_json::from_str(t).map_err(|e| format!("invalid JSON in {flag}: {e} (in {t:?})")))
            .transpose()
    };
    if args.tool.is_some() || args.list {
        return tool_spec(sidecar, args);
    }
    let given = args.method.is_some()
        || args.params.is_some()
        || args.value.is_some()
        || args.path.is_some()
        || args.body.is_some();
    if !given {
        let template = match &args.template {
            Some(name) => sidecar.requests.iter().find(|t| &t.name == name),
            None => sidecar.requests.first(),
        };
        return match (template, &args.template) {
            (Some(t), _) => Ok(t.spec.clone()),
            (None, Some(name)) => {
                let known: Vec<&str> = sidecar.requests.iter().map(|t| t.name.as_str()).collect();
                Err(format!(
                    "{} has no request template {name:?} (templates: {})",
                    sidecar.name,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ))
            }
            (None, None) => Err(format!(
                "{} has no request templates: give --method/--params, --value or --path",
                sidecar.name
            )),
        };
    }
    let refuse = |flags: &[(&str, bool)], why: &str| -> Result<(), String> {
        match flags.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(format!("{flag} does not apply: {why}")),
            None => Ok(()),
        }
    };
    match &ipc.protocol {
        Protocol::Grpc { .. } => {
            refuse(
                &[
                    ("--value", args.value.is_some()),
                    ("--path", args.path.is_some()),
                    ("--body", args.body.is_some()),
                ],
                "this sidecar speaks gRPC (use --method package.Service/Method and --params)",
            )?;
            let method = args.method.clone().ok_or("a gRPC request needs --method package.Service/Method")?;
            if !method.trim_start_matches('/').contains('/') {
                return Err(format!("--method must be package.Service/Method, not {method:?}"));
            }
            let params = json("--params", &args.params)?;
            if params.as_ref().is_some_and(|p| !p.is_object()) {
                return Err("--params must be a JSON object (the request message)".into());
            }
            Ok(RequestSpec::Rpc { method: method.trim_start_matches('/').to_string(), params })
        }
        Protocol::JsonRpc => {
            refuse(
                &[
                    ("--value", args.value.is_some()),
                    ("--path", args.path.is_some()),
                    ("--body", args.body.is_some()),
                ],
                "this sidecar speaks JSON-RPC (use --method and --params)",
            )?;
            let method = args.method.clone().ok_or("a JSON-RPC request needs --method")?;
            let params = json("--params", &args.params)?;
            if let Some(p) = &params
                && !matches!(p, Value::Object(_) | Value::Array(_))
            {
                return Err(format!("--params must be a JSON object or array, not {p}"));
            }
            Ok(RequestSpec::Rpc { method, params })
        }
        Protocol::JsonLines => {
            refuse(
                &[
                    ("--method", args.method.is_some()),
                    ("--params", args.params.is_some()),
                    ("--path", args.path.is_some()),
                    ("--body", args.body.is_some()),
                ],
                "this sidecar speaks json-lines (use --value)",
            )?;
            let value = json("--value", &args.value)?.ok_or("a json-lines request needs --value")?;
            Ok(RequestSpec::Line { value })
        }
        Protocol::Http { .. } => {
            refuse(
                &[("--params", args.params.is_some()), ("--value", args.value.is_some())],
                "this sidecar speaks HTTP (use --method, --path and --body)",
            )?;
            let path = args.path.clone().ok_or("an HTTP request needs --path")?;
            if !path.starts_with('/') {
                return Err(format!("--path must start with /, not {path:?}"));
            }
            let method = args.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
            Ok(RequestSpec::Http { method, path, body: json("--body", &args.body)? })
        }
    }
}

/// `--tool NAME --args JSON` (or `--list`: a `tools/list`, printed as one line a tool).
fn tool_spec(sidecar: &SidecarConfig, args: &RequestFields) -> Result<RequestSpec, String> {
    let speaks = sidecar.ipc.as_ref().map(|i| i.speaks).unwrap_or_default();
    if speaks != crate::config::ipc::Speaks::Mcp {
        let flag = if args.list { "--list" } else { "--tool" };
        return Err(format!("{flag} is for MCP servers: {} does not have protocol = \"mcp\"", sidecar.name));
    }
    let Some(tool) = &args.tool else {
        return Ok(RequestSpec::Rpc { method: "tools/list".into(), params: None });
    };
    let arguments = match &args.args {
        Some(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("invalid JSON in --args: {e} (in {text:?})"))?,
        None => Value::Object(Default::default()),
    };
    if !arguments.is_object() {
        return Err(format!("--args must be a JSON object, not {arguments}"));
    }
    Ok(RequestSpec::Rpc {
        method: "tools/call".into(),
        params: Some(json!({"name": tool, "arguments": arguments})),
    })
}
