//! From TOML text to a validated [`Config`]: serde errors get their key path and span,
//! then defaults are merged and cross-sidecar rules (unique names, known dependencies,
//! no cycles) are checked, each error pointing at the offending value.
//!
//! Long because it is one walk over every key of a sidecar (`Checker`), which keeps each
//! error's span and key path in one place; the IPC and request tables have their own files.

use super::raw::{RawFile, RawSidecar};
use super::values::CommandSpec;
use super::*;
use serde_path_to_error::Segment;
use std::collections::HashMap;
use toml::Spanned;

pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
    let raw = deserialize(path, source)?;
    Checker { path, source }.check(raw)
}

fn deserialize(path: &Path, source: &str) -> Result<RawFile, ConfigError> {
    deserialize_as(path, source)
}

/// A plugin's `NAME.toml`: one sidecar's settings, errors pointing into that file.
pub(super) fn deserialize_sidecar(path: &Path, source: &str) -> Result<RawSidecar, ConfigError> {
    deserialize_as(path, source)
}

fn deserialize_as<T: serde::de::DeserializeOwned>(path: &Path, source: &str) -> Result<T, ConfigError> {
    let deserializer = toml::de::Deserializer::parse(source)
        .map_err(|e| ConfigError::at(path, source, e.span(), "", e.message()))?;
    serde_path_to_error::deserialize::<_, T>(deserializer).map_err(|e| {
        let key = key_path(e.path());
        let inner = e.into_inner();
        ConfigError::at(path, source, inner.span(), key, inner.message())
    })
}

/// `sidecar[2].backoff.initial`, without serde_spanned's internal field names.
fn key_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

pub(super) struct Checker<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Checker<'_> {
    pub(super) fn error<T>(
        &self,
        span: std::ops::Range<usize>,
        key: String,
        msg: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::at(self.path, self.source, Some(span), key, msg))
    }

    fn check(&self, raw: RawFile) -> Result<Config, ConfigError> {
        let defaults = match raw.defaults {
            Some(d) => {
                self.check_defaults(&d)?;
                d.into_inner()
            }
            None => RawSidecar::default(),
        };
        if raw.sidecar.is_empty() && raw.sidecar_dir.is_empty() {
            return Err(ConfigError::whole_file(self.path, "no [[sidecar]] tables: nothing to supervise"));
        }
        for (index, entry) in raw.sidecar.iter().enumerate() {
            if let Some(path) = &entry.get_ref().path {
                return self.error(
                    path.span(),
                    format!("sidecar[{index}].path"),
                    "`path` belongs in a [[sidecar_dir]] table",
                );
            }
        }
        let mut sidecars = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, entry) in raw.sidecar.iter().enumerate() {
            let sidecar = self.sidecar(index, entry, &defaults)?;
            if seen.insert(sidecar.name.clone(), index).is_some() {
                let name = entry.get_ref().name.as_ref().expect("checked");
                return self.error(
                    name.span(),
                    format!("sidecar[{index}].name"),
                    format!("duplicate sidecar name {:?}", sidecar.name),
                );
            }
            sidecars.push(sidecar);
        }
        let mut sidecar_dirs = Vec::new();
        for (index, dir) in raw.sidecar_dir.iter().enumerate() {
            let d = dir.get_ref();
            if d.path.is_none() {
                return self.error(
                    dir.span(),
                    format!("sidecar_dir[{index}]"),
                    "missing key `path` (the folder)",
                );
            }
            if let Some(name) = &d.name {
                return self.error(
                    name.span(),
                    format!("sidecar_dir[{index}].name"),
                    "a folder's sidecars are named after their files",
                );
            }
            sidecar_dirs.push(super::dirs::folder(self.path, d).expect("has a path"));
            for plugin in super::dirs::plugins(self.path, dir)? {
                let mut sidecar = self.sidecar(raw.sidecar.len() + index, &plugin.entry, &defaults)?;
                sidecar.exe_stamp = Some(plugin.stamp);
                if seen.insert(sidecar.name.clone(), usize::MAX).is_some() {
                    return self.error(
                        dir.span(),
                        format!("sidecar_dir[{index}]"),
                        format!(
                            "{:?} in {} has the name of another sidecar",
                            sidecar.name,
                            sidecar_dirs[index].display()
                        ),
                    );
                }
                sidecars.push(sidecar);
            }
        }
        self.check_dependencies(&raw.sidecar, &seen)?;
        for (i, a) in sidecars.iter().enumerate() {
            let Some(path) = a.log_file.as_ref().map(|l| &l.path) else { continue };
            if let Some(b) =
                sidecars[..i].iter().find(|b| b.log_file.as_ref().is_some_and(|l| &l.path == path))
            {
                let span = raw.sidecar[i].get_ref().log_file.as_ref().expect("has one").span();
                return self.error(
                    span,
                    format!("sidecar[{i}].log_file"),
                    format!(
                        "{} already writes to {}: two writers would rotate each other's files",
                        b.name,
                        path.display()
                    ),
                );
            }
        }
        let metrics = match raw.sidetop.and_then(|s| s.metrics) {
            None => None,
            Some(addr) => match super::values::parse_metrics_addr(addr.get_ref()) {
                Ok(parsed) => Some(parsed),
                Err(e) => return self.error(addr.span(), "sidetop.metrics".into(), e),
            },
        };
        Ok(Config { path: self.path.to_path_buf(), sidecars, metrics, sidecar_dirs, warnings: Vec::new() })
    }

    fn check_defaults(&self, defaults: &Spanned<RawSidecar>) -> Result<(), ConfigError> {
        let d = defaults.get_ref();
        let per_sidecar: [(&str, Option<std::ops::Range<usize>>); 8] = [
            ("name", d.name.as_ref().map(|v| v.span())),
            ("command", d.command.as_ref().map(|v| v.span())),
            ("depends_on", d.depends_on.as_ref().map(|_| defaults.span())),
            ("log_file", d.log_file.as_ref().map(|v| v.span())),
            ("ipc", d.ipc.as_ref().map(|v| v.span())),
            ("health", d.health.as_ref().map(|v| v.span())),
            ("needs", d.needs.as_ref().map(|v| v.span())),
            ("request", d.request.as_ref().map(|v| v.first().map_or(defaults.span(), |r| r.span()))),
        ];
        for (key, span) in per_sidecar {
            if let Some(span) = span {
                return self.error(span, format!("defaults.{key}"), "only allowed in a [[sidecar]] table");
            }
        }
        // Bad values in [defaults] are reported as such, even if every sidecar overrides them.
        let none = RawSidecar::default();
        self.backoff("defaults", d, &none)?;
        self.crash_loop("defaults", d, &none)?;
        self.output("defaults", d, &none)?;
        Ok(())
    }

    fn sidecar(
        &self,
        index: usize,
        entry: &Spanned<RawSidecar>,
        defaults: &RawSidecar,
    ) -> Result<SidecarConfig, ConfigError> {
        let s = entry.get_ref();
        let key = |k: &str| format!("sidecar[{index}].{k}");
        let name = match &s.name {
            Some(n) => n,
            None => {
                return self.error(entry.span(), format!("sidecar[{index}]"), "missing key `name`");
            }
        };
        if name.get_ref().is_empty()
            || !name.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return self.error(name.span(), key("name"), "a name is one or more of A-Z a-z 0-9 - _ .");
        }
        let shell = s.shell.or(defaults.shell).unwrap_or(false);
        let argv = match &s.command {
            None => {
                return self.error(
                    entry.span(),
                    format!("sidecar[{index}]"),
                    format!("sidecar {:?} has no `command`", name.get_ref()),
                );
            }
            Some(c) => {
                match (c.get_ref(), shell) {
                    (CommandSpec::Argv(argv), false) if argv.is_empty() || argv[0].is_empty() => {
                        return self.error(c.span(), key("command"), "the command is empty");
                    }
                    (CommandSpec::Argv(argv), false) => argv.clone(),
                    (CommandSpec::Argv(_), true) => {
                        return self.error(
                            c.span(),
                            key("command"),
                            "with shell = true, give the command as one string",
                        );
                    }
                    (CommandSpec::Shell(_), false) => {
                        return self.error(c.span(), key("command"), "a command string runs through a shell: set `shell = true`, or give an argv array");
                    }
                    (CommandSpec::Shell(line), true) if line.trim().is_empty() => {
                        return self.error(c.span(), key("command"), "the command is empty");
                    }
                    (CommandSpec::Shell(line), true) => vec!["sh".into(), "-c".into(), line.clone()],
                }
            }
        };

        let config_dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() { p.to_path_buf() } else { config_dir.join(p) }
        };
        let cwd = resolve(s.cwd.as_deref().or(defaults.cwd.as_deref()).unwrap_or("."));

        let mut env: Vec<(String, String)> = defaults.env.clone().unwrap_or_default().into_iter().collect();
        for (k, v) in s.env.clone().unwrap_or_default() {
            env.retain(|(existing, _)| existing != &k);
            env.push((k, v));
        }

        let prefix = format!("sidecar[{index}]");
        let backoff = self.backoff(&prefix, s, defaults)?;
        let crash_loop = self.crash_loop(&prefix, s, defaults)?;
        let output = self.output(&prefix, s, defaults)?;
        self.check_process_strings(&prefix, entry.span(), &argv, &env)?;

        let log_file = s.log_file.as_ref().map(|p| LogFileConfig {
            path: resolve(p.get_ref()),
            max_size: s
                .log_file_max_size
                .or(defaults.log_file_max_size)
                .map_or(DEFAULT_LOG_FILE_MAX_SIZE, |b| b.0.max(1)),
            keep: s.log_file_keep.or(defaults.log_file_keep).unwrap_or(DEFAULT_LOG_FILE_KEEP),
            mode: s.log_file_mode.or(defaults.log_file_mode).unwrap_or_default(),
            buffer: s.log_file_buffer.or(defaults.log_file_buffer).map_or(DEFAULT_LOG_FILE_BUFFER, |b| b.0),
        });

        let sidecar_key = format!("sidecar[{index}]");
        let ipc = match &s.ipc {
            Some(raw) => Some(super::validate_ipc::ipc(self, &sidecar_key, raw, &cwd, resolve)?),
            None => None,
        };
        let protocol = ipc.as_ref().map(|i| &i.protocol);
        let health = match &s.health {
            Some(raw) => Some(super::validate_ipc::health(self, &sidecar_key, raw, protocol)?),
            None => None,
        };
        let needs = match &s.needs {
            Some(raw) => {
                let raw = raw.get_ref();
                let argv = raw.exec.get_ref().clone();
                if argv.first().is_none_or(|a| a.is_empty()) {
                    return self.error(
                        raw.exec.span(),
                        key("needs.exec"),
                        "give the check as a non-empty argv array",
                    );
                }
                let hint = raw.hint.clone().unwrap_or_else(|| format!("`{}` failed", argv.join(" ")));
                Some(super::Needs { argv, hint })
            }
            None => None,
        };
        let requests =
            super::validate_ipc::requests(self, &sidecar_key, s.request.as_deref().unwrap_or(&[]), protocol)?;

        Ok(SidecarConfig {
            name: name.get_ref().clone(),
            argv,
            shell,
            cwd,
            env,
            inherit_env: s.inherit_env.or(defaults.inherit_env).unwrap_or(true),
            autostart: s.autostart.or(defaults.autostart).unwrap_or(true),
            restart: s.restart.or(defaults.restart).unwrap_or(RestartPolicy::OnFailure),
            backoff,
            crash_loop,
            stop_signal: s.stop_signal.or(defaults.stop_signal).map_or(Signal::SIGTERM, |s| s.0),
            stop_timeout: s.stop_timeout.or(defaults.stop_timeout).map_or(DEFAULT_STOP_TIMEOUT, |d| d.0),
            depends_on: s.depends_on.iter().flatten().map(|d| d.get_ref().clone()).collect(),
            output,
            log_file,
            ipc,
            health,
            needs,
            requests,
            exe_stamp: None,
            wrapped_by: None,
        })
    }

    /// What the kernel cannot take: NUL bytes anywhere, `=` or nothing as a variable name.
    fn check_process_strings(
        &self,
        prefix: &str,
        span: std::ops::Range<usize>,
        argv: &[String],
        env: &[(String, String)],
    ) -> Result<(), ConfigError> {
        if let Some(arg) = argv.iter().find(|a| a.contains('\0')) {
            return self.error(
                span,
                format!("{prefix}.command"),
                format!("argument {arg:?} contains a NUL byte"),
            );
        }
        for (name, value) in env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return self.error(span, format!("{prefix}.env"), format!("invalid variable name {name:?}"));
            }
            if value.contains('\0') {
                return self.error(span, format!("{prefix}.env.{name}"), "the value contains a NUL byte");
            }
        }
        Ok(())
    }

    fn backoff(&self, prefix: &str, s: &RawSidecar, defaults: &RawSidecar) -> Result<Backoff, ConfigError> {
        let (own, def) =
            (s.backoff.clone().unwrap_or_default(), defaults.backoff.clone().unwrap_or_default());
        let base = Backoff::default();
        let multiplier = own.multiplier.or(def.multiplier);
        if let Some(m) = &multiplier
            && !(*m.get_ref() >= 1.0 && m.get_ref().is_finite())
        {
            return self.error(
                m.span(),
                format!("{prefix}.backoff.multiplier"),
                "the multiplier must be a number >= 1.0",
            );
        }
        let backoff = Backoff {
            initial: own.initial.or(def.initial).map_or(base.initial, |d| d.0),
            max: own.max.or(def.max).map_or(base.max, |d| d.0),
            multiplier: multiplier.map_or(base.multiplier, |m| *m.get_ref()),
            reset_after: own.reset_after.or(def.reset_after).map_or(base.reset_after, |d| d.0),
        };
        Ok(Backoff { max: backoff.max.max(backoff.initial), ..backoff })
    }

    fn crash_loop(
        &self,
        prefix: &str,
        s: &RawSidecar,
        defaults: &RawSidecar,
    ) -> Result<CrashLoop, ConfigError> {
        let (own, def) =
            (s.crash_loop.clone().unwrap_or_default(), defaults.crash_loop.clone().unwrap_or_default());
        let base = CrashLoop::default();
        let max_exits = own.max_exits.or(def.max_exits);
        if let Some(m) = &max_exits
            && *m.get_ref() == 0
        {
            return self.error(
                m.span(),
                format!("{prefix}.crash_loop.max_exits"),
                "max_exits must be at least 1",
            );
        }
        Ok(CrashLoop {
            max_exits: max_exits.map_or(base.max_exits, |m| *m.get_ref()),
            window: own.window.or(def.window).map_or(base.window, |d| d.0),
        })
    }

    fn output(
        &self,
        prefix: &str,
        s: &RawSidecar,
        defaults: &RawSidecar,
    ) -> Result<OutputLimits, ConfigError> {
        let base = OutputLimits::default();
        let lines = s.scrollback_lines.clone().or(defaults.scrollback_lines.clone());
        if let Some(l) = &lines
            && *l.get_ref() == 0
        {
            return self.error(l.span(), format!("{prefix}.scrollback_lines"), "keep at least 1 line");
        }
        let max_line = s.max_line.clone().or(defaults.max_line.clone());
        if let Some(m) = &max_line
            && m.get_ref().0 < 80
        {
            return self.error(m.span(), format!("{prefix}.max_line"), "max_line must be at least 80 bytes");
        }
        Ok(OutputLimits {
            scrollback_lines: lines.map_or(base.scrollback_lines, |l| *l.get_ref()),
            scrollback_bytes: s
                .scrollback_bytes
                .or(defaults.scrollback_bytes)
                .map_or(base.scrollback_bytes, |b| b.0),
            max_line: max_line.map_or(base.max_line, |m| m.get_ref().0 as usize),
        })
    }

    fn check_dependencies(
        &self,
        raw: &[Spanned<RawSidecar>],
        index_of: &HashMap<String, usize>,
    ) -> Result<(), ConfigError> {
        let deps: Vec<Vec<&Spanned<String>>> =
            raw.iter().map(|s| s.get_ref().depends_on.iter().flatten().collect()).collect();
        let name_of = |i: usize| raw[i].get_ref().name.as_ref().expect("checked").get_ref().as_str();
        for (i, list) in deps.iter().enumerate() {
            for (j, dep) in list.iter().enumerate() {
                let key = format!("sidecar[{i}].depends_on[{j}]");
                match index_of.get(dep.get_ref()) {
                    None => {
                        return self.error(dep.span(), key, format!("unknown sidecar {:?}", dep.get_ref()));
                    }
                    Some(&d) if d == i => {
                        return self.error(dep.span(), key, "a sidecar cannot depend on itself");
                    }
                    Some(_) => {}
                }
            }
        }
        // Depth-first search; a grey node met again closes a cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            White,
            Grey,
            Black,
        }
        let mut marks = vec![Mark::White; raw.len()];
        let mut stack: Vec<usize> = Vec::new();
        fn visit(
            node: usize,
            deps: &[Vec<&Spanned<String>>],
            index_of: &HashMap<String, usize>,
            marks: &mut [Mark],
            stack: &mut Vec<usize>,
        ) -> Option<(usize, usize, Vec<usize>)> {
            marks[node] = Mark::Grey;
            stack.push(node);
            for (j, dep) in deps[node].iter().enumerate() {
                let d = index_of[dep.get_ref()];
                match marks[d] {
                    Mark::Grey => {
                        let start = stack.iter().position(|&n| n == d).expect("on stack");
                        return Some((node, j, stack[start..].to_vec()));
                    }
                    Mark::White => {
                        if let Some(found) = visit(d, deps, index_of, marks, stack) {
                            return Some(found);
                        }
                    }
                    Mark::Black => {}
                }
            }
            stack.pop();
            marks[node] = Mark::Black;
            None
        }
        for start in 0..raw.len() {
            if marks[start] == Mark::White
                && let Some((node, j, cycle)) = visit(start, &deps, index_of, &mut marks, &mut stack)
            {
                let mut names: Vec<&str> = cycle.iter().map(|&n| name_of(n)).collect();
                names.push(name_of(cycle[0]));
                return self.error(
                    deps[node][j].span(),
                    format!("sidecar[{node}].depends_on[{j}]"),
                    format!("dependency cycle: {}", names.join(" -> ")),
                );
            }
        }
        Ok(())
    }
}
