//! The measuring proxy (`[sidecar.ipc] listen`) against going direct, in one run on the
//! same sidecar process, alternating so both see the same machine:
//! - added latency per request, HTTP/1.1 keep-alive, a 13-byte body: p50 and p99;
//! - requests/s at concurrency 64, and the proxy's CPU per 10,000 requests;
//! - a WebSocket JSON-RPC ping through the tunnel (tapped) against direct;
//! - 1 GB streamed: throughput;
//! - the same latency and concurrency workloads through nginx as a plain reverse proxy
//!   (upstream keep-alive), when `nginx` is installed (`apt-get install nginx-light`).
//!
//! The sidecar is this bench binary itself, started by a real `sidetop agent` (release
//! build) as a hyper server (`SIDETOP_BENCH_ROLE=server`), so the upstream is never the
//! bottleneck. Prints figures; asserts nothing.
//!
//!     cargo bench --bench proxy
//!     SIDETOP_BENCH_BIN=/tmp/other/sidetop cargo bench --bench proxy   (another build)

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const SMALL: &[u8] = b"hello, proxy\n";
const LATENCY_ROUNDS: usize = 4000;
const PASSES: usize = 5;
const CONCURRENCY: usize = 64;
const LOAD_FOR: Duration = Duration::from_secs(4);
const WS_ROUNDS: usize = 3000;
const BULK_MB: u64 = 1024;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match std::env::var("SIDETOP_BENCH_ROLE").as_deref() {
        Ok("server") => runtime.block_on(serve()),
        _ => runtime.block_on(bench()),
    }
}

// ---- the sidecar ----

async fn serve() {
    let port: u16 = std::env::var("PORT").unwrap().parse().unwrap();
    let ws_port: u16 = std::env::var("WS_PORT").unwrap().parse().unwrap();
    let ws = TcpListener::bind(("127.0.0.1", ws_port)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = ws.accept().await.unwrap();
            tokio::spawn(ws_answer(stream));
        }
    });
    let http = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let (stream, _) = http.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(answer);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Chunks = StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>>;

async fn answer(req: Request<Incoming>) -> Result<Response<Chunks>, std::io::Error> {
    let body: futures_util::stream::BoxStream<'static, _> = match req.uri().path() {
        "/big" => {
            let chunk = Bytes::from(vec![7u8; 1 << 20]);
            futures_util::stream::iter((0..BULK_MB).map(move |_| Ok(Frame::data(chunk.clone())))).boxed()
        }
        _ => futures_util::stream::iter([Ok(Frame::data(Bytes::from_static(SMALL)))]).boxed(),
    };
    Ok(Response::new(StreamBody::new(body)))
}

async fn ws_answer(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else { return };
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            let request: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let reply = serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": "pong"});
            if socket.send(Message::text(reply.to_string())).await.is_err() {
                return;
            }
        }
    }
}

// ---- the bench ----

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Ports {
    direct: u16,
    proxy: u16,
    ws_direct: u16,
    ws_proxy: u16,
}

fn start_agent(dir: &std::path::Path, ports: &Ports) -> Child {
    let me = std::env::current_exe().unwrap();
    let toml = format!(
        r#"
[[sidecar]]
name = "web"
command = ["{me}"]
env = {{ SIDETOP_BENCH_ROLE = "server", PORT = "{direct}", WS_PORT = "{ws_direct}" }}
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:{direct}"
listen = "127.0.0.1:{proxy}"

[[sidecar]]
name = "ws"
command = ["sleep", "100000"]
[sidecar.ipc]
protocol = "jsonrpc"
transport = "websocket"
url = "ws://127.0.0.1:{ws_direct}/"
listen = "127.0.0.1:{ws_proxy}"
"#,
        me = me.display(),
        direct = ports.direct,
        proxy = ports.proxy,
        ws_direct = ports.ws_direct,
        ws_proxy = ports.ws_proxy,
    );
    let config = dir.join("sidetop.toml");
    std::fs::write(&config, toml).unwrap();
    // SIDETOP_BENCH_BIN: another build to compare (the default is this checkout's).
    let sidetop =
        std::env::var("SIDETOP_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sidetop").to_string());
    Command::new(sidetop)
        .args(["agent", "--config"])
        .arg(&config)
        .arg("--socket")
        .arg(dir.join("agent.sock"))
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(port: u16) -> Sender {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

/// One GET on a keep-alive connection, its whole body read; the bytes.
async fn get(sender: &mut Sender, port: u16, path: &str) -> u64 {
    sender.ready().await.unwrap();
    let req = Request::get(path).header("host", format!("127.0.0.1:{port}")).body(Empty::new()).unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.unwrap().data_ref() {
            bytes += data.len() as u64;
        }
    }
    bytes
}

async fn wait_serving(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
            let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(pair) => pair,
                Err(_) => continue,
            };
            tokio::spawn(conn);
            let req = Request::get("/small").header("host", "x").body(Empty::<Bytes>::new()).unwrap();
            if let Ok(resp) = sender.send_request(req).await
                && resp.status() == 200
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "port {port} never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Round trips in µs, sorted.
async fn latencies(port: u16, rounds: usize) -> Vec<u64> {
    let mut sender = connect(port).await;
    for _ in 0..200 {
        get(&mut sender, port, "/small").await;
    }
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        get(&mut sender, port, "/small").await;
        out.push(t.elapsed().as_micros() as u64);
    }
    out
}

/// Requests done by `CONCURRENCY` connections in `LOAD_FOR`.
async fn throughput(port: u16) -> (u64, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(port).await;
            let mut done = 0u64;
            while started.elapsed() < LOAD_FOR {
                get(&mut sender, port, "/small").await;
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    (total, started.elapsed())
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

async fn ws_latencies(port: u16, rounds: usize) -> Vec<u64> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/")).await.unwrap();
    let mut out = Vec::with_capacity(rounds);
    for id in 0..rounds + 200 {
        let t = Instant::now();
        let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        socket.send(Message::text(request)).await.unwrap();
        loop {
            if let Some(Ok(Message::Text(_))) = socket.next().await {
                break;
            }
        }
        if id >= 200 {
            out.push(t.elapsed().as_micros() as u64);
        }
    }
    out
}

async fn bulk(port: u16) -> f64 {
    let mut sender = connect(port).await;
    let t = Instant::now();
    let bytes = get(&mut sender, port, "/big").await;
    assert_eq!(bytes, BULK_MB << 20);
    bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64()
}

fn start_nginx(dir: &std::path::Path, upstream: u16) -> Option<(Child, u16)> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let port = free_port();
    let conf = format!(
        "daemon off; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/nginx.err;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; keepalive_requests 10000000; client_body_temp_path {dir}; proxy_temp_path {dir};\n\
           upstream up {{ server 127.0.0.1:{upstream}; keepalive 128; }}\n\
           server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://up; proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\"; proxy_buffering off; }} }} }}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((child, port))
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let ports =
        Ports { direct: free_port(), proxy: free_port(), ws_direct: free_port(), ws_proxy: free_port() };
    let mut agent = start_agent(dir.path(), &ports);
    wait_serving(ports.direct).await;
    wait_serving(ports.proxy).await;
    let nginx = start_nginx(dir.path(), ports.direct);
    if let Some((_, port)) = &nginx {
        wait_serving(*port).await;
    }
    println!("proxy bench: a hyper sidecar behind sidetop's proxy (release), client in this process");

    // Latency, alternating passes.
    let (mut direct, mut proxied, mut via_nginx) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PASSES {
        direct.extend(latencies(ports.direct, LATENCY_ROUNDS).await);
        proxied.extend(latencies(ports.proxy, LATENCY_ROUNDS).await);
        if let Some((_, port)) = &nginx {
            via_nginx.extend(latencies(*port, LATENCY_ROUNDS).await);
        }
    }
    for v in [&mut direct, &mut proxied, &mut via_nginx] {
        v.sort_unstable();
    }
    let row = |name: &str, v: &[u64]| {
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
        println!(
            "  latency {name:<8} p50 {p50:>4} µs  p99 {p99:>5} µs   added p50 {:>+4} µs  p99 {:>+5} µs",
            p50 as i64 - d50 as i64,
            p99 as i64 - d99 as i64
        );
    };
    println!("keep-alive GET, 13-byte body, {} round trips each:", PASSES * LATENCY_ROUNDS);
    row("direct", &direct);
    row("sidetop", &proxied);
    if !via_nginx.is_empty() {
        row("nginx", &via_nginx);
    }

    // Throughput at concurrency 64, with the proxy's CPU.
    println!("concurrency {CONCURRENCY}, {} s each:", LOAD_FOR.as_secs());
    let (n, took) = throughput(ports.direct).await;
    let direct_rate = n as f64 / took.as_secs_f64();
    println!("  direct   {direct_rate:>8.0} req/s");
    let before = cpu_ticks(agent.id());
    let (n, took) = throughput(ports.proxy).await;
    let cpu = (cpu_ticks(agent.id()) - before) as f64 / ticks_per_second();
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "  sidetop  {rate:>8.0} req/s  ({:.2}x direct; sidetop's CPU {:.0} ms per 10,000 requests)",
        rate / direct_rate,
        cpu * 1000.0 / (n as f64 / 10_000.0)
    );
    if let Some((child, port)) = &nginx {
        let before = cpu_ticks(child.id()) + children_ticks(child.id());
        let (n, took) = throughput(*port).await;
        let cpu = (cpu_ticks(child.id()) + children_ticks(child.id()) - before) as f64 / ticks_per_second();
        let rate = n as f64 / took.as_secs_f64();
        println!(
            "  nginx    {rate:>8.0} req/s  ({:.2}x direct; nginx's CPU {:.0} ms per 10,000 requests)",
            rate / direct_rate,
            cpu * 1000.0 / (n as f64 / 10_000.0)
        );
    }

    // WebSocket ping.
    let (mut ws_direct, mut ws_proxied) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        ws_direct.extend(ws_latencies(ports.ws_direct, WS_ROUNDS).await);
        ws_proxied.extend(ws_latencies(ports.ws_proxy, WS_ROUNDS).await);
    }
    ws_direct.sort_unstable();
    ws_proxied.sort_unstable();
    println!("WebSocket JSON-RPC ping, {} each:", 2 * WS_ROUNDS);
    for (name, v) in [("direct", &ws_direct), ("sidetop", &ws_proxied)] {
        println!("  {name:<8} p50 {:>4} µs  p99 {:>5} µs", percentile(v, 0.5), percentile(v, 0.99));
    }

    // Bulk.
    let direct_mbs = bulk(ports.direct).await;
    let proxied_mbs = bulk(ports.proxy).await;
    println!("{BULK_MB} MB streamed:");
    println!("  direct   {direct_mbs:>6.0} MB/s");
    println!("  sidetop  {proxied_mbs:>6.0} MB/s  ({:.2}x direct)", proxied_mbs / direct_mbs);
    if let Some((_, port)) = &nginx {
        let mbs = bulk(*port).await;
        println!("  nginx    {mbs:>6.0} MB/s  ({:.2}x direct)", mbs / direct_mbs);
    }

    if let Some((mut child, _)) = nginx {
        let _ = child.kill();
        let _ = child.wait();
    }
    // SAFETY: plain kill(2) of our own child.
    unsafe {
        libc::kill(agent.id() as i32, libc::SIGTERM);
    }
    let _ = agent.wait();
}

/// CPU of nginx's worker processes (its children).
fn children_ticks(pid: u32) -> u64 {
    let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) else { return 0 };
    children.split_whitespace().filter_map(|c| c.parse().ok()).map(cpu_ticks).sum()
}
