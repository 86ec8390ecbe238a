//! pm2 ecosystem files: `.json` is parsed directly; `.js` and `.cjs` are evaluated by
//! `node` (as pm2 itself requires them) and their export read as JSON. The apps are
//! `apps` (or `pm2`, or the export itself: one app or a list).

use super::draft::Draft;
use super::error_at;
use crate::config::ConfigError;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Prints the file's export as JSON (functions and undefined values drop out).
const PRINT_EXPORT: &str = "const m = require(process.argv[1]); \
    const c = (m && m.__esModule && m.default !== undefined) ? m.default : m; \
    process.stdout.write(JSON.stringify(c === undefined ? null : c));";

pub(super) fn import(path: &Path, text: &str) -> Result<Draft, ConfigError> {
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value: Value = if is_json {
        serde_json::from_str(text)
            .map_err(|e| error_at(path, text, e.line(), e.column(), "", format!("JSON syntax error: {e}")))?
    } else {
        let json = evaluate(path)?;
        serde_json::from_str(&json).map_err(|e| {
            ConfigError::whole_file(path, format!("node printed something that is not JSON: {e}"))
        })?
    };
    let mut draft = Draft::new(path);
    let apps = match &value {
        Value::Object(top) => {
            let list = top.get("apps").or_else(|| top.get("pm2"));
            for (k, _) in top.iter().filter(|(k, _)| *k != "apps" && *k != "pm2") {
                if list.is_some() {
                    let line = find_line(text, k, 0).unwrap_or(0);
                    draft.skip(path, line, &format!("`{k}` (pm2's {k} settings)"));
                }
            }
            list.unwrap_or(&value)
        }
        other => other,
    };
    let apps: Vec<&Value> = match apps {
        Value::Array(list) => list.iter().collect(),
        Value::Object(_) => vec![apps],
        _ => return Err(ConfigError::whole_file(path, "no apps: expected `apps: [{ name, script, ... }]`")),
    };
    let mut from = 0;
    for (i, app) in apps.into_iter().enumerate() {
        let Value::Object(app) = app else {
            return Err(ConfigError::whole_file(path, format!("apps[{i}] is not an object")));
        };
        let anchor = app.get("name").and_then(Value::as_str).map(|n| (n, "name")).or_else(|| {
            app.get("script").or_else(|| app.get("exec")).and_then(Value::as_str).map(|s| (s, "script"))
        });
        let line = match anchor {
            Some((value, key)) => find_value_line(text, key, value, from).unwrap_or(0),
            None => 0,
        };
        if line > 0 {
            from = line;
        }
        let lines = Lines { text, from: line.saturating_sub(1) };
        super::pm2_app::app(&mut draft, path, i, app, line, &lines)?;
    }
    if draft.sidecars.is_empty() {
        return Err(ConfigError::whole_file(path, "`apps` is empty: nothing to supervise"));
    }
    Ok(draft)
}

/// Lines of an app's keys, found by searching the source text from where the app starts.
pub(super) struct Lines<'a> {
    text: &'a str,
    from: usize,
}

impl Lines<'_> {
    /// The line of `key` in this app, else the app's own line (0 if unknown).
    pub fn of(&self, key: &str, app_line: usize) -> usize {
        find_line(self.text, key, self.from).unwrap_or(app_line)
    }
}

fn key_regex(key: &str) -> regex::Regex {
    regex::Regex::new(&format!(r#"(^|[\s{{,])["']?{}["']?\s*:"#, regex::escape(key))).expect("valid")
}

/// 1-based line of the first `key:` at or after line index `from`.
fn find_line(text: &str, key: &str, from: usize) -> Option<usize> {
    let re = key_regex(key);
    text.lines().enumerate().skip(from).find(|(_, l)| re.is_match(l)).map(|(i, _)| i + 1)
}

fn find_value_line(text: &str, key: &str, value: &str, from: usize) -> Option<usize> {
    let re = key_regex(key);
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| re.is_match(l) && l.contains(value))
        .map(|(i, _)| i + 1)
        .or_else(|| find_line(text, key, from))
}

/// `node -e` requiring the file, in its folder; a clear error when node is missing.
fn evaluate(path: &Path) -> Result<String, ConfigError> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut child = Command::new("node")
        .arg("-e")
        .arg(PRINT_EXPORT)
        .arg(&absolute)
        .current_dir(super::folder_of(&absolute))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "node is not installed (or not in PATH)".to_string()
            } else {
                format!("node could not be started: {e}")
            };
            ConfigError::whole_file(
                path,
                format!(
                    "a JavaScript pm2 ecosystem file is read by running it with node, and {why}; \
                     install Node.js, or write the apps as ecosystem.config.json"
                ),
            )
        })?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| ConfigError::whole_file(path, e.to_string()))? {
            break status;
        }
        if started.elapsed() > NODE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ConfigError::whole_file(path, "node did not finish evaluating it within 10s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        let said: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).take(6).collect();
        return Err(ConfigError::whole_file(
            path,
            format!("node could not evaluate it: {}", said.join(" | ")),
        ));
    }
    Ok(out)
}
