//! `[sidecar.ipc] listen`: sidetop listens there and forwards every connection to the
//! sidecar's own address, measuring each exchange the application makes (the measuring
//! proxy, `ipc/proxy/`).

use super::ConfigError;
use super::ipc::{Protocol, Transport};
use super::validate::Checker;
use std::net::SocketAddr;
use toml::Spanned;

/// What the proxy speaks to the application and to the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP/1.1 (and h2c from the application), upgrades to WebSocket passed through.
    Http,
    /// A JSON-RPC sidecar over a WebSocket: HTTP/1.1 upgrade, then messages measured.
    WebSocket,
    /// HTTP/2 with trailers.
    Grpc,
}

impl ProxyKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::WebSocket => "websocket",
            ProxyKind::Grpc => "grpc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// Where the application connects.
    pub addr: SocketAddr,
    /// Where the sidecar itself listens, `host:port` (from its `url` or `address`).
    pub upstream: String,
    pub kind: ProxyKind,
}

/// `listen` and `listen_remote` checked against the protocol: only network sidecars have
/// an address to stand in front of; a non-loopback address must be asked for.
pub(super) fn listen(
    c: &Checker,
    key: &str,
    listen: Option<&Spanned<String>>,
    remote: Option<bool>,
    protocol: &Protocol,
    transport: &Transport,
) -> Result<Option<Listen>, ConfigError> {
    let Some(raw) = listen else { return Ok(None) };
    let field = format!("{key}.listen");
    let addr: SocketAddr = match raw.get_ref().parse() {
        Ok(addr) => addr,
        Err(_) => {
            return c.error(
                raw.span(),
                field,
                "an address and port, like \"127.0.0.1:5000\" or \"[::1]:5000\"",
            );
        }
    };
    if !addr.ip().is_loopback() && remote != Some(true) {
        return c.error(
            raw.span(),
            field,
            format!(
                "{} is not a loopback address: other hosts could reach the sidecar through it; \
                 set listen_remote = true if that is meant",
                addr.ip()
            ),
        );
    }
    let (upstream, kind) = match (protocol, transport) {
        (Protocol::Http { url }, _) => (host_port(url), ProxyKind::Http),
        (Protocol::Grpc { address }, _) => (Some(address.clone()), ProxyKind::Grpc),
        (Protocol::JsonRpc, Transport::WebSocket(url)) => (host_port(url), ProxyKind::WebSocket),
        _ => {
            return c.error(
                raw.span(),
                field,
                "listen applies to network sidecars: protocol = \"http\", \"grpc\", or \
                 transport = \"websocket\"",
            );
        }
    };
    let Some(upstream) = upstream else {
        return c.error(raw.span(), field, "the sidecar's url has no host and port to forward to");
    };
    if upstream.parse::<SocketAddr>().ok() == Some(addr) {
        return c.error(
            raw.span(),
            field,
            format!(
                "{addr} is the sidecar's own address: listen on another port and give the \
                 sidecar its real one (e.g. env PORT)"
            ),
        );
    }
    Ok(Some(Listen { addr, upstream, kind }))
}

/// `host:port` of an `http://` or `ws://` URL (its scheme's port when it has none), as a
/// socket connects to it (`[::1]:80` for IPv6).
pub fn host_port(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::{ProxyKind, host_port};
    use crate::config::Config;
    use std::path::Path;

    fn parse(ipc: &str) -> Result<Config, crate::config::ConfigError> {
        let src = format!("[[sidecar]]\nname = \"s\"\ncommand = [\"x\"]\n[sidecar.ipc]\n{ipc}\n");
        Config::parse(Path::new("t.toml"), &src)
    }

    #[test]
    fn listen_stands_in_front_of_network_sidecars_only_and_on_loopback_unless_asked() {
        let c = parse("protocol = \"http\"\nurl = \"http://127.0.0.1:5001/x\"\nlisten = \"127.0.0.1:5000\"")
            .unwrap();
        let listen = c.sidecars[0].ipc.as_ref().unwrap().listen.clone().unwrap();
        assert_eq!(
            (listen.addr.port(), listen.upstream.as_str(), listen.kind),
            (5000, "127.0.0.1:5001", ProxyKind::Http)
        );
        let c =
            parse("protocol = \"grpc\"\naddress = \"127.0.0.1:50051\"\nlisten = \"[::1]:50050\"").unwrap();
        assert_eq!(c.sidecars[0].ipc.as_ref().unwrap().listen.as_ref().unwrap().kind, ProxyKind::Grpc);
        let c = parse("protocol = \"jsonrpc\"\ntransport = \"websocket\"\nurl = \"ws://127.0.0.1:8765\"\nlisten = \"127.0.0.1:8764\"").unwrap();
        assert_eq!(c.sidecars[0].ipc.as_ref().unwrap().listen.as_ref().unwrap().upstream, "127.0.0.1:8765");

        let e = parse("protocol = \"http\"\nurl = \"http://127.0.0.1:5001\"\nlisten = \"0.0.0.0:5000\"")
            .unwrap_err();
        assert_eq!((e.line, e.column, e.key.as_str()), (7, 10, "sidecar[0].ipc.listen"), "{e}");
        assert!(e.to_string().contains("listen_remote = true"), "{e}");
        parse("protocol = \"http\"\nurl = \"http://127.0.0.1:5001\"\nlisten = \"0.0.0.0:5000\"\nlisten_remote = true").unwrap();

        let e = parse("protocol = \"jsonrpc\"\nlisten = \"127.0.0.1:5000\"").unwrap_err();
        assert!(e.to_string().contains("network sidecars"), "{e}");
        let e = parse("protocol = \"http\"\nurl = \"http://127.0.0.1:5000\"\nlisten = \"127.0.0.1:5000\"")
            .unwrap_err();
        assert!(e.to_string().contains("the sidecar's own address"), "{e}");
        let e = parse("protocol = \"http\"\nurl = \"http://127.0.0.1:5001\"\nlisten = \"5000\"").unwrap_err();
        assert_eq!(e.key, "sidecar[0].ipc.listen", "{e}");
    }

    #[test]
    fn the_authority_of_a_url_has_a_port() {
        let authority = |url| host_port(url).unwrap();
        assert_eq!(authority("http://127.0.0.1:5001/resource"), "127.0.0.1:5001");
        assert_eq!(authority("ws://localhost:8765"), "localhost:8765");
        assert_eq!(authority("http://example.test"), "example.test:80");
        assert_eq!(authority("http://[::1]:9000/x"), "[::1]:9000");
        assert_eq!(authority("http://[::1]/x"), "[::1]:80");
    }
}
