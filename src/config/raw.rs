//! The config file as written, before defaults are applied and cross-references checked.
//! Every per-sidecar setting is optional so `[defaults]` and `[[sidecar]]` share one shape.

use super::ipc::{RawHealth, RawIpc, RawRequestFields};
use super::values::{ByteSize, CommandSpec, DurationValue, RestartPolicy, SignalName};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Settings of sidetop itself.
    #[serde(default)]
    pub sidetop: Option<RawSidetop>,
    #[serde(default)]
    /// Settings every sidecar gets unless it sets its own (all per-sidecar keys but `name`, `command`, `depends_on` and `log_file`); tables such as `backoff` merge key by key, `env` by variable.
    #[schemars(with = "Option<RawSidecar>")]
    pub defaults: Option<Spanned<RawSidecar>>,
    #[serde(default)]
    /// One table per sidecar.
    #[schemars(with = "Vec<RawSidecar>")]
    pub sidecar: Vec<Spanned<RawSidecar>>,
    #[serde(default)]
    /// Folders whose executable files are sidecars, named after the file, with the folder's settings; a `NAME.toml` beside one overrides them. Watched: files added, replaced or removed start, restart or stop sidecars.
    #[schemars(with = "Vec<RawSidecar>")]
    pub sidecar_dir: Vec<Spanned<RawSidecar>>,
}

#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSidetop {
    /// Serve Prometheus metrics (`GET /metrics`) on this address, like `"127.0.0.1:9464"`, or a bare port (loopback). `--metrics` wins.
    #[schemars(with = "Option<String>")]
    pub metrics: Option<Spanned<String>>,
}

#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSidecar {
    /// Only in `[[sidecar_dir]]`: the folder, relative to the config file.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    // Identity: only meaningful per sidecar.
    /// Required in `[[sidecar]]`: unique; letters, digits, `-`, `_`, `.`.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Required in `[[sidecar]]`: an argv array run directly (`["python3", "app.py"]`), or one string run with `sh -c` when `shell = true`.
    #[schemars(with = "Option<CommandSpec>")]
    pub command: Option<Spanned<CommandSpec>>,
    /// Names of sidecars that must be ready before this one starts; shutdown stops dependents first.
    #[schemars(with = "Option<Vec<String>>", extend("default" = []))]
    pub depends_on: Option<Vec<Spanned<String>>>,
    /// Also write every line (with time and stream) to this file, mode 0600.
    #[schemars(with = "Option<String>")]
    pub log_file: Option<Spanned<String>>,
    /// How sidetop talks to it; without it, the sidecar is supervised and logged only.
    #[schemars(with = "Option<RawIpc>")]
    pub ipc: Option<Spanned<RawIpc>>,
    /// Readiness and health checks.
    #[schemars(with = "Option<RawHealth>")]
    pub health: Option<Spanned<RawHealth>>,
    /// What it needs installed: when `exec` fails, the sidecar does not start on its own
    /// and its row says `hint` (an operator can still start it).
    #[schemars(with = "Option<RawNeeds>")]
    pub needs: Option<Spanned<RawNeeds>>,
    /// Named test requests; the first is the default (`t` in the dashboard).
    #[schemars(with = "Option<Vec<RawRequestFields>>", extend("default" = []))]
    pub request: Option<Vec<Spanned<RawRequestFields>>>,

    // Settings that `[defaults]` may also give.
    /// Run a string `command` through `sh -c`.
    #[schemars(extend("default" = false))]
    pub shell: Option<bool>,
    /// Working directory; relative paths resolve against the config file's folder (the default).
    pub cwd: Option<String>,
    /// Variables added to the environment.
    #[schemars(extend("default" = {}))]
    pub env: Option<BTreeMap<String, String>>,
    /// `false` starts from an empty environment (plus `env`).
    #[schemars(extend("default" = true))]
    pub inherit_env: Option<bool>,
    /// `false`: start only when an operator asks.
    #[schemars(extend("default" = true))]
    pub autostart: Option<bool>,
    /// When an exited sidecar is started again: `always`, `on-failure` (any non-zero exit or death by signal) or `never`.
    #[schemars(extend("default" = "on-failure"))]
    pub restart: Option<RestartPolicy>,
    /// Delays between restarts.
    pub backoff: Option<RawBackoff>,
    /// When restarting stops: this many exits within the window puts the sidecar in `crash-loop` until an operator starts it.
    pub crash_loop: Option<RawCrashLoop>,
    /// Sent to the whole process group to stop it (`"SIGTERM"`, `"TERM"` and `"term"` all work).
    #[schemars(extend("default" = "SIGTERM"))]
    pub stop_signal: Option<SignalName>,
    /// Grace period after the stop signal; then SIGKILL goes to the whole process group.
    #[schemars(extend("default" = "5s"))]
    pub stop_timeout: Option<DurationValue>,
    /// Lines of output kept in memory (older ones are dropped and counted).
    #[schemars(with = "Option<usize>", extend("default" = 10000))]
    pub scrollback_lines: Option<Spanned<usize>>,
    /// The same bound in bytes.
    #[schemars(extend("default" = "4MiB"))]
    pub scrollback_bytes: Option<ByteSize>,
    /// Longer lines are cut here and marked as cut; the rest of the line is dropped.
    #[schemars(with = "Option<ByteSize>", extend("default" = "64KiB"))]
    pub max_line: Option<Spanned<ByteSize>>,
    /// Rotate the log file when it would grow past this.
    #[schemars(extend("default" = "10MB"))]
    pub log_file_max_size: Option<ByteSize>,
    /// Rotated log files kept: `name.1` (newest) to `name.N`.
    #[schemars(extend("default" = 5))]
    pub log_file_keep: Option<usize>,
    /// What happens when the log file falls `log_file_buffer` behind: `blocking` makes the output wait (no line lost), `non-blocking` drops lines, counts them and marks the gap in the file.
    #[schemars(extend("default" = "blocking"))]
    pub log_file_mode: Option<super::LogFileMode>,
    /// Output queued for the log file at most.
    #[schemars(extend("default" = "1MiB"))]
    pub log_file_buffer: Option<ByteSize>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNeeds {
    /// A command (argv, run in the sidecar's cwd with its env) whose exit 0 means what the
    /// sidecar needs is there: `["python3", "-c", "import grpc"]`.
    #[schemars(with = "Vec<String>")]
    pub exec: Spanned<Vec<String>>,
    /// What the operator should do when it is not, shown in the sidecar's row and events:
    /// `"pip install -r sidecars/requirements-grpc.txt"`.
    pub hint: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    /// Delay before the first restart.
    #[schemars(extend("default" = "100ms"))]
    pub initial: Option<DurationValue>,
    /// The delay never grows past this.
    #[schemars(extend("default" = "30s"))]
    pub max: Option<DurationValue>,
    /// Each further quick restart waits this much longer (>= 1.0).
    #[schemars(with = "Option<f64>", extend("default" = 2.0))]
    pub multiplier: Option<Spanned<f64>>,
    /// A run at least this long starts the delays over from `initial`.
    #[schemars(extend("default" = "10s"))]
    pub reset_after: Option<DurationValue>,
}

#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCrashLoop {
    /// This many exits within `window` puts the sidecar in `crash-loop`: no more restarts until an operator starts it.
    #[schemars(with = "Option<u32>", extend("default" = 5))]
    pub max_exits: Option<Spanned<u32>>,
    /// The window `max_exits` counts exits in.
    #[schemars(extend("default" = "60s"))]
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
        needs,
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
