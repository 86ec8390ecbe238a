//! The Prometheus endpoint: `GET /metrics` on one address (loopback unless told
//! otherwise), nothing else. One more client of the engine: it reads the engine at scrape
//! time and never holds a lock while writing. OpenMetrics text when the scraper asks for
//! it (Prometheus does), else the classic Prometheus text format (curl, older agents).

mod collect;

use crate::api::engine::Engine;
use prometheus_client::registry::Registry;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head read.
const MAX_HEAD: usize = 8 << 10;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves until dropped.
pub struct Exporter {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds first (before any sidecar starts: a port that is taken is an error up front).
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| io::Error::new(e.kind(), format!("metrics on {addr}: {e}")))
}

pub fn serve(listener: TcpListener, engine: Arc<Engine>) -> io::Result<Exporter> {
    let addr = listener.local_addr()?;
    let registry = Arc::new(registry(engine));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            tokio::spawn(answer(stream, registry.clone()));
        }
    });
    tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
    Ok(Exporter { addr, task })
}

/// The exposition, in the format asked for by `accept`; also for benchmarks.
pub fn render(registry: &Registry, accept: &str) -> (&'static str, String) {
    let mut body = String::with_capacity(64 << 10);
    if prometheus_client::encoding::text::encode(&mut body, registry).is_err() {
        body.clear();
    }
    if accept.contains("application/openmetrics-text") {
        (OPENMETRICS, body)
    } else {
        (PROMETHEUS_TEXT, to_prometheus_text(&body))
    }
}

/// A registry with the engine's collector, as `serve` builds it.
pub fn registry(engine: Arc<Engine>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collect::EngineCollector(engine)));
    registry
}

async fn answer(mut stream: TcpStream, registry: Arc<Registry>) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    if read != Ok(true) {
        return;
    }
    let head = String::from_utf8_lossy(&head);
    let mut request = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (request.next().unwrap_or(""), request.next().unwrap_or(""));
    let accept = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("accept")).map(|(_, v)| v))
        .unwrap_or("")
        .to_string();
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => {
            let (content_type, body) = render(&registry, &accept);
            ("200 OK", content_type, body)
        }
        ("GET", _) => ("404 Not Found", "text/plain", "only /metrics is served here\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "GET /metrics\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// OpenMetrics text to the classic Prometheus text format: no `# EOF` or `# UNIT`, and
/// the metadata of counters and infos named as their samples are (`x_total`, `x_info`).
fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.split_inclusive('\n') {
        if !line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let line = line.trim_end_matches('\n');
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
        let (suffix, kind) = match kind {
            "counter" => ("_total", "counter"),
            "info" => ("_info", "gauge"),
            other => ("", other),
        };
        if let Some(text) = help.take().and_then(|h| h.split_once(' ').map(|(_, t)| t)) {
            out.push_str(&format!("# HELP {name}{suffix} {text}\n"));
        }
        out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_infos_are_renamed_for_the_classic_format() {
        let om = "# HELP a_restarts Restarts.\n# TYPE a_restarts counter\na_restarts_total{sidecar=\"x\"} 2\n\
                  # HELP b Version.\n# TYPE b info\nb_info{version=\"1\"} 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_restarts_total Restarts.\n# TYPE a_restarts_total counter\na_restarts_total{sidecar=\"x\"} 2\n\
             # HELP b_info Version.\n# TYPE b_info gauge\nb_info{version=\"1\"} 1\n"
        );
    }
}
