//! gRPC without generated code, against `sidecars/grpc_service.py` (grpcio, in the
//! virtualenv scripts/test makes): calls built from JSON through server reflection, the
//! reply as JSON, latency per method, a status as an error, and the standard health check
//! (NOT_SERVING makes the sidecar unhealthy).

use crate::common;

use common::*;
use serde_json::json;
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::Outcome;
use sidetop::supervisor::{Options, Supervisor};
use std::time::{Duration, Instant};

fn grpc_config(port: u16) -> String {
    format!(
        r#"
[[sidecar]]
name = "pricing"
command = ["{python}", "-u", "{{sidecars}}/grpc_service.py", "{port}"]
[sidecar.ipc]
protocol = "grpc"
address = "127.0.0.1:{port}"
[sidecar.health]
grpc_service = ""
interval = "100ms"
failures = 2
start_period = "0s"
[[sidecar.request]]
name = "price"
method = "sidetop.example.Pricing/GetPrice"
params = {{ pair = "BTC-USD" }}
"#,
        python = grpc_python()
    )
}

fn call(method: &str, params: serde_json::Value) -> RequestSpec {
    RequestSpec::Rpc { method: format!("sidetop.example.Pricing/{method}"), params: Some(params) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_through_reflection_and_the_health_check() {
    let m = marker();
    let (_dir, config) = config(&grpc_config(free_port()), &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("pricing").unwrap();
    wait_ready(&h).await;

    let price = h.request(&call("GetPrice", json!({"pair": "BTC-USD"}))).await.unwrap();
    assert!(price.outcome.is_ok(), "{price:?}");
    let reply: serde_json::Value = serde_json::from_str(price.response.as_deref().unwrap()).unwrap();
    assert_eq!((reply["pair"].as_str(), reply["price"].as_f64()), (Some("BTC-USD"), Some(7003.5)), "{reply}");
    assert!(reply["atUnixMs"].is_string(), "proto3 JSON: int64 as a string, camelCase: {reply}");
    let sum = h.request(&call("Sum", json!({"values": [1, 2, 39]}))).await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(sum.response.as_deref().unwrap()).unwrap()["total"],
        "42"
    );
    let missing = h.request(&call("GetPrice", json!({"pair": "FAIL"}))).await.unwrap();
    assert_eq!(missing.outcome, Outcome::RpcError { code: 5, message: "NotFound: unknown pair FAIL".into() });
    let unknown = h.request(&call("Nope", json!({}))).await.unwrap();
    assert!(
        unknown.outcome.to_string().contains("has no method Nope (it has GetPrice"),
        "{:?}",
        unknown.outcome
    );
    let wrong = h.request(&call("GetPrice", json!({"pear": "x"}))).await.unwrap();
    assert!(
        wrong.outcome.to_string().contains("the params do not fit sidetop.example.PriceRequest"),
        "{:?}",
        wrong.outcome
    );
    {
        let metrics = h.ipc().unwrap().metrics();
        let get = metrics.methods.get("sidetop.example.Pricing/GetPrice").expect("latency per method");
        assert_eq!(get.total(), 3, "BTC-USD, FAIL and the one whose params did not fit");
        assert!(metrics.methods.contains_key("sidetop.example.Pricing/Sum"));
    }

    // NOT_SERVING: health checks fail, the sidecar is unhealthy, then healthy again.
    h.request(&call("SetNotServing", json!({}))).await.unwrap();
    wait_status(&h, Duration::from_secs(5), |s| s.unhealthy).await;
    let events = event_texts(&h);
    assert!(events.iter().any(|e| e == "health check failed 1/2: NOT_SERVING"), "{events:?}");
    h.request(&call("SetServing", json!({}))).await.unwrap();
    wait_status(&h, Duration::from_secs(5), |s| !s.unhealthy).await;
    sup.shutdown().await;
}

#[test]
fn sidetop_request_calls_a_grpc_method() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &grpc_config(free_port()), &marker());
    let run = |args: &[&str]| {
        std::process::Command::new(bin())
            .arg("--config")
            .arg(&config)
            .arg("--log-dir")
            .arg(dir.path().join("logs"))
            .args(["request", "pricing"])
            .args(args)
            .output()
            .unwrap()
    };
    let begun = Instant::now();
    let out = run(&["--method", "sidetop.example.Pricing/GetPrice", "--params", r#"{"pair": "ETH-USD"}"#]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("\"price\": 7003.5") && said.contains("sidetop.example.Pricing/GetPrice"),
        "{said}"
    );
    assert!(begun.elapsed() < Duration::from_secs(20));
    let out = run(&["--method", "GetPrice"]);
    assert_eq!(out.status.code(), Some(2), "not package.Service/Method");
    let out = run(&["--method", "sidetop.example.Pricing/GetPrice", "--params", r#"{"pair": "FAIL"}"#]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound: unknown pair FAIL"));
}
