//! Loading and validating `sidetop.toml`. A config either loads whole and valid, or fails
//! with one [`ConfigError`] naming file, line, column and key; nothing is started on error.

mod dirs;
mod error;
pub mod handshakes;
pub mod import;
pub mod ipc;
pub mod listen;
mod raw;
pub mod schema;
mod validate;
mod validate_ipc;
mod validate_requests;
pub mod values;

pub use error::ConfigError;
pub use values::{RestartPolicy, parse_signal};

use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `sidetop` looks when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/sidetop.toml";

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from.
    pub path: PathBuf,
    pub sidecars: Vec<SidecarConfig>,
    /// `[sidetop] metrics`: where to serve Prometheus metrics (`--metrics` wins).
    pub metrics: Option<std::net::SocketAddr>,
    /// `[[sidecar_dir]]` folders, watched for executables coming and going.
    pub sidecar_dirs: Vec<PathBuf>,
    /// For a file imported from another tool's format: what did not map exactly
    /// (empty for sidetop TOML).
    pub warnings: Vec<import::Warning>,
}

#[derive(Debug, Clone)]
pub struct SidecarConfig {
    pub name: String,
    /// What is executed: argv[0] is looked up in PATH. With `shell = true` this is
    /// `["sh", "-c", <string>]`.
    pub argv: Vec<String>,
    pub shell: bool,
    /// Resolved against the config file's folder when relative.
    pub cwd: PathBuf,
    /// Added to the inherited environment (or to an empty one without `inherit_env`).
    pub env: Vec<(String, String)>,
    pub inherit_env: bool,
    pub autostart: bool,
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    pub crash_loop: CrashLoop,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    /// Names of sidecars that must be running before this one starts.
    pub depends_on: Vec<String>,
    pub output: OutputLimits,
    pub log_file: Option<LogFileConfig>,
    /// How to talk to it; `None`: supervised and logged only.
    pub ipc: Option<ipc::IpcConfig>,
    pub health: Option<ipc::HealthConfig>,
    /// Checked before it starts on its own: missing, it stays idle and says what to do.
    pub needs: Option<Needs>,
    /// Named test requests; the first is the default.
    pub requests: Vec<ipc::RequestTemplate>,
    /// For a sidecar from a `[[sidecar_dir]]`: its executable's identity, so a replaced
    /// file counts as a change.
    pub exe_stamp: Option<String>,
    /// Run by `sidetop wrap` for this application (`pid 812: nvim app.py`): its stdin
    /// and stdout belong to the application (passed through and observed), not to
    /// sidetop. Never from a file.
    pub wrapped_by: Option<String>,
}

/// `[sidecar.needs]`: a check that what the sidecar needs is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub argv: Vec<String>,
    /// What to do when the check fails.
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Uptime after which the next crash starts again from `initial`.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            reset_after: Duration::from_secs(10),
        }
    }
}

/// `max_exits` exits within `window` and the sidecar is left alone until an operator acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoop {
    pub max_exits: u32,
    pub window: Duration,
}

impl Default for CrashLoop {
    fn default() -> Self {
        CrashLoop { max_exits: 5, window: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Lines kept in memory for display (older ones are dropped and counted).
    pub scrollback_lines: usize,
    pub scrollback_bytes: u64,
    /// Longer lines are cut here and marked as cut.
    pub max_line: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits { scrollback_lines: 10_000, scrollback_bytes: 4 << 20, max_line: 64 << 10 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileConfig {
    pub path: PathBuf,
    /// Rotate when the file would grow past this.
    pub max_size: u64,
    /// Rotated files kept: `name.1` (newest) .. `name.N`.
    pub keep: usize,
    /// What happens when the writer falls `buffer` bytes behind.
    pub mode: LogFileMode,
    /// Bytes of output queued for the file at most.
    pub buffer: u64,
}

/// Docker's json-file driver modes: wait (lose nothing) or drop (never slow the child).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogFileMode {
    /// The output waits for the file; the child waits on its pipe.
    #[default]
    Blocking,
    /// Lines that do not fit are dropped, counted, and marked in the file.
    NonBlocking,
}

pub const DEFAULT_LOG_FILE_MAX_SIZE: u64 = 10 << 20;
pub const DEFAULT_LOG_FILE_KEEP: usize = 5;
pub const DEFAULT_LOG_FILE_BUFFER: u64 = 1 << 20;
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl Config {
    /// Reads and validates a config file. A file of another tool (a Procfile,
    /// mprocs.yaml, process-compose.yaml, supervisord.conf, a pm2 ecosystem file) is
    /// converted first; the path stays the foreign file's, so relative paths resolve
    /// against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(path, format!("cannot read config: {e}")))?;
        let Some(format) = import::detect(path, &source) else {
            return Config::parse(path, &source);
        };
        let imported = import::convert(path, &source, format)?;
        let mut config = Config::parse(path, &imported.toml).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: e.key.clone(),
            message: format!(
                "{} (in the TOML imported from this {format} file, line {}; `sidetop import` prints it)",
                e.message, e.line
            ),
            source_line: None,
        })?;
        config.warnings = imported.warnings;
        Ok(config)
    }

    /// Validates config text; `path` is used for messages and to resolve relative paths.
    pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
        validate::parse(path, source)
    }

    pub fn sidecar(&self, name: &str) -> Option<&SidecarConfig> {
        self.sidecars.iter().find(|s| s.name == name)
    }
}

/// What is shown for an environment variable: values of names that look secret
/// (`*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*KEY*`, any case) are masked.
pub fn shown_env_value(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if ["TOKEN", "SECRET", "PASSWORD", "KEY"].iter().any(|s| upper.contains(s)) {
        "********".to_string()
    } else {
        value.to_string()
    }
}

impl SidecarConfig {
    /// `NAME=value` pairs as shown to people, secrets masked.
    pub fn shown_env(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={}", shown_env_value(k, v))).collect()
    }

    /// The command as a person would type it, for listings.
    pub fn command_line(&self) -> String {
        if self.shell {
            self.argv.last().cloned().unwrap_or_default()
        } else {
            self.argv
                .iter()
                .map(|a| if a.contains(' ') || a.is_empty() { format!("{a:?}") } else { a.clone() })
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// A minimal sidecar for tests and programmatic use: defaults everywhere.
    pub fn new(name: &str, argv: &[&str]) -> SidecarConfig {
        SidecarConfig {
            name: name.to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            shell: false,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            env: Vec::new(),
            inherit_env: true,
            autostart: true,
            restart: RestartPolicy::OnFailure,
            backoff: Backoff::default(),
            crash_loop: CrashLoop::default(),
            stop_signal: Signal::SIGTERM,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            depends_on: Vec::new(),
            output: OutputLimits::default(),
            log_file: None,
            ipc: None,
            health: None,
            needs: None,
            requests: Vec::new(),
            exe_stamp: None,
            wrapped_by: None,
        }
    }
}

#[cfg(test)]
mod tests;
