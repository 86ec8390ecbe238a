//! The config file as written, before defaults are applied and cross-references checked.
//! Every per-sidecar setting is optional so `[defaults]` and `[[sidecar]]` share one shape.

use super::ipc::{RawHealth, RawIpc, RawRequestFields};
use super::values::{ByteSize, CommandSpec, DurationValue, RestartPolicy, SignalName};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Settings of sidetop itself.
    #[serde(default)]
    pub sidetop: Option<RawSidetop>,
    #[serde(default)]
    pub defaults: Option<Spanned<RawSidecar>>,
    #[serde(default)]
    pub sidecar: Vec<Spanned<RawSidecar>>,
    /// Folders whose executables are sidecars (`path`, plus per-sidecar settings).
    #[serde(default)]
    pub sidecar_dir: Vec<Spanned<RawSidecar>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSidetop {
    /// Where to serve Prometheus metrics (`127.0.0.1:9464`).
    pub metrics: Option<Spanned<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSidecar {
    /// Only in `[[sidecar_dir]]`: the folder.
    pub path: Option<Spanned<String>>,
    // Identity: only meaningful per sidecar.
    pub name: Option<Spanned<String>>,
    pub command: Option<Spanned<CommandSpec>>,
    pub depends_on: Option<Vec<Spanned<String>>>,
    pub log_file: Option<Spanned<String>>,
    pub ipc: Option<Spanned<RawIpc>>,
    pub health: Option<Spanned<RawHealth>>,
    pub request: Option<Vec<Spanned<RawRequestFields>>>,

    // Settings that `[defaults]` may also give.
    pub shell: Option<bool>,
    pub cwd: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub inherit_env: Option<bool>,
    pub autostart: Option<bool>,
    pub restart: Option<RestartPolicy>,
    pub backoff: Option<RawBackoff>,
    pub crash_loop: Option<RawCrashLoop>,
    pub stop_signal: Option<SignalName>,
    pub stop_timeout: Option<DurationValue>,
    pub scrollback_lines: Option<Spanned<usize>>,
    pub scrollback_bytes: Option<ByteSize>,
    pub max_line: Option<Spanned<ByteSize>>,
    pub log_file_max_size: Option<ByteSize>,
    pub log_file_keep: Option<usize>,
    pub log_file_mode: Option<super::LogFileMode>,
    pub log_file_buffer: Option<ByteSize>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    pub initial: Option<DurationValue>,
    pub max: Option<DurationValue>,
    pub multiplier: Option<Spanned<f64>>,
    pub reset_after: Option<DurationValue>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCrashLoop {
    pub max_exits: Option<Spanned<u32>>,
    pub window: Option<DurationValue>,
}

/// `top`'s settings where it has them, else `base`'s (a plugin's `NAME.toml` over its
/// folder's settings); environments are merged, `top` winning per variable.
pub fn overlay(top: RawSidecar, base: &RawSidecar) -> RawSidecar {
    let base = base.clone();
    let mut env = base.env.clone().unwrap_or_default();
    env.extend(top.env.clone().unwrap_or_default());
    macro_rules! pick {
        ($($field:ident),* $(,)?) => {
            RawSidecar { $($field: top.$field.or(base.$field),)* env: (!env.is_empty()).then_some(env) }
        };
    }
    pick!(
        path,
        name,
        command,
        depends_on,
        log_file,
        ipc,
        health,
        request,
        shell,
        cwd,
        inherit_env,
        autostart,
        restart,
        backoff,
        crash_loop,
        stop_signal,
        stop_timeout,
        scrollback_lines,
        scrollback_bytes,
        max_line,
        log_file_max_size,
        log_file_keep,
        log_file_mode,
        log_file_buffer,
    )
}
