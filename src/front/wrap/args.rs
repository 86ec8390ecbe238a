//! `sidetop wrap`'s command line.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrapProtocol {
    Jsonrpc,
    JsonLines,
    Lsp,
    Mcp,
}

impl WrapProtocol {
    pub fn config_name(self) -> &'static str {
        match self {
            WrapProtocol::Jsonrpc => "jsonrpc",
            WrapProtocol::JsonLines => "json-lines",
            WrapProtocol::Lsp => "lsp",
            WrapProtocol::Mcp => "mcp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrapFraming {
    Newline,
    ContentLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrapRestart {
    /// The wrapper ends as the child does (its exit code, or the same signal).
    Never,
    /// A crash (a signal, a non-zero exit) restarts the child under the usual backoff
    /// and crash-loop rules; the application's pipes stay open.
    OnFailure,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WrapArgs {
    /// The sidecar's name (default: the command's file name). With --config, the
    /// `[[sidecar]]` of that name gives the other settings.
    #[arg(long)]
    pub name: Option<String>,
    /// How the application and the sidecar talk (default: jsonrpc, or the config's).
    #[arg(long, value_enum)]
    pub protocol: Option<WrapProtocol>,
    /// How messages are framed (default: the protocol's: content-length for lsp,
    /// newline otherwise).
    #[arg(long, value_enum)]
    pub framing: Option<WrapFraming>,
    /// The engine API socket (default: wrap-NAME-PID.sock in the agents' runtime folder,
    /// so `sidetop ctl list` finds it).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "never")]
    pub restart: WrapRestart,
    /// The command to run in place of the application's, and its arguments.
    #[arg(last = true, required = true, num_args = 1.., value_name = "CMD")]
    pub command: Vec<String>,
}
