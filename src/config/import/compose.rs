//! `process-compose.yaml`: `environment` (a list of `K=V`), `shell`, and `processes` with
//! their command, working_dir, environment, env_file, depends_on conditions,
//! availability, probes, shutdown, replicas. The file is `$VAR`-substituted from `.env`
//! and the environment before parsing, as process-compose does.

use super::compose_probe::{Shell, probe, substitute};
use super::draft::{Draft, Sidecar};
use super::yaml::{self, Kind, Node, Reader};
use super::{envfile, folder_of};
use crate::config::ConfigError;
use std::collections::HashMap;
use std::path::Path;

/// Process keys that change nothing sidetop does, or only process-compose's own view.
const QUIET: &[&str] = &["description", "namespace", "disable_ansi_colors"];

pub(super) fn import(path: &Path, original: &str) -> Result<Draft, ConfigError> {
    let mut draft = Draft::new(path);
    let dir = folder_of(path);
    let dotenv_path = dir.join(".env");
    let dotenv: Vec<(String, String)> = match envfile::read(&dotenv_path) {
        Some(text) => envfile::parse(&text).0.into_iter().map(|v| (v.name, v.value)).collect(),
        None => Vec::new(),
    };
    let substituted = substitute(original, &dotenv);
    let mut text = substituted.as_str();
    let mut root = yaml::parse(path, text)?;
    if matches!(root.get("disable_env_expansion").map(|n| &n.kind), Some(Kind::Bool(true))) {
        text = original;
        root = yaml::parse(path, text)?;
    }
    let r = Reader { path, text };
    let mut shell = Shell { command: "bash".into(), argument: "-c".into() };
    let mut global_env: Vec<(String, String)> = Vec::new();
    for (key, k, v) in r.map(&root, "")? {
        match key.as_str() {
            "processes" | "version" | "disable_env_expansion" => {}
            "name" => draft.note(&format!("Project {:?}.", r.string(v, "name")?)),
            "environment" => global_env = env_list(&r, v, "environment")?,
            "shell" => {
                if let Some(c) = v.get("shell_command") {
                    shell.command = r.string(c, "shell.shell_command")?;
                }
                if let Some(a) = v.get("shell_argument") {
                    shell.argument = r.string(a, "shell.shell_argument")?;
                }
            }
            "ordered_shutdown" => {}
            other => draft.skip(path, k.line, &format!("`{other}` (a process-compose setting of its own)")),
        }
    }
    if !dotenv.is_empty() {
        draft.note(&format!(
            "Variables of {} are in each env, except those set in the environment at load time.",
            dotenv_path.display()
        ));
    }
    let Some(processes) = root.get("processes") else {
        return Err(ConfigError::whole_file(path, "no `processes:` mapping: nothing to supervise"));
    };
    let procs = r.map(processes, "processes")?;
    // What a dependent can wait for: a readiness check, a log line, or just the start.
    let mut checked: HashMap<String, (bool, bool)> = HashMap::new();
    let mut replicas: HashMap<String, Vec<String>> = HashMap::new();
    for (name, _, p) in &procs {
        let ready = p.get("readiness_probe").is_some() || p.get("liveness_probe").is_some();
        checked.insert(name.clone(), (ready, p.get("ready_log_line").is_some()));
        let n = p.get("replicas").map(|n| r.int(n, "replicas")).transpose()?.unwrap_or(1).max(1) as usize;
        replicas.insert(name.clone(), replica_names(name, n));
    }
    let ctx = Ctx { r: &r, dir: &dir, shell: &shell, dotenv: &dotenv, global_env: &global_env };
    for (name, k, p) in procs {
        let s = ctx.process(&name, k, p, &checked, &replicas)?;
        let names = &replicas[&name];
        if names.len() == 1 {
            draft.sidecars.push(s);
            continue;
        }
        for (i, replica) in names.iter().enumerate() {
            let mut copy = s.renamed(replica);
            copy.set_env("PC_PROC_NAME", replica);
            copy.set_env("PC_REPLICA_NUM", &i.to_string());
            draft.sidecars.push(copy);
        }
    }
    if draft.sidecars.is_empty() {
        return Err(ConfigError::whole_file(path, "`processes:` is empty: nothing to supervise"));
    }
    Ok(draft)
}

/// `name-0`, `name-1`, ... padded as process-compose pads them; the name alone for one.
fn replica_names(name: &str, n: usize) -> Vec<String> {
    if n <= 1 {
        return vec![name.to_string()];
    }
    let width = 1 + (n as f64).log10().floor() as usize;
    (0..n).map(|i| format!("{name}-{i:0width$}")).collect()
}

fn env_list(r: &Reader, v: &Node, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: String, val: String| {
        out.retain(|(e, _)| *e != k);
        out.push((k, val));
    };
    match &v.kind {
        Kind::Seq(items) => {
            for item in items {
                let entry = r.string(item, key)?;
                match entry.split_once('=') {
                    Some((k, val)) => put(k.to_string(), val.to_string()),
                    None => return r.fail(item, key, format!("{entry:?} is not NAME=value")),
                }
            }
        }
        Kind::Map(_) => {
            for (k, _, val) in v.entries() {
                put(k, r.string(val, key)?);
            }
        }
        Kind::Null => {}
        _ => return r.fail(v, key, "expected a list of NAME=value"),
    }
    Ok(out)
}

pub(super) struct Ctx<'a> {
    pub r: &'a Reader<'a>,
    dir: &'a Path,
    shell: &'a Shell,
    dotenv: &'a [(String, String)],
    global_env: &'a [(String, String)],
}

impl Ctx<'_> {
    fn process(
        &self,
        name: &str,
        k: &Node,
        p: &Node,
        checked: &HashMap<String, (bool, bool)>,
        replicas: &HashMap<String, Vec<String>>,
    ) -> Result<Sidecar, ConfigError> {
        let r = self.r;
        let key = format!("processes.{name}");
        let mut s = Sidecar::named(name, r.path, k.line);
        let get = |field: &str| p.get(field);
        let line_of = |field: &str| p.key_node(field).map_or(k.line, |n| n.line);
        match (get("command"), get("entrypoint")) {
            (Some(c), _) => s.set("command", self.shell.argv(&r.string(c, &format!("{key}.command"))?)),
            (None, Some(e)) => {
                let argv = r.strings(e, &format!("{key}.entrypoint"))?;
                if argv.is_empty() {
                    return r.fail(e, &format!("{key}.entrypoint"), "the entrypoint is empty");
                }
                s.set("command", toml::Value::Array(argv.into_iter().map(toml::Value::String).collect()));
            }
            (None, None) => return r.fail(p, &key, "a process needs `command` (or `entrypoint`)"),
        }
        let working_dir =
            get("working_dir").map(|d| r.string(d, &format!("{key}.working_dir"))).transpose()?;
        if let Some(dir) = &working_dir {
            s.set("cwd", dir.as_str());
        }

        // Precedence, lowest first: .env (unless the environment has it), the global
        // environment, env_file, the process's environment.
        s.set_env("PC_PROC_NAME", name);
        s.set_env("PC_REPLICA_NUM", "0");
        let dotenv_off = matches!(get("is_dotenv_disabled").map(|n| &n.kind), Some(Kind::Bool(true)));
        if !dotenv_off {
            for (var, value) in self.dotenv {
                if std::env::var_os(var).is_none() {
                    s.set_env(var, value);
                }
            }
        }
        for (var, value) in self.global_env {
            s.set_env(var, value);
        }
        if let Some(f) = get("env_file") {
            let file = r.string(f, &format!("{key}.env_file"))?;
            let base = match &working_dir {
                Some(d) => self.dir.join(d),
                None => self.dir.to_path_buf(),
            };
            let env_path = base.join(&file);
            match envfile::read(&env_path) {
                Some(text) => {
                    for v in envfile::parse(&text).0 {
                        s.set_env(&v.name, &v.value);
                    }
                    s.env_note(&format!("With the variables of {}.", env_path.display()));
                }
                None => {
                    return r.fail(
                        f,
                        &format!("{key}.env_file"),
                        format!("cannot read {}", env_path.display()),
                    );
                }
            }
        }
        if let Some(e) = get("environment") {
            for (var, value) in env_list(r, e, &format!("{key}.environment"))? {
                s.set_env(&var, &value);
            }
        }

        let disabled = match get("disabled") {
            Some(d) => r.boolean(d, &format!("{key}.disabled"))?,
            None => get("is_disabled").and_then(|d| d.scalar_text()).is_some_and(|t| t.trim() == "true"),
        };
        if disabled {
            s.set("autostart", false);
        }
        self.availability(&mut s, &key, get("availability"))?;
        self.shutdown(&mut s, &key, get("shutdown"))?;
        if let Some(deps) = get("depends_on") {
            for (dep, dk, cond) in r.map(deps, &format!("{key}.depends_on"))? {
                let condition = match cond.get("condition") {
                    Some(c) => r.string(c, &format!("{key}.depends_on.{dep}.condition"))?,
                    None => "process_started".to_string(),
                };
                let (ready_check, log_check) = checked.get(&dep).copied().unwrap_or_default();
                let targets = replicas.get(&dep).cloned().unwrap_or_else(|| vec![dep.clone()]);
                let why = match condition.as_str() {
                    "process_healthy" if ready_check => None,
                    "process_log_ready" if log_check => None,
                    "process_started" if !ready_check && !log_check => None,
                    "process_started" => {
                        Some("process_started: sidetop waits until it is ready (its check passed)")
                    }
                    "process_healthy" | "process_log_ready" => {
                        Some("the dependency has no such check: sidetop waits until it is started")
                    }
                    "process_completed" | "process_completed_successfully" => {
                        s.skip(
                            dk.line,
                            &format!("depends_on {dep}: {condition} (sidetop waits for running sidecars, not exits)"),
                        );
                        continue;
                    }
                    other => {
                        return r.fail(
                            cond,
                            &format!("{key}.depends_on.{dep}"),
                            format!("unknown condition {other:?}"),
                        );
                    }
                };
                if let Some(why) = why {
                    s.approx_note(dk.line, &format!("depends_on {dep}: {why}"));
                }
                for t in targets {
                    s.depends_on.push((t, dk.line));
                }
            }
        }
        match (get("readiness_probe"), get("liveness_probe")) {
            (Some(ready), live) => {
                probe(
                    r,
                    &mut s,
                    self.shell,
                    &format!("{key}.readiness_probe"),
                    line_of("readiness_probe"),
                    ready,
                    false,
                )?;
                if live.is_some() {
                    s.approx(
                        Some("health"),
                        "restart_on_unhealthy",
                        true,
                        line_of("liveness_probe"),
                        "liveness_probe: sidetop has one health check (the readiness probe's); its failures restart the process",
                    );
                }
            }
            (None, Some(live)) => {
                probe(
                    r,
                    &mut s,
                    self.shell,
                    &format!("{key}.liveness_probe"),
                    line_of("liveness_probe"),
                    live,
                    true,
                )?;
            }
            (None, None) => {}
        }
        if let Some(l) = get("ready_log_line") {
            s.set_in("health", "ready_log", regex::escape(&r.string(l, &format!("{key}.ready_log_line"))?));
        }
        if let Some(l) = get("log_location") {
            s.approx(
                None,
                "log_file",
                r.string(l, &format!("{key}.log_location"))?,
                line_of("log_location"),
                "log_location: sidetop's log file has each line with its time and stream, and rotates",
            );
        }
        for (field, fk, v) in p.entries() {
            let known = [
                "command",
                "entrypoint",
                "working_dir",
                "environment",
                "env_file",
                "is_dotenv_disabled",
                "disabled",
                "is_disabled",
                "availability",
                "shutdown",
                "depends_on",
                "readiness_probe",
                "liveness_probe",
                "ready_log_line",
                "log_location",
                "replicas",
            ];
            if known.contains(&field.as_str()) {
                continue;
            }
            if QUIET.contains(&field.as_str()) {
                s.note(&format!("{field}: {}", v.scalar_text().unwrap_or_default()));
            } else if !matches!(v.kind, Kind::Bool(false) | Kind::Null) {
                s.skip(fk.line, &format!("{field} (no sidetop equivalent)"));
            }
        }
        Ok(s)
    }
}
