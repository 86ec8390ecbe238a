//! process-compose's `availability` (restart policy, backoff, max_restarts) and
//! `shutdown` (signal number, timeout) of a process.

use super::compose::Ctx;
use super::draft::{Sidecar, secs};
use super::yaml::{Kind, Node};
use crate::config::ConfigError;

impl Ctx<'_> {
    pub(super) fn availability(
        &self,
        s: &mut Sidecar,
        key: &str,
        a: Option<&Node>,
    ) -> Result<(), ConfigError> {
        let r = self.r;
        let key = format!("{key}.availability");
        let field = |name: &str| a.and_then(|a| a.get(name));
        let own_line = s.line;
        let line = |name: &str| a.and_then(|a| a.key_node(name)).map_or(own_line, |n| n.line);
        let policy = field("restart").map(|p| r.string(p, &format!("{key}.restart"))).transpose()?;
        let restarts = match policy.as_deref().unwrap_or("no") {
            "no" => {
                s.set("restart", "never");
                false
            }
            "always" => {
                s.set("restart", "always");
                true
            }
            "on_failure" => {
                s.set("restart", "on-failure");
                true
            }
            "exit_on_failure" => {
                s.set("restart", "never");
                s.skip(line("restart"), "exit_on_failure: process-compose stops every process when this one fails; sidetop leaves it exited");
                false
            }
            other => {
                return r.fail(
                    field("restart").expect("given"),
                    &format!("{key}.restart"),
                    format!("invalid restart policy {other:?}"),
                );
            }
        };
        if restarts {
            let backoff =
                field("backoff_seconds").map(|b| r.int(b, &format!("{key}.backoff_seconds"))).transpose()?;
            let backoff = secs(backoff.unwrap_or(1).max(1) as u64);
            s.set_in("backoff", "initial", backoff.clone());
            s.set_in("backoff", "max", backoff);
            s.set_in("backoff", "multiplier", 1.0);
            match field("max_restarts").map(|m| r.int(m, &format!("{key}.max_restarts"))).transpose()? {
                Some(n) if n > 0 => {
                    s.set_in("crash_loop", "window", "365d");
                    s.approx(
                        Some("crash_loop"),
                        "max_exits",
                        n + 1,
                        line("max_restarts"),
                        &format!("max_restarts: {n}: process-compose counts restarts for good; sidetop counts exits within a window (a year here)"),
                    );
                }
                _ => {
                    s.note("process-compose restarts it without limit: so does this crash_loop.");
                    s.set_in("crash_loop", "max_exits", u32::MAX as i64);
                    s.set_in("crash_loop", "window", "60s");
                }
            }
        } else if field("backoff_seconds").is_some() || field("max_restarts").is_some() {
            s.note("availability: backoff_seconds and max_restarts apply to restarts only: none here.");
        }
        for extra in ["exit_on_end", "exit_on_skipped"] {
            if matches!(field(extra).map(|n| &n.kind), Some(Kind::Bool(true))) {
                s.skip(line(extra), &format!("availability.{extra} (process-compose exits as a whole)"));
            }
        }
        Ok(())
    }

    pub(super) fn shutdown(&self, s: &mut Sidecar, key: &str, sd: Option<&Node>) -> Result<(), ConfigError> {
        let Some(sd) = sd else { return Ok(()) };
        let r = self.r;
        for (name, k, v) in r.map(sd, &format!("{key}.shutdown"))? {
            let here = format!("{key}.shutdown.{name}");
            match name.as_str() {
                "signal" => {
                    let n = r.int(v, &here)?;
                    match nix::sys::signal::Signal::try_from(n as i32) {
                        Ok(sig) => s.set("stop_signal", sig.as_str()),
                        Err(_) => return r.fail(v, &here, format!("{n} is not a signal number")),
                    }
                }
                "timeout_seconds" => {
                    let n = r.int(v, &here)?;
                    if n > 0 {
                        s.set("stop_timeout", secs(n as u64));
                    }
                }
                "command" => s.skip(k.line, "shutdown.command (sidetop stops with a signal)"),
                "send_keys" => s.skip(k.line, "shutdown.send_keys (sidetop stops with a signal)"),
                "parent_only" if matches!(v.kind, Kind::Bool(true)) => {
                    s.approx_note(k.line, "shutdown.parent_only: sidetop signals the whole process group");
                }
                "parent_only" => {}
                other => s.skip(k.line, &format!("shutdown.{other}")),
            }
        }
        Ok(())
    }
}
