//! `mprocs.yaml`: `procs: {name: {shell | cmd, cwd, env, add_path, autostart,
//! autorestart, stop, deps, ready_log, log}}`; a proc may also be just a shell string or
//! an argv list. The other top-level keys are mprocs's own terminal settings.

use super::draft::{Draft, Sidecar};
use super::yaml::{self, Kind, Node, Reader};
use crate::config::ConfigError;
use std::path::Path;

pub(super) fn import(path: &Path, text: &str) -> Result<Draft, ConfigError> {
    let root = yaml::parse(path, text)?;
    let r = Reader { path, text };
    let mut draft = Draft::new(path);
    let mut scrollback = None;
    let mut default_log = None;
    for (key, k, v) in r.map(&root, "")? {
        match key.as_str() {
            "procs" => {}
            "scrollback" => scrollback = Some(r.int(v, "scrollback")?),
            "proc_log" => default_log = Some(v),
            _ => draft.skip(path, k.line, &format!("`{key}` (an mprocs terminal setting)")),
        }
    }
    let Some(procs) = root.get("procs") else {
        return Err(ConfigError::whole_file(path, "no `procs:` mapping: nothing to supervise"));
    };
    for (name, k, v) in r.map(procs, "procs")? {
        let key = format!("procs.{name}");
        let mut s = Sidecar::named(&name, path, k.line);
        match &v.kind {
            Kind::Null => {
                draft.skip(path, k.line, &format!("{name:?} is null (mprocs skips it)"));
                continue;
            }
            Kind::Str(shell) => {
                s.set("command", shell.as_str());
                s.set("shell", true);
            }
            Kind::Seq(_) => command_argv(&mut s, r.strings(v, &key)?),
            Kind::Map(_) => proc(&r, &mut s, &key, v, default_log)?,
            _ => return r.fail(v, &key, "expected a process (a mapping, a shell string or an argv list)"),
        }
        if !s.has(None, "restart") {
            s.set("restart", "never");
        }
        if let Some(lines) = scrollback.filter(|&l| l > 0) {
            s.set("scrollback_lines", lines);
        }
        draft.sidecars.push(s);
    }
    if draft.sidecars.is_empty() {
        return Err(ConfigError::whole_file(path, "`procs:` has no process: nothing to supervise"));
    }
    Ok(draft)
}

fn command_argv(s: &mut Sidecar, argv: Vec<String>) {
    let argv: Vec<toml::Value> = argv.into_iter().map(toml::Value::String).collect();
    s.set("command", toml::Value::Array(argv));
}

fn proc(
    r: &Reader,
    s: &mut Sidecar,
    key: &str,
    v: &Node,
    default_log: Option<&Node>,
) -> Result<(), ConfigError> {
    match (v.get("shell"), v.get("cmd")) {
        (Some(shell), None) => {
            s.set("command", r.string(shell, &format!("{key}.shell"))?);
            s.set("shell", true);
        }
        (None, Some(cmd)) => match cmd.as_str() {
            Some(line) => {
                let argv =
                    super::words::shlex_split(line).or_else(|e| r.fail(cmd, &format!("{key}.cmd"), e))?;
                command_argv(s, argv);
            }
            None => command_argv(s, r.strings(cmd, &format!("{key}.cmd"))?),
        },
        (None, None) => return r.fail(v, key, "a process must define either `cmd` or `shell`"),
        (Some(_), Some(_)) => return r.fail(v, key, "a process cannot define both `cmd` and `shell`"),
    }
    let mut logged = false;
    for (name, k, val) in v.entries() {
        let here = format!("{key}.{name}");
        match name.as_str() {
            "shell" | "cmd" => {}
            "cwd" => {
                let cwd = r.string(val, &here)?;
                let cwd = match cwd.strip_prefix("<CONFIG_DIR>") {
                    Some(rest) => format!(".{rest}"),
                    None => cwd,
                };
                s.set("cwd", cwd);
            }
            "env" => {
                for (var, kk, value) in r.map(val, &here)? {
                    if value.is_null() {
                        s.skip(
                            kk.line,
                            &format!("env {var}: null (removing an inherited variable): sidetop can only add variables"),
                        );
                    } else {
                        s.set_env(&var, &r.string(value, &format!("{here}.{var}"))?);
                    }
                }
            }
            "add_path" => {
                let extra = match val.as_str() {
                    Some(one) => vec![one.to_string()],
                    None => r.strings(val, &here)?,
                };
                let base = s.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
                let base = base.or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
                let joined = std::iter::once(base)
                    .chain(extra)
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(":");
                s.set_env("PATH", &joined);
                s.env_note("approximated: add_path: PATH is the importing shell's PATH plus add_path, fixed at import");
                s.approx_note(k.line, "add_path: PATH is set to the PATH at import time plus these entries");
            }
            "autostart" => s.set("autostart", r.boolean(val, &here)?),
            "autorestart" => {
                if r.boolean(val, &here)? {
                    s.approx(
                        None,
                        "restart",
                        "always",
                        k.line,
                        "autorestart: true; mprocs does not restart a process that exits within 1s of starting, sidetop does (with backoff)",
                    );
                } else {
                    s.set("restart", "never");
                }
            }
            "stop" => stop(r, s, &here, k, val)?,
            "deps" => {
                for dep in r.strings(val, &here)? {
                    s.depends_on.push((dep, k.line));
                }
            }
            "ready_log" => {
                let needle = r.string(val, &here)?;
                s.set_in("health", "ready_log", regex::escape(&needle));
            }
            "log" => {
                logged = true;
                log(r, s, &here, k, val)?;
            }
            "scrollback_len" => s.set("scrollback_lines", r.int(val, &here)?.max(1)),
            "mouse_scroll_speed" => s.skip(k.line, "mouse_scroll_speed (an mprocs terminal setting)"),
            other => s.skip(k.line, &format!("`{other}` (not an mprocs process setting)")),
        }
    }
    if !logged && let Some(default) = default_log {
        log(r, s, "proc_log", default, default)?;
    }
    Ok(())
}

fn stop(r: &Reader, s: &mut Sidecar, key: &str, k: &Node, val: &Node) -> Result<(), ConfigError> {
    match val.as_str() {
        Some("SIGTERM") => s.set("stop_signal", "SIGTERM"),
        Some("SIGINT") => s.set("stop_signal", "SIGINT"),
        Some("SIGKILL") | Some("hard-kill") => s.set("stop_signal", "SIGKILL"),
        Some(other) => return r.fail(val, key, format!("unknown stop signal {other:?}")),
        None if val.get("send-keys").is_some() => {
            s.skip(k.line, "stop: send-keys (sidetop stops with a signal, SIGTERM)");
        }
        None if val.get("cmd").is_some() => {
            s.skip(k.line, "stop: cmd (sidetop has no stop command; it sends SIGTERM)");
        }
        None => {
            return r.fail(
                val,
                key,
                "expected SIGINT, SIGTERM, SIGKILL, hard-kill, {send-keys: ...} or {cmd: ...}",
            );
        }
    }
    Ok(())
}

fn log(r: &Reader, s: &mut Sidecar, key: &str, k: &Node, val: &Node) -> Result<(), ConfigError> {
    let (dir, file) = match &val.kind {
        Kind::Null | Kind::Bool(false) => return Ok(()),
        Kind::Str(dir) => (Some(dir.clone()), None),
        Kind::Bool(true) => (None, None),
        Kind::Map(_) => {
            if let Some(e) = val.get("enabled")
                && !r.boolean(e, &format!("{key}.enabled"))?
            {
                return Ok(());
            }
            let text = |name: &str| val.get(name).and_then(|n| n.as_str()).map(str::to_string);
            (text("dir"), text("file"))
        }
        _ => return r.fail(val, key, "expected bool, string, mapping or null"),
    };
    let file = file.unwrap_or_else(|| "{name}.log".to_string()).replace("{name}", &s.name);
    if file.contains('{') {
        s.skip(k.line, &format!("log file {file:?}: placeholders other than {{name}}"));
        return Ok(());
    }
    match dir {
        Some(dir) => {
            let dir = dir.strip_prefix("<CONFIG_DIR>").map_or(dir.clone(), |rest| format!(".{rest}"));
            let path = Path::new(&dir).join(file).display().to_string();
            s.approx(
                None,
                "log_file",
                path,
                k.line,
                "log: sidetop's log file has both streams, each line with its time and stream, and rotates",
            );
        }
        None if Path::new(&file).is_absolute() => {
            s.approx(None, "log_file", file, k.line, "log: sidetop's log file has both streams, with times");
        }
        None => s.skip(k.line, "log without a dir (mprocs's own log folder)"),
    }
    Ok(())
}
