//! A supervisord program's restart, stop and log settings, and the options sidetop has
//! no equivalent for.

use super::draft::{Sidecar, secs};
use super::ini::{Opt, Section};
use super::supervisord::{Expander, PROGRAM_KEYS};
use super::supervisord_expand::Vars;
use crate::config::ConfigError;
use std::path::PathBuf;

impl Expander<'_> {
    pub(super) fn settings(
        &self,
        s: &mut Sidecar,
        section: &Section,
        vars: &Vars,
    ) -> Result<(), ConfigError> {
        let get = |k: &str| section.get(k);
        if let Some(a) = get("autostart") {
            s.set("autostart", self.boolean(a)?);
        }
        let exitcodes: Vec<i64> = match get("exitcodes") {
            Some(o) => o
                .value
                .split(',')
                .map(|c| c.trim().parse().or_else(|_| self.fail(o, "exitcodes: a list of integers")))
                .collect::<Result<_, _>>()?,
            None => vec![0],
        };
        let restart_opt = get("autorestart");
        match restart_opt.map(|o| o.value.trim().to_lowercase()).as_deref().unwrap_or("unexpected") {
            "false" | "no" | "off" | "0" => s.set("restart", "never"),
            "true" | "yes" | "on" | "1" => s.set("restart", "always"),
            "unexpected" if exitcodes == [0] => s.set("restart", "on-failure"),
            "unexpected" => s.approx(
                None,
                "restart",
                "on-failure",
                get("exitcodes").map_or(0, |o| o.line),
                &format!(
                    "autorestart=unexpected with exitcodes={exitcodes:?}: sidetop restarts on any exit but 0"
                ),
            ),
            _ => {
                return self.fail(
                    restart_opt.expect("given"),
                    format!("invalid autorestart value {:?}", restart_opt.expect("given").value),
                );
            }
        }
        if get("exitcodes").is_some()
            && !matches!(
                restart_opt.map(|o| o.value.trim().to_lowercase()).as_deref(),
                None | Some("unexpected")
            )
        {
            s.skip(
                get("exitcodes").expect("given").line,
                "exitcodes (they only matter with autorestart=unexpected)",
            );
        }
        if get("startsecs").is_some() || get("startretries").is_some() {
            let startsecs = get("startsecs").map_or(Ok(1), |o| self.int(o))?.max(0) as u64;
            let retries = get("startretries").map_or(Ok(3), |o| self.int(o))?.max(0) as u64;
            let line = get("startsecs").or(get("startretries")).expect("one is set").line;
            s.approx(
                Some("backoff"),
                "reset_after",
                secs(startsecs.max(1)),
                line,
                &format!(
                    "startsecs={startsecs}: a run of {}s or more starts the restart delays over",
                    startsecs.max(1)
                ),
            );
            s.set_in("crash_loop", "max_exits", (retries + 1) as i64);
            let window = (retries + 1) * startsecs.max(1) + retries * (retries + 1) / 2;
            s.approx(
                Some("crash_loop"),
                "window",
                secs(window.max(1)),
                line,
                &format!("startretries={retries}: supervisord gives up after {retries} failed starts (FATAL); sidetop after {} exits within this window", retries + 1),
            );
        }
        match get("stopsignal") {
            Some(o) => {
                let v = o.value.trim();
                let sig = match v.parse::<i32>() {
                    Ok(n) => {
                        nix::sys::signal::Signal::try_from(n).map_err(|_| format!("{n} is not a signal"))
                    }
                    Err(_) => crate::config::parse_signal(v),
                };
                s.set("stop_signal", sig.or_else(|e| self.fail(o, e))?.as_str());
            }
            None => s.set("stop_signal", "SIGTERM"),
        }
        let wait = get("stopwaitsecs").map_or(Ok(10), |o| self.int(o))?.max(0) as u64;
        s.set("stop_timeout", secs(wait));
        for k in ["stopasgroup", "killasgroup"] {
            if let Some(o) = get(k)
                && !self.boolean(o)?
            {
                s.approx_note(o.line, &format!("{k}=false: sidetop signals the whole process group"));
            }
        }
        if let Some(o) = get("redirect_stderr")
            && self.boolean(o)?
        {
            s.approx_note(o.line, "redirect_stderr=true: sidetop keeps stderr apart (shown with !|); both streams go to the log file");
        }
        self.logs(s, section, vars)?;
        for o in &section.opts {
            let quiet = matches!(o.key.as_str(), "stdout_capture_maxbytes" | "stderr_capture_maxbytes")
                && o.value.trim() == "0"
                || matches!(
                    o.key.as_str(),
                    "stdout_events_enabled" | "stderr_events_enabled" | "stdout_syslog" | "stderr_syslog"
                ) && self.boolean(o).ok() == Some(false);
            match o.key.as_str() {
                "user"
                | "umask"
                | "serverurl"
                | "stdout_capture_maxbytes"
                | "stderr_capture_maxbytes"
                | "stdout_events_enabled"
                | "stderr_events_enabled"
                | "stdout_syslog"
                | "stderr_syslog"
                    if !quiet =>
                {
                    s.skip(o.line, &format!("{}={}", o.key, o.value));
                }
                k if !PROGRAM_KEYS.contains(&k) => {
                    s.skip(o.line, &format!("{k} (not a supervisord program setting)"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn logs(&self, s: &mut Sidecar, section: &Section, vars: &Vars) -> Result<(), ConfigError> {
        let file_of = |k: &str| -> Result<Option<(PathBuf, &Opt)>, ConfigError> {
            let Some(o) = section.get(k) else { return Ok(None) };
            let v = self.value(o, vars)?;
            match v.trim().to_lowercase().as_str() {
                "none" | "off" | "" => Ok(None),
                "auto" | "syslog" => Ok(Some((PathBuf::new(), o))),
                _ => Ok(Some((PathBuf::from(v.trim()), o))),
            }
        };
        let stdout = file_of("stdout_logfile")?;
        let stderr = file_of("stderr_logfile")?;
        let chosen = match (&stdout, &stderr) {
            (Some((p, o)), _) if p.as_os_str().is_empty() => {
                s.skip(o.line, &format!("{}={} (supervisord's own log folder)", o.key, o.value));
                None
            }
            (Some((p, o)), _) => Some((p.clone(), *o)),
            (None, Some((p, o))) if !p.as_os_str().is_empty() => Some((p.clone(), *o)),
            _ => None,
        };
        if let (Some((out, _)), Some((err, o))) = (&stdout, &stderr)
            && out != err
        {
            s.skip(o.line, "stderr_logfile: sidetop writes both streams to one log_file");
        }
        let Some((file, opt)) = chosen else { return Ok(()) };
        s.approx(
            None,
            "log_file",
            file.display().to_string(),
            opt.line,
            &format!("{}: sidetop's log file has both streams, each line with its time and stream", opt.key),
        );
        let prefix = if opt.key.starts_with("stdout") { "stdout" } else { "stderr" };
        if let Some(o) = section.get(&format!("{prefix}_logfile_maxbytes")) {
            match byte_size(&o.value) {
                Some(0) => s.skip(o.line, &format!("{}=0 (sidetop always rotates)", o.key)),
                Some(n) => s.set("log_file_max_size", n as i64),
                None => return self.fail(o, format!("not a size: {:?}", o.value)),
            }
        }
        if let Some(o) = section.get(&format!("{prefix}_logfile_backups")) {
            s.set("log_file_keep", self.int(o)?.max(0));
        }
        Ok(())
    }
}

/// supervisord's `byte_size`: a number with an optional KB, MB or GB (powers of 1024).
fn byte_size(v: &str) -> Option<u64> {
    let v = v.trim().to_uppercase();
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = digits.parse().ok()?;
    let m = match unit.trim() {
        "" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(m)
}
