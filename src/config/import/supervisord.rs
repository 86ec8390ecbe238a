//! `supervisord.conf`: `[program:x]` sections (with `numprocs`, expansions, environment,
//! restart and stop settings, log files), the `[supervisord] environment` every program
//! gets, and `[include] files` globs read like supervisord reads them. Programs are
//! written in supervisord's start order (priority, then file order).

use super::draft::{Draft, Sidecar};
use super::ini::{self, Opt, Section};
use super::supervisord_expand::{Val, Vars, expand};
use super::{error_at, folder_of, words};
use crate::config::ConfigError;
use std::path::Path;

pub(super) const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

pub(super) fn import(path: &Path, text: &str) -> Result<Draft, ConfigError> {
    let mut draft = Draft::new(path);
    let mut sections: Vec<Section> = Vec::new();
    ini::parse(path, text, &mut sections)?;
    let mut base = Vars::new();
    for (k, v) in std::env::vars() {
        base.insert(format!("ENV_{k}"), Val::Str(v));
    }
    let host = hostname();
    base.insert("host_node_name".into(), Val::Str(host));
    base.insert("here".into(), Val::Str(here(path)));
    let x = Expander { main: path, main_text: text };

    if let Some(include) = sections.iter().find(|s| s.name == "include").cloned() {
        let Some(files) = include.get("files") else {
            return Err(error_at(path, text, include.line, 1, "include", "[include] has no `files` setting"));
        };
        let patterns = x.value(files, &base)?;
        for pattern in patterns.split_whitespace() {
            let full = folder_of(path).join(pattern);
            let found = ini::glob(&full);
            if found.is_empty() {
                draft.skip(
                    path,
                    files.line,
                    &format!("no file matches include {:?}", full.display().to_string()),
                );
            }
            for file in found {
                let included = super::read(&file)?;
                ini::parse(&file, &included, &mut sections)?;
            }
        }
        if let Some(nested) =
            sections.iter().find(|s| s.name == "include").and_then(|s| s.opts.iter().find(|o| o.file != path))
        {
            draft.skip(
                &nested.file,
                nested.line,
                "[include] in an included file (supervisord reads only the main file's)",
            );
        }
    }

    let mut global_env = Vec::new();
    if let Some(sv) = sections.iter().find(|s| s.name == "supervisord")
        && let Some(env) = sv.get("environment")
    {
        global_env = x.pairs(env, &base)?;
        for (k, v) in &global_env {
            base.insert(format!("ENV_{k}"), Val::Str(v.clone()));
        }
    }

    let mut programs: Vec<(i64, Sidecar)> = Vec::new();
    for section in &sections {
        let (kind, rest) = section.name.split_once(':').unwrap_or((section.name.as_str(), ""));
        let skip = |draft: &mut Draft, why: &str| draft.skip(&section.file, section.line, why);
        match kind {
            "program" => programs.extend(x.program(section, rest.trim(), &base, &global_env)?),
            "include" => {}
            "supervisord" => {
                let keys: Vec<&str> =
                    section.opts.iter().map(|o| o.key.as_str()).filter(|k| *k != "environment").collect();
                if !keys.is_empty() {
                    skip(
                        &mut draft,
                        &format!("[supervisord] {} (settings of supervisord itself)", keys.join(", ")),
                    );
                }
            }
            "unix_http_server" | "inet_http_server" | "supervisorctl" | "rpcinterface" => {
                skip(
                    &mut draft,
                    &format!("[{}] (sidetop has its own control socket: sidetop ctl)", section.name),
                );
            }
            "group" => skip(&mut draft, &format!("[{}] (sidetop has no process groups)", section.name)),
            "eventlistener" | "fcgi-program" => {
                skip(&mut draft, &format!("[{}] ({kind} sections have no sidetop equivalent)", section.name));
            }
            _ => skip(&mut draft, &format!("[{}] (not a supervisord section sidetop knows)", section.name)),
        }
    }
    programs.sort_by_key(|(priority, _)| *priority);
    draft.sidecars = programs.into_iter().map(|(_, s)| s).collect();
    if draft.sidecars.is_empty() {
        return Err(ConfigError::whole_file(path, "no [program:x] section: nothing to supervise"));
    }
    Ok(draft)
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the name is NUL-terminated within it.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if ok { String::from_utf8_lossy(&buf[..end]).to_string() } else { String::new() }
}

/// `%(here)s`: the absolute folder of the file that says it.
fn here(file: &Path) -> String {
    let dir = folder_of(file);
    std::path::absolute(&dir).unwrap_or(dir).display().to_string()
}

pub(super) struct Expander<'a> {
    main: &'a Path,
    main_text: &'a str,
}

impl Expander<'_> {
    pub(super) fn fail<T>(&self, opt: &Opt, message: impl Into<String>) -> Result<T, ConfigError> {
        let text = if opt.file == self.main { self.main_text.to_string() } else { super::read(&opt.file)? };
        let line = text.lines().nth(opt.line - 1).unwrap_or("");
        let column = line.find('=').or_else(|| line.find(':')).map_or(1, |c| c + 2);
        Err(error_at(&opt.file, &text, opt.line, column, opt.key.clone(), message))
    }

    /// The value with `%(here)s` as the option's own file's folder, then expanded.
    pub(super) fn value(&self, opt: &Opt, vars: &Vars) -> Result<String, ConfigError> {
        let raw = opt.value.replace("%(here)s", &here(&opt.file));
        expand(&raw, vars, &opt.key).or_else(|e| self.fail(opt, e))
    }

    pub(super) fn pairs(&self, opt: &Opt, vars: &Vars) -> Result<Vec<(String, String)>, ConfigError> {
        let value = self.value(opt, vars)?;
        words::key_value_pairs(&value).or_else(|e| self.fail(opt, e))
    }

    pub(super) fn boolean(&self, opt: &Opt) -> Result<bool, ConfigError> {
        match opt.value.trim().to_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => self.fail(opt, format!("not a valid boolean value: {:?}", opt.value)),
        }
    }

    pub(super) fn int(&self, opt: &Opt) -> Result<i64, ConfigError> {
        opt.value.trim().parse().or_else(|_| self.fail(opt, format!("not an integer: {:?}", opt.value)))
    }

    fn program(
        &self,
        section: &Section,
        program: &str,
        base: &Vars,
        global_env: &[(String, String)],
    ) -> Result<Vec<(i64, Sidecar)>, ConfigError> {
        let get = |k: &str| section.get(k);
        let int_or = |k: &str, default: i64| get(k).map_or(Ok(default), |o| self.int(o));
        let numprocs = int_or("numprocs", 1)?;
        let start = int_or("numprocs_start", 0)?;
        let priority = int_or("priority", 999)?;
        let process_name = get("process_name").map_or("%(program_name)s".to_string(), |o| o.value.clone());
        if numprocs > 1 && !process_name.contains("%(process_num)") {
            let opt = get("process_name").or(get("numprocs")).expect("numprocs is set");
            return self.fail(opt, "%(process_num) must be present within process_name when numprocs > 1");
        }
        let Some(command) = get("command") else {
            let file = section.file.clone();
            let text = super::read(&file)?;
            return Err(error_at(
                &file,
                &text,
                section.line,
                1,
                section.name.clone(),
                "program section does not specify a command",
            ));
        };
        let mut out = Vec::new();
        for num in start..start + numprocs {
            let mut vars = base.clone();
            vars.insert("program_name".into(), Val::Str(program.to_string()));
            vars.insert("group_name".into(), Val::Str(program.to_string()));
            vars.insert("process_num".into(), Val::Int(num));
            vars.insert("numprocs".into(), Val::Int(numprocs));
            let own_env = match get("environment") {
                Some(e) => self.pairs(e, &vars)?,
                None => Vec::new(),
            };
            for (k, v) in &own_env {
                vars.insert(format!("ENV_{k}"), Val::Str(v.clone()));
            }
            let name_opt =
                Opt { value: process_name.clone(), ..get("process_name").unwrap_or(command).clone() };
            let name = self.value(&name_opt, &vars)?;
            let mut s = Sidecar::named(&name, &section.file, section.line);
            let line = self.value(command, &vars)?;
            let argv = words::shlex_split(&line).or_else(|e| self.fail(command, e))?;
            if argv.is_empty() {
                return self.fail(command, "the command is empty");
            }
            s.set("command", toml::Value::Array(argv.into_iter().map(toml::Value::String).collect()));
            if let Some(d) = get("directory") {
                s.set("cwd", self.value(d, &vars)?);
            }
            for (k, v) in global_env.iter().chain(&own_env) {
                s.set_env(k, v);
            }
            self.settings(&mut s, section, &vars)?;
            if let Some(p) = get("priority") {
                s.approx_note(
                    p.line,
                    &format!("priority={priority}: sidetop starts sidecars together; they are listed in supervisord's start order"),
                );
            }
            out.push((priority, s));
        }
        Ok(out)
    }
}
