//! `sidetop request`: start one sidecar (and its dependencies), wait until it is ready,
//! send requests, print the reply or a load summary, stop everything. Exit status: 0 when
//! every request succeeded, 1 when one did not, 2 for bad arguments or config, 3 when the
//! sidecar never became ready.

use crate::cli::RequestArgs;
use crate::config::ipc::{Protocol, RequestSpec};
use crate::config::{Config, SidecarConfig};
use crate::ipc::load::{self, LoadPlan};
use crate::supervisor::{Options, SidecarHandle, State, Supervisor};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::ExitCode;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_READY: u8 = 3;

/// Works out the request to send, or says exactly what is wrong with the arguments.
pub fn build_spec(sidecar: &SidecarConfig, args: &RequestArgs) -> Result<RequestSpec, String> {
    let Some(ipc) = &sidecar.ipc else {
        return Err(format!("{} has no [sidecar.ipc]: sidetop cannot send it requests", sidecar.name));
    };
    let json = |flag: &str, text: &Option<String>| -> Result<Option<Value>, String> {
        text.as_deref()
            .map(|t| serde_json::from_str(t).map_err(|e| format!("invalid JSON in {flag}: {e} (in {t:?})")))
            .transpose()
    };
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

/// The sidecar and everything it depends on, transitively.
fn needed(config: &Config, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        if out.insert(n.clone())
            && let Some(s) = config.sidecar(&n)
        {
            todo.extend(s.depends_on.iter().cloned());
        }
    }
    out
}

pub async fn run(config: &Config, args: &RequestArgs) -> ExitCode {
    let Some(target) = config.sidecar(&args.sidecar) else {
        let known: Vec<&str> = config.sidecars.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "error: no sidecar named {:?} in {} (sidecars: {})",
            args.sidecar,
            config.path.display(),
            known.join(", ")
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let spec = match build_spec(target, args) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut config = config.clone();
    let wanted = needed(&config, &args.sidecar);
    for s in &mut config.sidecars {
        s.autostart = wanted.contains(&s.name);
    }
    let supervisor = match Supervisor::start(&config, Options::binary()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = supervisor.get(&args.sidecar).expect("checked above").clone();
    let code = match wait_ready(&handle, args.ready_timeout).await {
        Err(why) => {
            eprintln!("error: {} did not become ready: {why}", handle.name);
            for line in handle.logs().iter().rev().take(10).collect::<Vec<_>>().into_iter().rev() {
                eprintln!("  {} | {}", handle.name, crate::sanitize::sanitize(&line.bytes));
            }
            ExitCode::from(EXIT_NOT_READY)
        }
        Ok(()) if args.requests == 1 && args.duration.is_none() => one(&handle, &spec).await,
        Ok(()) => many(&handle, spec, args).await,
    };
    supervisor.shutdown().await;
    code
}

async fn wait_ready(handle: &SidecarHandle, timeout: std::time::Duration) -> Result<(), String> {
    let mut rx = handle.watch();
    let waited = tokio::time::timeout(
        timeout,
        rx.wait_for(|s| {
            (s.state == State::Running && s.ready)
                || matches!(s.state, State::Failed | State::CrashLoop | State::Exited | State::Stopped)
        }),
    )
    .await;
    let status = handle.status();
    match waited {
        Err(_) => {
            let last = handle.events().last().map(|e| e.kind.to_string()).unwrap_or_default();
            Err(format!("still {} after {}s (last event: {last})", status.label(), timeout.as_secs()))
        }
        Ok(_) if status.state == State::Running => Ok(()),
        Ok(_) => {
            Err(handle.events().last().map(|e| e.kind.to_string()).unwrap_or_else(|| status.label().into()))
        }
    }
}

async fn one(handle: &SidecarHandle, spec: &RequestSpec) -> ExitCode {
    let exchange = match handle.request(spec).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(response) = &exchange.response {
        // HTTP: status and headers first, then the body; both pretty when JSON.
        let (head, body) = match response.split_once("\n\n") {
            Some((head, body)) if exchange.status.is_some() => (Some(head), body),
            _ => (None, response.as_str()),
        };
        if let Some(head) = head {
            eprintln!("{head}");
        }
        match serde_json::from_str::<Value>(body) {
            Ok(v) => println!("{}", serde_json::to_string_pretty(&v).expect("Value serializes")),
            Err(_) => println!("{}", crate::sanitize::sanitize(body.as_bytes())),
        }
    }
    eprintln!("{} {}", handle.name, exchange.summary());
    if exchange.outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) }
}

async fn many(handle: &SidecarHandle, spec: RequestSpec, args: &RequestArgs) -> ExitCode {
    let ipc = handle.ipc().expect("build_spec checked").clone();
    let plan = LoadPlan {
        requests: if args.duration.is_some() && args.requests == 1 { None } else { Some(args.requests) },
        duration: args.duration,
        concurrency: args.concurrency,
    };
    let report = load::run(ipc, spec, plan).await;
    print!("{}", report.render());
    if report.summary.outcomes.failures() == 0 && report.summary.count > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
