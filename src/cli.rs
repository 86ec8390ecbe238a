//! Command-line interface. These names are relied on by docs, tests and scripts.

use crate::config::DEFAULT_CONFIG_PATH;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sidetop",
    version,
    about = "Supervise sidecar processes and watch them from a terminal dashboard"
)]
pub struct Cli {
    /// Config file.
    #[arg(long, short = 'c', global = true, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// No dashboard: print every output line and lifecycle event to stdout.
    #[arg(long)]
    pub headless: bool,

    /// With --headless: exit once no sidecar is running or due to restart.
    #[arg(long, requires = "headless")]
    pub exit_when_done: bool,

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
}
