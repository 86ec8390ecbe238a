//! One pm2 app: its command as pm2 builds it (interpreter by extension, node args,
//! script, args), env, instances (numbered sidecars with `NODE_APP_INSTANCE`), restart
//! and stop settings, log files; what pm2 does beyond that is warned about.

use super::draft::{Draft, Sidecar, millis};
use super::pm2::Lines;
use crate::config::ConfigError;
use serde_json::{Map, Value};
use std::path::Path;

/// pm2's `interpreter.json`: the interpreter for a script's extension.
const BY_EXTENSION: &[(&str, &str)] = &[
    ("sh", "bash"),
    ("py", "python"),
    ("rb", "ruby"),
    ("php", "php"),
    ("pl", "perl"),
    ("js", "node"),
    ("coffee", "coffee"),
    ("ls", "lsc"),
    ("ts", "bun"),
    ("tsx", "bun"),
];

const HANDLED: &[&str] = &[
    "name",
    "script",
    "exec",
    "args",
    "interpreter",
    "exec_interpreter",
    "node_args",
    "interpreter_args",
    "interpreterArgs",
    "cwd",
    "env",
    "port",
    "instances",
    "exec_mode",
    "instance_var",
    "increment_var",
    "autorestart",
    "autostart",
    "max_restarts",
    "min_uptime",
    "restart_delay",
    "exp_backoff_restart_delay",
    "kill_timeout",
    "out_file",
    "out",
    "output",
    "out_log",
    "error_file",
    "error",
    "err",
    "err_file",
    "err_log",
    "log_file",
    "log",
    "watch",
    "ignore_watch",
    "watch_options",
    "watch_delay",
    "treekill",
];

pub(super) fn app(
    draft: &mut Draft,
    path: &Path,
    index: usize,
    app: &Map<String, Value>,
    line: usize,
    lines: &Lines,
) -> Result<(), ConfigError> {
    let fail = |msg: String| Err(ConfigError::whole_file(path, format!("apps[{index}]: {msg}")));
    let text = |k: &str| app.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(script) = text("script").or_else(|| text("exec")) else {
        return fail("no `script`".into());
    };
    let name = text("name").unwrap_or_else(|| {
        Path::new(&script).file_stem().map_or(script.clone(), |s| s.to_string_lossy().to_string())
    });
    let at = |k: &str| lines.of(k, line);
    let mut s = Sidecar::named(&name, path, line);
    let cwd = text("cwd");
    let folder = match &cwd {
        Some(c) => super::folder_of(path).join(c),
        None => super::folder_of(path),
    };
    s.set(
        "command",
        toml::Value::Array(command(&script, app, &folder).into_iter().map(toml::Value::String).collect()),
    );
    if let Some(c) = &cwd {
        s.set("cwd", c.as_str());
    }
    if let Some(Value::Object(env)) = app.get("env") {
        for (k, v) in env {
            s.set_env(k, &scalar(v));
        }
    }
    if let Some(port) = app.get("port") {
        s.set_env("PORT", &scalar(port));
    }

    if app.contains_key("autorestart") && !truthy(app.get("autorestart")) {
        s.set("restart", "never");
    } else {
        s.set("restart", "always");
    }
    if let Some(Value::Bool(false)) = app.get("autostart") {
        s.set("autostart", false);
    }
    let ms = |k: &str| app.get(k).and_then(duration_ms);
    if let Some(d) = ms("restart_delay") {
        s.set_in("backoff", "initial", millis(d));
        s.set_in("backoff", "max", millis(d));
        s.set_in("backoff", "multiplier", 1.0);
    }
    if let Some(d) = ms("exp_backoff_restart_delay") {
        s.set_in("backoff", "initial", millis(d));
        s.set_in("backoff", "max", "15s");
        s.set_in("backoff", "multiplier", 1.5);
    }
    let max_restarts = app.get("max_restarts").and_then(Value::as_u64);
    let min_uptime = ms("min_uptime");
    if max_restarts.is_some() || min_uptime.is_some() {
        let (n, up) = (max_restarts.unwrap_or(16).max(1), min_uptime.unwrap_or(1000));
        let window = n * (up + ms("restart_delay").unwrap_or(0)) + 1000;
        let key_line = at(if max_restarts.is_some() { "max_restarts" } else { "min_uptime" });
        s.approx(
            Some("backoff"),
            "reset_after",
            millis(up),
            key_line,
            &format!("min_uptime: a run of {} counts as stable", short(up)),
        );
        s.set_in("crash_loop", "max_exits", n as i64);
        s.approx(
            Some("crash_loop"),
            "window",
            millis(window.div_ceil(1000) * 1000),
            key_line,
            &format!("max_restarts: pm2 stops after {n} restarts that each ran under min_uptime; sidetop after {n} exits within this window"),
        );
    }
    s.set("stop_signal", "SIGINT");
    s.set("stop_timeout", millis(ms("kill_timeout").unwrap_or(1600)));
    if let Some(Value::Bool(false)) = app.get("treekill") {
        s.approx_note(at("treekill"), "treekill: false: sidetop signals the whole process group");
    }
    logs(&mut s, app, &at);
    if app.get("watch").is_some_and(|w| truthy(Some(w))) {
        s.skip(at("watch"), "watch (sidetop does not restart on file changes)");
    }
    for k in ["ignore_watch", "watch_options", "watch_delay"] {
        if app.contains_key(k) {
            s.skip(at(k), &format!("{k} (sidetop does not watch files)"));
        }
    }
    for (k, v) in app {
        if HANDLED.contains(&k.as_str()) {
            continue;
        }
        if let Some(env_name) = k.strip_prefix("env_") {
            s.skip(at(k), &format!("{k} (used with pm2 start --env {env_name}; the plain env is imported)"));
        } else if !matches!(v, Value::Null | Value::Bool(false)) {
            s.skip(at(k), &format!("{k} (no sidetop equivalent)"));
        }
    }
    instances(draft, s, app, &at, &script);
    Ok(())
}

/// pm2's instances: a number, `max` or 0 (every CPU), -1 (every CPU but one).
fn instances(
    draft: &mut Draft,
    mut s: Sidecar,
    app: &Map<String, Value>,
    at: &dyn Fn(&str) -> usize,
    script: &str,
) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let given = app.get("instances");
    let (count, by_cpu) = match given {
        None => (1, false),
        Some(Value::String(s)) if s == "max" => (cpus, true),
        Some(v) => match v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(0) => (cpus, true),
            Some(-1) => ((cpus - 1).max(1), true),
            Some(n) => (n.max(1), false),
            None => (1, false),
        },
    };
    if by_cpu {
        s.approx_note(
            at("instances"),
            &format!("instances: one per CPU, {count} on the machine that imported it"),
        );
    }
    let mode = app.get("exec_mode").and_then(Value::as_str).unwrap_or("");
    let node = s_command_is_node(app, script);
    if mode.starts_with("cluster") || (mode.is_empty() && given.is_some() && node) {
        s.approx_note(
            at(if mode.is_empty() { "instances" } else { "exec_mode" }),
            "cluster mode: sidetop runs separate processes, which do not share a port through Node's cluster module",
        );
    }
    let var = app.get("instance_var").and_then(Value::as_str).unwrap_or("NODE_APP_INSTANCE").to_string();
    let increment = app.get("increment_var").and_then(Value::as_str).map(str::to_string);
    let base_of = |s: &Sidecar, var: &str| {
        s.env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()).or_else(|| std::env::var(var).ok())
    };
    if count <= 1 {
        s.set_env(&var, "0");
        draft.sidecars.push(s);
        return;
    }
    for i in 0..count {
        let mut copy = s.renamed(&format!("{}-{i}", s.name));
        copy.set_env(&var, &i.to_string());
        // pm2 gives each instance its own log file: `api-out-1.log`.
        if let Some(file) = s.value("log_file").and_then(|v| v.as_str()) {
            copy.replace("log_file", numbered(file, i));
        }
        if let Some(inc) = &increment
            && let Some(base) = base_of(&s, inc).and_then(|b| b.trim().parse::<i64>().ok())
        {
            copy.set_env(inc, &(base + i).to_string());
        }
        draft.sidecars.push(copy);
    }
}

/// `logs/api-out.log` as instance 1's `logs/api-out-1.log`.
fn numbered(file: &str, i: i64) -> String {
    let p = Path::new(file);
    match (p.file_stem(), p.extension()) {
        (Some(stem), Some(ext)) => {
            let name = format!("{}-{i}.{}", stem.to_string_lossy(), ext.to_string_lossy());
            p.with_file_name(name).display().to_string()
        }
        _ => format!("{file}-{i}"),
    }
}

fn s_command_is_node(app: &Map<String, Value>, script: &str) -> bool {
    let interp = app.get("interpreter").or_else(|| app.get("exec_interpreter")).and_then(Value::as_str);
    match interp {
        Some(i) => i.ends_with("node") || i.ends_with("bun"),
        None => matches!(extension(script).as_str(), "js" | "cjs" | "mjs" | "ts" | "tsx" | ""),
    }
}

fn extension(script: &str) -> String {
    Path::new(script).extension().map_or(String::new(), |e| e.to_string_lossy().to_string())
}

/// `[interpreter, node_args.., script, args..]`, or `[script, args..]` for `none`.
fn command(script: &str, app: &Map<String, Value>, folder: &Path) -> Vec<String> {
    let list = |keys: &[&str]| -> Vec<String> {
        match keys.iter().find_map(|k| app.get(*k)) {
            Some(Value::Array(items)) => items.iter().map(scalar).collect(),
            Some(Value::String(s)) => super::words::pm2_args(s),
            Some(other) => vec![scalar(other)],
            None => Vec::new(),
        }
    };
    let interp = app.get("interpreter").or_else(|| app.get("exec_interpreter")).and_then(Value::as_str);
    let file = folder.join(script);
    let interp = match interp {
        Some(i) => Some(i.to_string()),
        None => match BY_EXTENSION.iter().find(|(e, _)| *e == extension(script)) {
            Some((_, "python")) if which("python").is_none() && which("python3").is_some() => {
                Some("python3".into())
            }
            Some((_, i)) => Some(i.to_string()),
            None => {
                let resolved = if file.is_file() { Some(file.clone()) } else { which(script) };
                match resolved {
                    Some(p) if is_binary(&p) => Some("none".into()),
                    Some(_) => Some("node".into()),
                    None => Some("none".into()),
                }
            }
        },
    };
    let mut argv = Vec::new();
    let script_arg =
        if !script.contains('/') && file.is_file() { format!("./{script}") } else { script.to_string() };
    match interp.as_deref() {
        Some("none") | None => argv.push(script_arg),
        Some(i) => {
            argv.push(i.to_string());
            argv.extend(list(&["node_args", "interpreter_args", "interpreterArgs"]));
            argv.push(script.to_string());
        }
    }
    argv.extend(list(&["args"]));
    argv
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// What pm2's isBinary decides: a NUL byte in the first 512 bytes.
fn is_binary(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 512];
    std::fs::File::open(path).and_then(|mut f| f.read(&mut buf)).is_ok_and(|n| buf[..n].contains(&0))
}

fn logs(s: &mut Sidecar, app: &Map<String, Value>, at: &dyn Fn(&str) -> usize) {
    let first = |keys: &[&'static str]| -> Option<(&'static str, String)> {
        keys.iter().find_map(|k| app.get(*k).and_then(Value::as_str).map(|v| (*k, v.to_string())))
    };
    let combined = first(&["log_file", "log"]);
    let out = first(&["out_file", "out", "output", "out_log"]);
    let err = first(&["error_file", "error", "err", "err_file", "err_log"]);
    let chosen = combined.clone().or(out.clone()).or(err.clone());
    for (k, v) in [&combined, &out, &err].into_iter().flatten() {
        if v == "/dev/null" {
            s.skip(at(k), &format!("{k}: /dev/null (sidetop writes no log file unless told)"));
        }
    }
    let Some((key, file)) = chosen.filter(|(_, v)| v != "/dev/null") else { return };
    s.approx(
        None,
        "log_file",
        file.as_str(),
        at(key),
        &format!("{key}: sidetop's log file has both streams, each line with its time and stream"),
    );
    for (k, v) in [&combined, &out, &err].into_iter().flatten() {
        if *v != file && v != "/dev/null" {
            s.skip(at(k), &format!("{k}: {v} (sidetop writes one log file per sidecar: {file})"));
        }
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s != "false",
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// pm2's time values: milliseconds as a number, or a string like `"1s"`, `"5m"`, `"1h"`.
fn duration_ms(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_f64().map(|f| f.max(0.0) as u64),
        Value::String(s) => {
            let s = s.trim();
            let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: u64 = digits.parse().ok()?;
            Some(match unit {
                "" | "ms" => n,
                "s" => n * 1000,
                "m" => n * 60_000,
                "h" => n * 3_600_000,
                _ => return None,
            })
        }
        _ => None,
    }
}

fn short(ms: u64) -> String {
    millis(ms).as_str().unwrap_or_default().to_string()
}
