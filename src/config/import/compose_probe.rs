//! process-compose's probes (`readiness_probe`, `liveness_probe`) as `[sidecar.health]`
//! (HTTP ones with `[sidecar.ipc] protocol = "http"`), and its `$VAR` substitution of the
//! whole file before parsing.

use super::draft::{Sidecar, secs};
use super::yaml::{Node, Reader};
use crate::config::ConfigError;

/// The shell process-compose runs commands with (`bash -c` unless `shell:` says).
pub(super) struct Shell {
    pub command: String,
    pub argument: String,
}

impl Shell {
    pub fn argv(&self, line: &str) -> toml::Value {
        let argv = [self.command.clone(), self.argument.clone(), line.to_string()];
        toml::Value::Array(argv.into_iter().map(toml::Value::String).collect())
    }
}

/// Sets the health check from a probe. `liveness`: failures restart the process, and
/// count from the first check (no start window).
pub(super) fn probe(
    r: &Reader,
    s: &mut Sidecar,
    shell: &Shell,
    key: &str,
    line: usize,
    p: &Node,
    liveness: bool,
) -> Result<(), ConfigError> {
    if let Some(scheme) = p.get("http_get").and_then(|h| h.get("scheme")).and_then(|s| s.as_str())
        && scheme != "http"
    {
        s.skip(line, &format!("{key}: an {scheme} probe (sidetop's HTTP checks are plain http)"));
        return Ok(());
    }
    if p.get("http_get").is_none() && p.get("exec").is_none() {
        return r.fail(p, key, "a probe needs `http_get` or `exec`");
    }
    for (name, k, v) in r.map(p, key)? {
        let here = format!("{key}.{name}");
        let n = || r.int(v, &here);
        match name.as_str() {
            "http_get" => http(r, s, &here, k.line, v)?,
            "exec" => {
                let command =
                    v.get("command").map(|c| r.string(c, &format!("{here}.command"))).transpose()?;
                let Some(command) = command else {
                    return r.fail(v, &here, "an exec probe needs `command`");
                };
                let line = match v.get("working_dir").map(|d| r.string(d, &format!("{here}.working_dir"))) {
                    Some(dir) => format!("cd {} && {command}", shell_quote(&dir?)),
                    None => command,
                };
                s.set_in("health", "exec", shell.argv(&line));
            }
            "initial_delay_seconds" => s.set_in("health", "grace", secs(n()?.max(0) as u64)),
            "period_seconds" => s.set_in("health", "interval", secs(n()?.max(1) as u64)),
            "timeout_seconds" => s.set_in("health", "timeout", secs(n()?.max(1) as u64)),
            "failure_threshold" => s.set_in("health", "failures", n()?.max(1)),
            "success_threshold" if n()? <= 1 => {}
            "success_threshold" => {
                s.skip(k.line, &format!("{here}: {} passes in a row (sidetop: one)", n()?));
            }
            other => s.skip(k.line, &format!("{key}.{other}")),
        }
    }
    // process-compose's defaults, where sidetop's differ.
    if !s.has(Some("health"), "interval") {
        s.set_in("health", "interval", "10s");
    }
    if !s.has(Some("health"), "timeout") {
        s.set_in("health", "timeout", "1s");
    }
    if liveness {
        s.set_in("health", "restart_on_unhealthy", true);
        s.set_in("health", "start_period", "0");
        s.note(&format!("{key} (line {line}): failures restart it, as in process-compose."));
    }
    Ok(())
}

fn http(r: &Reader, s: &mut Sidecar, key: &str, line: usize, v: &Node) -> Result<(), ConfigError> {
    let text = |name: &str| -> Result<Option<String>, ConfigError> {
        v.get(name).map(|n| r.string(n, &format!("{key}.{name}"))).transpose()
    };
    let host = text("host")?.filter(|h| !h.trim().is_empty()).unwrap_or_else(|| "127.0.0.1".into());
    let port = match v.get("port").or_else(|| v.get("num_port")) {
        Some(p) => Some(r.int(p, &format!("{key}.port"))?).filter(|p| (1..=65535).contains(p)),
        None => None,
    };
    let url = match port {
        Some(port) => format!("http://{host}:{port}"),
        None => format!("http://{host}"),
    };
    let path = text("path")?.filter(|p| !p.trim().is_empty()).unwrap_or_else(|| "/".into());
    let status = match v.get("status_code") {
        Some(c) => r.int(c, &format!("{key}.status_code"))?,
        None => 200,
    };
    let status = if (1..400).contains(&status) { status } else { 200 };
    s.set_in("ipc", "protocol", "http");
    s.set_in("ipc", "url", url);
    s.set_in("health", "path", path);
    s.set_in("health", "status", status);
    if v.get("headers").is_some() {
        s.skip(line, &format!("{key}.headers (sidetop's HTTP checks send no extra headers)"));
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// process-compose's substitution before parsing: `$$` is a literal `$`; `$VAR`,
/// `${VAR}`, `${VAR:-default}` and `${VAR-default}` take the value from `.env`, else the
/// environment, else nothing.
pub(super) fn substitute(text: &str, dotenv: &[(String, String)]) -> String {
    let lookup = |name: &str| -> Option<String> {
        dotenv.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| std::env::var(name).ok())
    };
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            let inner = &body[..end];
            let (name, default, empty_too) = match (inner.find(":-"), inner.find('-')) {
                (Some(i), _) => (&inner[..i], Some(&inner[i + 2..]), true),
                (None, Some(i)) => (&inner[..i], Some(&inner[i + 1..]), false),
                (None, None) => (inner, None, false),
            };
            let value = lookup(name);
            let value = match (value, default) {
                (Some(v), Some(d)) if v.is_empty() && empty_too => d.to_string(),
                (Some(v), _) => v,
                (None, Some(d)) => d.to_string(),
                (None, None) => String::new(),
            };
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            let len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            if len == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
                out.push('$');
                rest = after;
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
                rest = &after[len..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn substitution_like_process_compose() {
        let env = vec![("VERSION".to_string(), "1.2".to_string()), ("EMPTY".to_string(), String::new())];
        let text = "a: $VERSION ${VERSION} $$HOME ${NOPE_X1:-d} ${EMPTY:-e} ${EMPTY-f} $NOPE_X2. $ 5$";
        assert_eq!(super::substitute(text, &env), "a: 1.2 1.2 $HOME d e  . $ 5$");
    }
}
