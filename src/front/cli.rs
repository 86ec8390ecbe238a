//! Command-line interface. These names are relied on by docs, tests and scripts.
//!
//! Long because it is every command's flags with their help in one place (clap derives
//! the parser, the completions and the man pages from it); each struct is short.

use crate::config::DEFAULT_CONFIG_PATH;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `sidetop --version`: the version and the optional features this build has.
pub const VERSION: &str = if cfg!(feature = "grpc") {
    concat!(env!("CARGO_PKG_VERSION"), " (features: grpc)")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (features: none; gRPC sidecars need --features grpc)")
};

#[derive(Debug, Parser)]
#[command(
    name = "sidetop",
    version = VERSION,
    about = "Supervise sidecar processes and watch them from a terminal dashboard"
)]
pub struct Cli {
    /// Config file.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// No dashboard: print every output line and lifecycle event to stdout.
    #[arg(long)]
    pub headless: bool,

    /// How often the dashboard samples CPU and memory (like "1s", "500ms").
    #[arg(long, default_value = "1s", value_parser = parse_sample_interval)]
    pub sample_interval: std::time::Duration,

    /// With --headless: exit once no sidecar is running or due to restart.
    #[arg(long, requires = "headless")]
    pub exit_when_done: bool,

    /// Serve Prometheus metrics on this address (`127.0.0.1:9464`, or a port: loopback);
    /// also `[sidetop] metrics = "..."` in the config.
    #[arg(long, global = true, value_name = "ADDR", value_parser = parse_metrics_addr)]
    pub metrics: Option<std::net::SocketAddr>,

    /// Record every exchange with every sidecar to this file (JSON lines, rotated at
    /// 64 MiB), for `sidetop replay`. Where the engine runs: dashboard, --headless, agent.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Where sidetop writes its own log (default: $XDG_STATE_HOME/sidetop or ~/.local/state/sidetop).
    #[arg(long, global = true)]
    pub log_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config and list the sidecars it would start.
    Check,
    /// Start one sidecar (and what it depends on), wait until it is ready, send it
    /// requests, print the reply (one request) or a summary (many), stop it.
    Request(Box<RequestArgs>),
    /// Run the engine with no terminal (a service, a container entrypoint), printing what
    /// --headless prints and serving the control socket for `sidetop ctl`.
    Agent(AgentArgs),
    /// Talk to a running sidetop (an agent, or a dashboard) over its control socket.
    Ctl(CtlArgs),
    /// The dashboard of a running agent: `q` detaches and leaves every sidecar running,
    /// `Q` stops the agent (after asking).
    Attach(AttachArgs),
    /// Send recorded traffic again (from --record or `ctl record`) to the sidecars started
    /// from the config, and compare with the recording: per method, p50/p99 then and now;
    /// outcomes that got worse. Exit 1 when one got worse or a p50 regressed.
    Replay(ReplayArgs),
    /// Run CMD in place of the application's sidecar command, passing its stdin and
    /// stdout through unchanged while measuring every call the application makes; exits
    /// as CMD does. Serves the engine API like an agent (`ctl list` finds it).
    Wrap(Box<crate::front::wrap::WrapArgs>),
    /// Print the script that gives a shell sidetop's completions (subcommands, flags, and
    /// the sidecar names of the config): `source <(sidetop completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: crate::front::completion::Shell,
    },
    /// Print the sidetop.toml equivalent of another tool's process file (a Procfile,
    /// mprocs.yaml, process-compose.yaml, supervisord.conf, pm2 ecosystem file), with a
    /// comment where a setting was approximated or left out; warnings go to stderr.
    Import {
        /// The file to convert.
        file: PathBuf,
    },
    /// Print the JSON Schema of the config file, for editors (taplo / Even Better TOML:
    /// `sidetop schema > sidetop.schema.json`, then `#:schema ./sidetop.schema.json`).
    Schema,
    /// Print sidetop's manual page (roff; `sidetop man | man -l -`), or with --out write
    /// one page per command into a folder (`sidetop.1`, `sidetop-ctl.1`, ...).
    Man {
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Regenerate the README's screenshots from a real run of this config's sidecars.
    #[command(hide = true)]
    Screenshots {
        #[arg(long, default_value = "screenshots")]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct AttachArgs {
    /// The agent's control socket (default: the one of the agent running --config).
    /// Repeat it, or add --ssh or --all, for one dashboard over several engines.
    #[arg(long)]
    pub socket: Vec<PathBuf>,
    /// Every engine of this user on this host (agents, dashboards, wrappers) in one
    /// dashboard: their sidecars as ENGINE/NAME, each key acting on the sidecar's own engine.
    #[arg(long)]
    pub all: bool,
    /// An agent on another host: runs `ssh [USER@]HOST sidetop ctl bridge` and speaks the
    /// API over its stdio (ssh authenticates and encrypts). Repeatable, and combined with
    /// --socket and --all: one dashboard over the engines of several hosts.
    #[arg(long, value_name = "[USER@]HOST")]
    pub ssh: Vec<String>,
    /// With --ssh: the agent's socket on that host (default: its default socket).
    #[arg(long, requires = "ssh")]
    pub remote_socket: Option<PathBuf>,
    /// With --ssh: the sidetop program on that host.
    #[arg(long, requires = "ssh", default_value = "sidetop")]
    pub remote_sidetop: String,
    /// Watch only: every action is refused.
    #[arg(long)]
    pub read_only: bool,
}

impl AttachArgs {
    pub fn remote(&self) -> crate::client::ssh::Remote {
        crate::client::ssh::Remote {
            sidetop: self.remote_sidetop.clone(),
            socket: self.remote_socket.clone(),
            read_only: self.read_only,
        }
    }
}

impl CtlArgs {
    pub fn remote(&self) -> crate::client::ssh::Remote {
        crate::client::ssh::Remote {
            sidetop: self.remote_sidetop.clone(),
            socket: self.remote_socket.clone(),
            read_only: self.read_only,
        }
    }

    /// More than one engine: `--all`, or several `--socket`/`--ssh`.
    pub fn several(&self) -> bool {
        self.all || self.socket.len() + self.ssh.len() > 1
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The control socket (default: $XDG_RUNTIME_DIR/sidetop/NAME.sock, NAME from the config).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Every client may watch; none may act.
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CtlArgs {
    /// The control socket (default: the one of the agent running --config). Repeat it,
    /// or add --ssh or --all, for the reads of several engines at once.
    #[arg(long, global = true)]
    pub socket: Vec<PathBuf>,
    /// An engine on another host, through `ssh [USER@]HOST sidetop ctl bridge`. With
    /// --all, every engine on that host through one connection. Repeatable.
    #[arg(long, global = true, value_name = "[USER@]HOST")]
    pub ssh: Vec<String>,
    // Not `requires = "ssh"`: clap checks that before a global --ssh reaches the
    // subcommand; `ctl` checks it.
    /// With --ssh: the engine's socket on that host (default: its default socket).
    #[arg(long, global = true)]
    pub remote_socket: Option<PathBuf>,
    /// With --ssh: the sidetop program on that host.
    #[arg(long, global = true, default_value = "sidetop")]
    pub remote_sidetop: String,
    /// One JSON object per line, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Watch only: the agent refuses anything that acts.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Every engine of this user on this host (agents, dashboards, wrappers), as `ctl list`
    /// finds them, plus each --socket, and with --ssh every engine on each host:
    /// `--all status` and `--all events` of all of them (rows with their engine);
    /// `--all logs|latency|traffic NAME` from the engine that runs NAME (`ENGINE/NAME`
    /// when several do). Reads only; before the command.
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CtlCommand {
    /// The agents of this user, with their pids and configs.
    List,
    /// Every sidecar: state, pid, uptime, restarts, last exit.
    Status,
    /// Start sidecars.
    Start {
        #[arg(required = true, add = crate::front::completion::sidecar_names())]
        names: Vec<String>,
    },
    /// Stop sidecars gracefully (stop signal, then SIGKILL after the grace period).
    Stop {
        #[arg(required = true, add = crate::front::completion::sidecar_names())]
        names: Vec<String>,
    },
    /// Restart sidecars.
    Restart {
        #[arg(required = true, add = crate::front::completion::sidecar_names())]
        names: Vec<String>,
    },
    /// SIGKILL sidecars' whole process groups.
    Kill {
        #[arg(required = true, add = crate::front::completion::sidecar_names())]
        names: Vec<String>,
    },
    /// Send a signal to a sidecar's main process.
    Signal {
        #[arg(add = crate::front::completion::sidecar_names())]
        name: String,
        signal: String,
    },
    /// A sidecar's recent output; -f follows it.
    Logs {
        #[arg(add = crate::front::completion::sidecar_names())]
        name: String,
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: u64,
        #[arg(long)]
        stderr: bool,
    },
    /// Latency per method and origin (the application's calls through `sidetop wrap`,
    /// sidetop's own health checks, test requests and load runs): count, p50, p90, p99,
    /// max, errors.
    Latency {
        #[arg(add = crate::front::completion::sidecar_names())]
        name: String,
    },
    /// Recent exchanges (request, reply, latency, outcome, origin); -f follows them.
    Traffic {
        #[arg(add = crate::front::completion::sidecar_names())]
        name: String,
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
    },
    /// Lifecycle events; -f follows them.
    Events {
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only this sidecar's.
        #[arg(long, add = crate::front::completion::sidecar_names())]
        sidecar: Option<String>,
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: u64,
    },
    /// Send a request to a running sidecar and print the reply, or a load run's summary
    /// with -n/-c/--duration (same flags as `sidetop request`).
    Request(Box<RequestArgs>),
    /// Read the config file again and apply it: new sidecars start, removed ones stop,
    /// changed ones restart, the rest keep running untouched. `--dry-run` only says what
    /// would change. An invalid file changes nothing (exit 1, with the error).
    Reload {
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a line to a sidecar's stdin (a newline is added).
    Stdin {
        #[arg(add = crate::front::completion::sidecar_names())]
        name: String,
        text: String,
    },
    /// Record exchanges to a file for `sidetop replay`: `record NAME FILE` (one sidecar),
    /// `record --all FILE`, `record --stop`. One recording at a time.
    Record {
        /// NAME FILE, or FILE with --all.
        #[arg(num_args = 0..=2)]
        args: Vec<String>,
        /// Every sidecar's exchanges.
        #[arg(long, conflicts_with = "stop")]
        all: bool,
        /// End the recording (what it has is written first).
        #[arg(long)]
        stop: bool,
    },
    /// Stop every sidecar and the agent.
    Shutdown,
    /// Relay the control protocol between stdin/stdout and the socket (what `attach --ssh`
    /// runs on the remote host).
    Bridge,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RequestArgs {
    /// The sidecar to talk to.
    #[arg(add = crate::front::completion::sidecar_names())]
    pub sidecar: String,
    /// A `[[sidecar.request]]` template by name (default: the first one).
    #[arg(long, short = 't', conflicts_with_all = ["method", "params", "value", "path", "body"])]
    pub template: Option<String>,
    /// JSON-RPC method, or HTTP method (with --path).
    #[arg(long, short = 'm')]
    pub method: Option<String>,
    /// JSON-RPC params, as JSON.
    #[arg(long, short = 'p')]
    pub params: Option<String>,
    /// The json-lines value to send, as JSON.
    #[arg(long)]
    pub value: Option<String>,
    /// HTTP path, like /price.
    #[arg(long)]
    pub path: Option<String>,
    /// HTTP body, as JSON.
    #[arg(long)]
    pub body: Option<String>,
    /// MCP: call this tool (`tools/call`); exit 1 when its result is an error.
    #[arg(long, conflicts_with_all = ["method", "params", "value", "path", "body", "template"])]
    pub tool: Option<String>,
    /// MCP: the tool's arguments, as a JSON object.
    #[arg(long, requires = "tool")]
    pub args: Option<String>,
    /// MCP: list the server's tools with their arguments, one line each.
    #[arg(long, conflicts_with_all = ["tool", "method", "params", "value", "path", "body", "template"])]
    pub list: bool,
    /// How many requests.
    #[arg(short = 'n', long = "requests", default_value_t = 1)]
    pub requests: u64,
    /// How many at once.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub concurrency: usize,
    /// Keep sending for this long instead (like "10s").
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// How long to wait for the sidecar to become ready.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub ready_timeout: std::time::Duration,
}

impl RequestArgs {
    /// The request's parts, for `api::request::build_spec`.
    pub fn fields(&self) -> crate::api::request::RequestFields {
        crate::api::request::RequestFields {
            template: self.template.clone(),
            method: self.method.clone(),
            params: self.params.clone(),
            value: self.value.clone(),
            path: self.path.clone(),
            body: self.body.clone(),
            tool: self.tool.clone(),
            args: self.args.clone(),
            list: self.list,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// A recording (`--record FILE`, `ctl record`).
    pub file: PathBuf,
    /// Only this sidecar's requests (default: every sidecar in the recording).
    #[arg(long, add = crate::front::completion::sidecar_names())]
    pub sidecar: Option<String>,
    /// Requests in flight at most.
    #[arg(short = 'c', long, default_value_t = 64)]
    pub concurrency: usize,
    /// `1x` keeps the recorded pace, `2x` doubles it, `max` sends as fast as -c allows.
    #[arg(long, default_value = "1x")]
    pub speed: crate::front::replay::Speed,
    /// How much slower a method's p50 may get before the replay fails (exit 1), as a
    /// share of its recorded p50; never less than the recording's noise (2 x its
    /// interquartile range, at least 250 µs).
    #[arg(long, default_value = "5%", value_parser = crate::front::replay::parse_fraction)]
    pub max_regression: f64,
    /// How long to wait for the sidecars to become ready.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub ready_timeout: std::time::Duration,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<crate::config::values::DurationValue>().map(|d| d.0)
}

/// Sampling reads /proc for every process: 0 would spin, and below 100 ms the sampler
/// itself becomes the load it measures.
fn parse_sample_interval(s: &str) -> Result<std::time::Duration, String> {
    let interval = parse_duration(s)?;
    if interval < std::time::Duration::from_millis(100) {
        return Err("at least 100ms (sampling reads /proc for every process)".into());
    }
    Ok(interval)
}

fn parse_metrics_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::config::values::parse_metrics_addr(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
