//! Reload: a new config applied to a running engine. New sidecars start, removed ones
//! stop gracefully, ones whose effective config changed restart (keeping their
//! scrollback, event history, restart count, and their latency histograms when the IPC
//! config is the same); changes that need no restart apply in place; every other sidecar
//! keeps its process and everything else.

use super::sidecar::{Command, EventSink};
use super::status::EventKind;
use super::{Carry, SidecarHandle, Supervisor, deps_of};
use crate::config::{Config, SidecarConfig};
use std::fmt::Debug;
use std::sync::Arc;

/// Keys a running sidecar takes without a restart.
pub const IN_PLACE: &[&str] = &["requests", "autostart", "scrollback_lines", "scrollback_bytes"];

/// What a reload does (or would do), by sidecar name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    /// Restarted, with the keys that changed.
    pub restart: Vec<(String, Vec<String>)>,
    /// Changed only in keys applied in place.
    pub in_place: Vec<(String, Vec<String>)>,
    pub unchanged: usize,
}

impl Plan {
    /// `reload: +1 started (web2), -1 stopped (old), ~2 restarted (pricing: env.PORT, command), 5 unchanged`
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.start.is_empty() {
            parts.push(format!("+{} started ({})", self.start.len(), self.start.join(", ")));
        }
        if !self.stop.is_empty() {
            parts.push(format!("-{} stopped ({})", self.stop.len(), self.stop.join(", ")));
        }
        let keyed = |list: &[(String, Vec<String>)]| {
            list.iter()
                .map(|(name, keys)| format!("{name}: {}", keys.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !self.restart.is_empty() {
            parts.push(format!("~{} restarted ({})", self.restart.len(), keyed(&self.restart)));
        }
        if !self.in_place.is_empty() {
            parts.push(format!("{} changed in place ({})", self.in_place.len(), keyed(&self.in_place)));
        }
        parts.push(format!("{} unchanged", self.unchanged));
        format!("reload: {}", parts.join(", "))
    }

    pub fn changes_nothing(&self) -> bool {
        self.start.is_empty() && self.stop.is_empty() && self.restart.is_empty() && self.in_place.is_empty()
    }
}

fn differs<T: Debug>(a: &T, b: &T) -> bool {
    // Debug covers every type in a config (some hold a regex, which has no equality).
    format!("{a:?}") != format!("{b:?}")
}

/// The keys of the effective config (after `[defaults]`) that differ.
pub fn changed_keys(a: &SidecarConfig, b: &SidecarConfig) -> Vec<String> {
    let mut keys = Vec::new();
    let mut check = |key: &str, changed: bool| {
        if changed {
            keys.push(key.to_string());
        }
    };
    check("command", a.argv != b.argv || a.shell != b.shell);
    check("cwd", a.cwd != b.cwd);
    check("inherit_env", a.inherit_env != b.inherit_env);
    check("autostart", a.autostart != b.autostart);
    check("restart", differs(&a.restart, &b.restart));
    check("backoff", differs(&a.backoff, &b.backoff));
    check("crash_loop", differs(&a.crash_loop, &b.crash_loop));
    check("stop_signal", a.stop_signal != b.stop_signal);
    check("stop_timeout", a.stop_timeout != b.stop_timeout);
    check("depends_on", a.depends_on != b.depends_on);
    check("scrollback_lines", a.output.scrollback_lines != b.output.scrollback_lines);
    check("scrollback_bytes", a.output.scrollback_bytes != b.output.scrollback_bytes);
    check("max_line", a.output.max_line != b.output.max_line);
    check("log_file", differs(&a.log_file, &b.log_file));
    check("ipc", differs(&a.ipc, &b.ipc));
    check("health", differs(&a.health, &b.health));
    check("needs", a.needs != b.needs);
    check("requests", differs(&a.requests, &b.requests));
    check("executable", a.exe_stamp != b.exe_stamp);
    let mut env: Vec<&str> = a.env.iter().chain(&b.env).map(|(k, _)| k.as_str()).collect();
    env.sort_unstable();
    env.dedup();
    for key in env {
        let value = |c: &SidecarConfig| c.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if value(a) != value(b) {
            keys.push(format!("env.{key}"));
        }
    }
    keys
}

pub fn plan(old: &[SidecarConfig], new: &Config) -> Plan {
    let mut plan = Plan::default();
    for cfg in &new.sidecars {
        match old.iter().find(|o| o.name == cfg.name) {
            None => plan.start.push(cfg.name.clone()),
            Some(o) => {
                let keys = changed_keys(o, cfg);
                if keys.is_empty() {
                    plan.unchanged += 1;
                } else if keys.iter().all(|k| IN_PLACE.contains(&k.as_str())) {
                    plan.in_place.push((cfg.name.clone(), keys));
                } else {
                    plan.restart.push((cfg.name.clone(), keys));
                }
            }
        }
    }
    plan.stop = old.iter().filter(|o| new.sidecar(&o.name).is_none()).map(|o| o.name.clone()).collect();
    plan
}

impl Supervisor {
    /// What a reload to `new` would do, without doing it.
    pub fn plan_reload(&self, new: &Config) -> Plan {
        plan(&self.sidecars().iter().map(|h| h.config.clone()).collect::<Vec<_>>(), new)
    }

    /// Applies `new` (already loaded and validated): see the module's doc.
    pub async fn reload(&self, new: &Config) -> std::io::Result<Plan> {
        let _one_at_a_time = self.reloading.lock().await;
        let current = self.sidecars();
        let plan = plan(&current.iter().map(|h| h.config.clone()).collect::<Vec<_>>(), new);
        let find = |name: &str| current.iter().find(|h| *h.name == *name).cloned();
        let restarts = |name: &str| plan.restart.iter().any(|(n, _)| *n == *name);
        // Everything that can fail comes first (a new sidecar's log file that cannot be
        // opened): a reload that fails has retired nothing and changed nothing.
        let mut built = std::collections::HashMap::new();
        for cfg in &new.sidecars {
            let old = find(&cfg.name);
            if old.is_some() && !restarts(&cfg.name) {
                continue;
            }
            let carry = old.map(|old| Carry {
                logs: old.logs.clone(),
                history: old.history.clone(),
                tallies: old.tallies.clone(),
                ipc: old.ipc.clone().filter(|_| !differs(&old.config.ipc, &cfg.ipc)),
                restarts: old.status().restarts + 1,
            });
            built.insert(cfg.name.clone(), self.shared.build(cfg, carry)?);
        }
        for (name, keys) in &plan.restart {
            if let Some(h) = find(name) {
                self.note(&h, EventKind::Reconfigured { keys: keys.clone(), restart: true });
            }
        }
        // Removed and replaced sidecars stop first, in parallel, each with its grace.
        let mut retiring = tokio::task::JoinSet::new();
        for name in plan.stop.iter().chain(plan.restart.iter().map(|(n, _)| n)) {
            if let Some(h) = find(name) {
                retiring.spawn(async move { h.retire().await });
            }
        }
        while retiring.join_next().await.is_some() {}

        let mut handles = Vec::new();
        let mut runners = Vec::new();
        let mut kept = Vec::new();
        for cfg in &new.sidecars {
            let old = find(&cfg.name);
            let in_place = plan.in_place.iter().find(|(n, _)| *n == cfg.name);
            match old {
                Some(old) if !restarts(&cfg.name) => {
                    let handle = match in_place {
                        None => old,
                        Some((_, keys)) => {
                            old.logs
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .set_limits(cfg.output.scrollback_lines, cfg.output.scrollback_bytes);
                            self.note(&old, EventKind::Reconfigured { keys: keys.clone(), restart: false });
                            Arc::new(old.with_config(cfg.clone()))
                        }
                    };
                    kept.push(handle.clone());
                    handles.push(handle);
                }
                _ => {
                    let (handle, runner) = built.remove(&cfg.name).expect("built above");
                    handles.push(handle);
                    runners.push(runner);
                }
            }
        }
        for runner in &mut runners {
            runner.deps = deps_of(&runner.config, &handles);
        }
        // Sidecars that stay may depend on ones that were replaced.
        for h in &kept {
            let _ = h.commands.send(Command::Deps(deps_of(&h.config, &handles))).await;
        }
        for (h, runner) in handles.iter().filter(|h| !kept.iter().any(|k| Arc::ptr_eq(k, h))).zip(runners) {
            self.adopted.track(h.watch());
            tokio::spawn(runner.run());
        }
        *self.sidecars.write().unwrap_or_else(|e| e.into_inner()) = handles;
        self.set_version.send_modify(|v| *v += 1);
        tracing::info!("{}", plan.summary());
        Ok(plan)
    }

    /// A refused reload, kept in every sidecar's timeline (where an operator looks).
    pub fn note_refused_reload(&self, error: &str) {
        for handle in self.sidecars() {
            self.note(&handle, EventKind::ReloadRefused { error: error.to_string() });
        }
    }

    /// A recording's trouble (or its end), in the timeline of the sidecar it records, or
    /// of every sidecar.
    pub fn note_recording(&self, sidecar: Option<&str>, kind: EventKind) {
        for handle in self.sidecars().iter().filter(|h| sidecar.is_none_or(|s| *h.name == *s)) {
            self.note(handle, kind.clone());
        }
    }

    /// An event in a sidecar's timeline from the supervisor itself.
    fn note(&self, handle: &SidecarHandle, kind: EventKind) {
        EventSink {
            name: handle.name.clone(),
            history: handle.history.clone(),
            tallies: handle.tallies.clone(),
            broadcast: self.shared.events.clone(),
            changed: self.shared.changed.clone(),
        }
        .emit(kind);
    }
}
