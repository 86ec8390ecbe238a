//! The Prometheus endpoint, end to end: a real Prometheus server (Debian's `prometheus`,
//! installed by scripts/test) scrapes a real agent on loopback; `promtool check metrics`
//! accepts the exposition; method labels stay bounded; a reload takes a removed sidecar
//! out of /metrics.

use crate::common;

use common::agent::Agent;
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

const CONFIG: &str = r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"

[[sidecar]]
name = "crashy"
command = ["sh", "-c", "sleep 0.2; kill -SEGV $$"]
backoff = { initial = "100ms" }
"#;

/// An agent serving its metrics on a free loopback port.
struct Served {
    agent: Agent,
    port: u16,
}

impl std::ops::Deref for Served {
    type Target = Agent;
    fn deref(&self) -> &Agent {
        &self.agent
    }
}

impl Served {
    fn start(toml: &str) -> Served {
        let port = free_port();
        let agent = Agent::start_with(toml, &["--metrics", &format!("127.0.0.1:{port}")]);
        let served = Served { agent, port };
        wait_until(T, "the metrics endpoint", || served.scrape("text/plain").is_some());
        served
    }

    /// GET /metrics with this Accept header; the body.
    fn scrape(&self, accept: &str) -> Option<String> {
        http_get(("127.0.0.1", self.port), "/metrics", accept)
    }

    /// A control-socket connection, past hello.
    fn connect(
        &self,
    ) -> (std::os::unix::net::UnixStream, std::io::Lines<BufReader<std::os::unix::net::UnixStream>>) {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket).unwrap();
        writeln!(stream, r#"{{"jsonrpc":"2.0","id":0,"method":"hello","params":{{"version":2}}}}"#).unwrap();
        let mut lines = BufReader::new(stream.try_clone().unwrap()).lines();
        lines.next().unwrap().unwrap();
        (stream, lines)
    }
}

fn http_get(addr: (&str, u16), path: &str, accept: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// `count` requests to echo over one connection, each a method name of `name(i)`: written
/// from one thread while the replies are read (the agent takes 64 at a time from a client).
fn send_requests(agent: &Served, count: usize, name: impl Fn(usize) -> String) {
    let (mut stream, mut lines) = agent.connect();
    let mut batch = String::new();
    for i in 0..count {
        let spec = json!({"rpc": {"method": name(i), "params": null}});
        let call = json!({"jsonrpc": "2.0", "id": i + 1, "method": "request", "params": {"sidecar": "echo", "spec": spec}});
        batch.push_str(&format!("{call}\n"));
    }
    let writer = std::thread::spawn(move || stream.write_all(batch.as_bytes()).unwrap());
    for _ in 0..count {
        let reply: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert!(reply.get("result").is_some(), "{reply}");
    }
    writer.join().unwrap();
}

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let binary = Path::new("/usr/bin/prometheus");
        assert!(
            binary.exists(),
            "a real Prometheus is needed: install the prometheus package (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sidetop\n    \
                 static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Prometheus { child, port, _dir: dir }
    }

    /// The result vector of an instant query.
    fn query(&self, query: &str) -> Vec<Value> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let body = http_get(("127.0.0.1", self.port), &format!("/api/v1/query?query={encoded}"), "*/*");
        body.and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    }
}

#[test]
fn a_real_prometheus_scrapes_state_and_latency() {
    let agent = Served::start(CONFIG);
    send_requests(&agent, 50, |_| "ping".into());
    let prometheus = Prometheus::start(agent.port);
    wait_until(T, "Prometheus to see both sidecars", || prometheus.query("sidetop_sidecar_up").len() == 2);
    let median = || {
        prometheus
            .query("histogram_quantile(0.5, sum by (le) (sidetop_ipc_request_duration_seconds_bucket{sidecar=\"echo\",method=\"ping\"}))")
            .first()
            .and_then(|r| r["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()))
            .unwrap_or(0.0)
    };
    wait_until(T, "a median latency for echo's pings", || median() > 0.0);
    assert!(median() < 1.0, "a ping answers in well under a second: {}", median());
    wait_until(T, "crashy's SIGSEGV exits", || {
        prometheus.query("sidetop_sidecar_exits_total{sidecar=\"crashy\",reason=\"SIGSEGV\"}").len() == 1
    });
    assert_eq!(prometheus.query("sidetop_build_info").len(), 1);

    // promtool accepts the classic text format as scraped by anything but Prometheus.
    let text = agent.scrape("text/plain").unwrap();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (prometheus package)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And OpenMetrics when asked for it.
    let om = agent.scrape("application/openmetrics-text; version=1.0.0").unwrap();
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE sidetop_sidecar_restarts counter"), "{om}");
}

#[test]
fn ten_thousand_method_names_leave_metrics_bounded() {
    let agent = Served::start(CONFIG);
    send_requests(&agent, 10_000, |i| format!("invented_{i}"));
    let text = agent.scrape("text/plain").unwrap();
    let methods: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("sidetop_ipc_request_duration_seconds_count{sidecar=\"echo\""))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.len() <= 65, "{} methods exported", methods.len());
    assert!(methods.contains("other"), "the rest share method=\"other\"");
    assert!(text.len() < 200_000, "the body stays small: {} bytes", text.len());
}

#[test]
fn a_removed_sidecar_leaves_metrics_after_a_reload() {
    let agent = Served::start(CONFIG);
    assert!(agent.scrape("text/plain").unwrap().contains("sidecar=\"crashy\""));
    let config = write_config(
        agent.dir.path(),
        &CONFIG
            .replace("name = \"crashy\"", "name = \"calm\"")
            .replace("sleep 0.2; kill -SEGV $$", "exec sleep 1000"),
        &agent.marker,
    );
    assert!(config.exists());
    let out =
        Command::new(bin()).args(["ctl", "--socket"]).arg(&agent.socket).arg("reload").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until(T, "calm to be up in /metrics", || {
        agent.scrape("text/plain").is_some_and(|t| t.contains("sidetop_sidecar_up{sidecar=\"calm\"} 1"))
    });
    let text = agent.scrape("text/plain").unwrap();
    assert!(!text.contains("sidecar=\"crashy\""), "{text}");
}
