//! Validation of the IPC, health and request tables: each request must have the fields
//! its protocol needs and no others, so a template cannot silently mean nothing.

use super::ConfigError;
use super::ipc::*;
use super::validate::Checker;
use super::validate_requests::request_spec;
pub use super::validate_requests::requests;
use std::time::Duration;
use toml::Spanned;

/// How long a sidecar may take to pass its first health check before failures count.
pub const DEFAULT_START_PERIOD: Duration = Duration::from_secs(30);

pub fn ipc(
    c: &Checker,
    key: &str,
    raw: &Spanned<RawIpc>,
    cwd: &std::path::Path,
    resolve: impl Fn(&str) -> std::path::PathBuf,
) -> Result<IpcConfig, ConfigError> {
    let r = raw.get_ref();
    let key = format!("{key}.ipc");
    let transport_name = r.transport.as_ref().map_or(TransportName::Stdio, |t| *t.get_ref());
    let speaks = match r.protocol {
        ProtocolName::Mcp => Speaks::Mcp,
        ProtocolName::Lsp => Speaks::Lsp,
        _ => Speaks::Plain,
    };
    let protocol = match r.protocol {
        ProtocolName::Jsonrpc | ProtocolName::Mcp | ProtocolName::Lsp => Protocol::JsonRpc,
        ProtocolName::Grpc => {
            if !cfg!(feature = "grpc") {
                return c.error(
                    raw.span(),
                    key,
                    "this sidetop was built without gRPC (cargo feature `grpc`)",
                );
            }
            let Some(address) = &r.address else {
                return c.error(
                    raw.span(),
                    key,
                    "protocol = \"grpc\" needs `address`, like \"127.0.0.1:50051\"",
                );
            };
            for (name, span) in [
                ("transport", r.transport.as_ref().map(|t| t.span())),
                ("url", r.url.as_ref().map(|u| u.span())),
                ("framing", r.framing.as_ref().map(|f| f.span())),
            ] {
                if let Some(span) = span {
                    return c.error(
                        span,
                        format!("{key}.{name}"),
                        "a gRPC sidecar is reached at its `address`",
                    );
                }
            }
            Protocol::Grpc { address: address.get_ref().clone() }
        }
        ProtocolName::JsonLines => Protocol::JsonLines,
        ProtocolName::Http => {
            let Some(url) = &r.url else {
                return c.error(
                    raw.span(),
                    key,
                    "protocol = \"http\" needs `url`, like \"http://127.0.0.1:5000\"",
                );
            };
            if !url.get_ref().starts_with("http://") {
                return c.error(url.span(), format!("{key}.url"), "the url must start with http://");
            }
            if let Some(t) = &r.transport {
                return c.error(
                    t.span(),
                    format!("{key}.transport"),
                    "HTTP sidecars have no transport setting: use `url`",
                );
            }
            if let Some(f) = &r.framing {
                return c.error(
                    f.span(),
                    format!("{key}.framing"),
                    "framing applies to jsonrpc and json-lines only",
                );
            }
            Protocol::Http { url: url.get_ref().trim_end_matches('/').to_string() }
        }
    };
    // MCP's Streamable HTTP: JSON-RPC POSTed to the server's endpoint.
    let mcp_url = match (&r.url, speaks) {
        (Some(url), Speaks::Mcp) => {
            if !url.get_ref().starts_with("http://") {
                return c.error(url.span(), format!("{key}.url"), "the url must start with http://");
            }
            if let Some(t) = r.transport.as_ref().filter(|t| *t.get_ref() != TransportName::Stdio) {
                return c.error(
                    t.span(),
                    format!("{key}.transport"),
                    "give either `url` (Streamable HTTP) or a transport",
                );
            }
            Some(url.get_ref().clone())
        }
        _ => None,
    };
    let ws_url = match (transport_name, &r.url) {
        (TransportName::Websocket, Some(url)) if url.get_ref().starts_with("ws://") => {
            Some(url.get_ref().clone())
        }
        (TransportName::Websocket, Some(url)) => {
            return c.error(url.span(), format!("{key}.url"), "a WebSocket url starts with ws://");
        }
        (TransportName::Websocket, None) => {
            return c.error(
                raw.span(),
                key,
                "transport = \"websocket\" needs `url`, like \"ws://127.0.0.1:8765\"",
            );
        }
        _ => None,
    };
    if let (Some(_), Some(f)) = (&ws_url, &r.framing)
        && *f.get_ref() != Framing::Newline
    {
        return c.error(
            f.span(),
            format!("{key}.framing"),
            "over a WebSocket each message is one frame: no framing",
        );
    }
    if !matches!(protocol, Protocol::Http { .. })
        && mcp_url.is_none()
        && ws_url.is_none()
        && let Some(url) = &r.url
    {
        return c.error(
            url.span(),
            format!("{key}.url"),
            "`url` is for protocol = \"http\" or \"mcp\"; use transport + address",
        );
    }
    let transport = match (transport_name, &r.address) {
        (_, _) if matches!(protocol, Protocol::Http { .. } | Protocol::Grpc { .. }) => Transport::Stdio,
        (_, _) if mcp_url.is_some() => Transport::Http(mcp_url.clone().expect("checked")),
        (TransportName::Websocket, Some(a)) => {
            return c.error(
                a.span(),
                format!("{key}.address"),
                "a WebSocket sidecar is reached at its `url`",
            );
        }
        (TransportName::Websocket, None) => Transport::WebSocket(ws_url.clone().expect("checked above")),
        (TransportName::Stdio, None) => Transport::Stdio,
        (TransportName::Stdio, Some(a)) => {
            return c.error(
                a.span(),
                format!("{key}.address"),
                "`address` needs transport = \"tcp\" or \"unix\"",
            );
        }
        (TransportName::Tcp, Some(a)) => Transport::Tcp(a.get_ref().clone()),
        (TransportName::Unix, Some(a)) => Transport::Unix(resolve(a.get_ref())),
        (_, None) => return c.error(raw.span(), key, "transport = \"tcp\" or \"unix\" needs `address`"),
    };
    let max_in_flight = match &r.max_in_flight {
        Some(m) if *m.get_ref() == 0 => {
            return c.error(m.span(), format!("{key}.max_in_flight"), "must be at least 1");
        }
        Some(m) => *m.get_ref(),
        None => DEFAULT_MAX_IN_FLIGHT,
    };
    let steps = |raw: &Option<Vec<Spanned<RawHandshake>>>| -> Vec<HandshakeStep> {
        raw.iter()
            .flatten()
            .map(|h| {
                let h = h.get_ref();
                HandshakeStep {
                    method: h.method.clone(),
                    params: h.params.clone(),
                    notification: h.notification,
                }
            })
            .collect()
    };
    let whole = raw.span();
    let first_span = |steps: &Option<Vec<Spanned<RawHandshake>>>| {
        steps.as_ref().and_then(|h| h.first()).map_or(whole.clone(), |h| h.span())
    };
    let mut handshake = steps(&r.handshake);
    if !handshake.is_empty() && protocol != Protocol::JsonRpc {
        return c.error(
            first_span(&r.handshake),
            format!("{key}.handshake"),
            "a handshake needs protocol = \"jsonrpc\"",
        );
    }
    let mut shutdown = steps(&r.shutdown);
    if !shutdown.is_empty() && protocol != Protocol::JsonRpc {
        return c.error(
            first_span(&r.shutdown),
            format!("{key}.shutdown"),
            "shutdown steps need a JSON-RPC protocol",
        );
    }
    // MCP and LSP: the protocol's own handshake (and LSP's shutdown) unless given.
    match speaks {
        Speaks::Mcp if handshake.is_empty() => handshake = super::handshakes::mcp_handshake(),
        Speaks::Lsp if handshake.is_empty() => handshake = super::handshakes::lsp_handshake(cwd),
        _ => {}
    }
    if speaks == Speaks::Lsp && shutdown.is_empty() {
        shutdown = super::handshakes::lsp_shutdown();
    }
    let reply_has = match &r.reply_has {
        None => None,
        Some(p) if protocol != Protocol::JsonLines => {
            return c.error(
                p.span(),
                format!("{key}.reply_has"),
                "reply_has applies to protocol = \"json-lines\" (JSON-RPC replies carry their id)",
            );
        }
        Some(p) if !p.get_ref().starts_with('/') => {
            return c.error(
                p.span(),
                format!("{key}.reply_has"),
                "a JSON pointer starts with '/', like \"/price\" or \"/result/value\"",
            );
        }
        Some(p) => Some(p.get_ref().clone()),
    };
    let default_framing = if speaks == Speaks::Lsp { Framing::ContentLength } else { Framing::Newline };
    // MCP over stdio: a server is told to exit by closing its stdin (the spec's way).
    let close_stdin_on_stop =
        r.close_stdin_on_stop.unwrap_or(speaks == Speaks::Mcp && transport == Transport::Stdio);
    let listen = super::listen::listen(c, &key, r.listen.as_ref(), r.listen_remote, &protocol, &transport)?;
    Ok(IpcConfig {
        listen,
        reply_has,
        speaks,
        shutdown,
        close_stdin_on_stop,
        max_timeout: r.max_timeout.map_or(DEFAULT_MAX_TIMEOUT, |d| d.0),
        protocol,
        transport,
        framing: r.framing.as_ref().map_or(default_framing, |f| *f.get_ref()),
        timeout: r.timeout.map_or(DEFAULT_REQUEST_TIMEOUT, |d| d.0),
        max_in_flight,
        handshake,
    })
}

pub fn health(
    c: &Checker,
    key: &str,
    raw: &Spanned<RawHealth>,
    protocol: Option<&Protocol>,
) -> Result<HealthConfig, ConfigError> {
    let h = raw.get_ref();
    let key = format!("{key}.health");
    let request_fields = RawRequestFields {
        name: None,
        method: h.method.clone(),
        params: h.params.clone(),
        value: h.value.clone(),
        path: h.path.clone(),
        body: h.body.clone(),
    };
    let asks_request =
        h.method.is_some() || h.params.is_some() || h.value.is_some() || h.path.is_some() || h.body.is_some();
    if let Some(service) = &h.grpc_service {
        if !matches!(protocol, Some(Protocol::Grpc { .. })) {
            return c.error(
                service.span(),
                format!("{key}.grpc_service"),
                "`grpc_service` is for protocol = \"grpc\"",
            );
        }
        if asks_request || h.exec.is_some() {
            return c.error(
                service.span(),
                format!("{key}.grpc_service"),
                "give one check: `grpc_service`, a request or `exec`",
            );
        }
    }
    let check = match (&h.exec, asks_request) {
        _ if h.grpc_service.is_some() => {
            Some(HealthCheck::Grpc { service: h.grpc_service.as_ref().expect("checked").get_ref().clone() })
        }
        (Some(exec), true) => {
            return c.error(exec.span(), format!("{key}.exec"), "give either `exec` or a request, not both");
        }
        (Some(exec), false) if exec.get_ref().is_empty() => {
            return c.error(exec.span(), format!("{key}.exec"), "the command is empty");
        }
        (Some(exec), false) => Some(HealthCheck::Exec(exec.get_ref().clone())),
        (None, true) => {
            let spec = request_spec(c, &key, raw.span(), protocol, &request_fields)?;
            Some(HealthCheck::Request { spec, status: h.status.as_ref().map(|s| *s.get_ref()) })
        }
        (None, false) => None,
    };
    if let Some(s) = &h.status
        && !matches!(check, Some(HealthCheck::Request { spec: super::ipc::RequestSpec::Http { .. }, .. }))
    {
        return c.error(s.span(), format!("{key}.status"), "`status` is for HTTP health checks");
    }
    let ready_log = match &h.ready_log {
        None => None,
        Some(r) => Some(
            regex::Regex::new(r.get_ref())
                .or_else(|e| c.error(r.span(), format!("{key}.ready_log"), format!("invalid regex: {e}")))?,
        ),
    };
    if check.is_none() && ready_log.is_none() {
        return c.error(
            raw.span(),
            key,
            "a health table needs a check (method, value, path, grpc_service or exec) or `ready_log`",
        );
    }
    let failures = match &h.failures {
        Some(f) if *f.get_ref() == 0 => {
            return c.error(f.span(), format!("{key}.failures"), "must be at least 1");
        }
        Some(f) => *f.get_ref(),
        None => 3,
    };
    Ok(HealthConfig {
        check,
        interval: h.interval.map_or(Duration::from_secs(5), |d| d.0.max(Duration::from_millis(10))),
        timeout: h.timeout.map_or(Duration::from_secs(2), |d| d.0),
        failures,
        grace: h.grace.map_or(Duration::ZERO, |d| d.0),
        start_period: h.start_period.map_or(DEFAULT_START_PERIOD, |d| d.0),
        restart_on_unhealthy: h.restart_on_unhealthy.unwrap_or(false),
        ready_log,
    })
}
