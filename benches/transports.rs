//! Round-trip overhead through sidetop against a direct client, per transport, in one run
//! on the same sidecar process (alternating, so both see the same machine):
//! - WebSocket: JSON-RPC `ping` to `sidecars/ws_service.py`; direct = a tokio-tungstenite
//!   client sending the same message;
//! - gRPC: `grpc.health.v1.Health/Check` on `sidecars/grpc_service.py`; direct = tonic's
//!   generated health client; sidetop = its reflection-described dynamic call.
//!
//! Prints figures; asserts nothing. The gRPC sidecar needs the virtualenv scripts/test
//! makes (SIDETOP_TEST_PYTHON, or target/sidetop-venv).
//!
//!     cargo bench --bench transports

use futures_util::{SinkExt, StreamExt};
use sidetop::config::Config;
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::Origin;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 2000;
const WARMUP: usize = 200;
const PASSES: usize = 3;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn sidecars() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sidecars").display().to_string()
}

fn grpc_python() -> String {
    std::env::var("SIDETOP_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/target/sidetop-venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Times `ROUNDS` calls of `one` after a warm-up, in microseconds.
async fn timed<F: std::future::Future<Output = ()>>(mut one: impl FnMut() -> F) -> Vec<f64> {
    let mut out = Vec::with_capacity(ROUNDS);
    for i in 0..WARMUP + ROUNDS {
        let start = Instant::now();
        one().await;
        if i >= WARMUP {
            out.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    out
}

fn report(what: &str, direct: &mut [f64], through: &mut [f64], target: f64) {
    let (d50, d99) = (pct(direct, 0.5), pct(direct, 0.99));
    let (s50, s99) = (pct(through, 0.5), pct(through, 0.99));
    println!("{what}: {} round trips each", direct.len());
    println!("  direct client:   p50 {d50:.1} us   p99 {d99:.1} us");
    println!("  through sidetop: p50 {s50:.1} us   p99 {s99:.1} us");
    println!(
        "  overhead:        p50 {:.1} us   p99 {:.1} us   (target: p50 <= {target} us)",
        s50 - d50,
        s99 - d99
    );
}

async fn started(toml: &str, name: &str) -> (Supervisor, Arc<sidetop::ipc::Ipc>) {
    let config = Config::parse(Path::new("bench.toml"), toml).unwrap();
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get(name).unwrap();
    let mut rx = h.watch();
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| s.state == Life::Running && s.ready))
        .await
        .expect("ready within 30 s")
        .unwrap();
    let ipc = h.ipc().unwrap().clone();
    (sup, ipc)
}

use std::sync::Arc;

async fn websocket() {
    let port = free_port();
    let toml = format!(
        "[[sidecar]]\nname = \"ws\"\ncommand = [\"python3\", \"-u\", \"{}/ws_service.py\", \"{port}\"]\nenv = {{ WS_HEARTBEAT_S = \"0\" }}\n[sidecar.ipc]\nprotocol = \"jsonrpc\"\ntransport = \"websocket\"\nurl = \"ws://127.0.0.1:{port}/\"\n",
        sidecars()
    );
    let (sup, ipc) = started(&toml, "ws").await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/")).await.unwrap();
    let ping = RequestSpec::Rpc { method: "ping".into(), params: None };
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..PASSES {
        for i in 0..WARMUP + ROUNDS {
            let message = format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}");
            let start = Instant::now();
            socket.send(Message::text(message)).await.unwrap();
            while !matches!(socket.next().await, Some(Ok(Message::Text(_)))) {}
            if i >= WARMUP {
                direct.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        through.extend(
            timed(|| {
                let (ipc, ping) = (ipc.clone(), ping.clone());
                async move {
                    assert!(ipc.request(&ping, Origin::Operator).await.outcome.is_ok());
                }
            })
            .await,
        );
    }
    report("WebSocket, JSON-RPC ping to sidecars/ws_service.py", &mut direct, &mut through, 50.0);
    sup.shutdown().await;
}

async fn grpc() {
    let port = free_port();
    let toml = format!(
        "[[sidecar]]\nname = \"grpc\"\ncommand = [\"{}\", \"-u\", \"{}/grpc_service.py\", \"{port}\"]\n[sidecar.ipc]\nprotocol = \"grpc\"\naddress = \"127.0.0.1:{port}\"\n",
        grpc_python(),
        sidecars()
    );
    let (sup, ipc) = started(&toml, "grpc").await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .tcp_nodelay(true)
        .connect()
        .await
        .unwrap();
    let client = tonic_health::pb::health_client::HealthClient::new(channel);
    let check = RequestSpec::Rpc {
        method: "grpc.health.v1.Health/Check".into(),
        params: Some(serde_json::json!({"service": ""})),
    };
    let first = ipc.request(&check, Origin::Operator).await;
    assert!(first.outcome.is_ok(), "{first:?}");
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..PASSES {
        direct.extend(
            timed(|| {
                let mut client = client.clone();
                async move {
                    client
                        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                        .await
                        .unwrap();
                }
            })
            .await,
        );
        through.extend(
            timed(|| {
                let (ipc, check) = (ipc.clone(), check.clone());
                async move {
                    assert!(ipc.request(&check, Origin::Operator).await.outcome.is_ok());
                }
            })
            .await,
        );
    }
    report("gRPC, grpc.health.v1.Health/Check on sidecars/grpc_service.py", &mut direct, &mut through, 50.0);
    sup.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(websocket());
    runtime.block_on(grpc());
}
