//! Shell completions and the manual page, both generated from the CLI definition so they
//! cannot drift from it.
//!
//! Completions are dynamic (clap_complete's environment mode): the script a shell loads
//! calls `sidetop` back at each TAB, so subcommands, flags and the sidecar names of the
//! config in use (`--config` on the line being completed, else the default) all come from
//! this binary.

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::front::cli::Cli;
use clap::CommandFactory;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::EnvCompleter;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that switches `sidetop` into answering a completion.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// Shells `sidetop completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Answers a completion request and exits, when the shell's script asked for one.
/// Called first thing in `main`, before anything is printed.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(Cli::command).var(COMPLETE_VAR).complete();
}

/// Writes the script that registers sidetop's completions with `shell`.
pub fn write_script(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    // The script calls this very binary back: an absolute path keeps completion working
    // when `sidetop` is not on PATH (run from target/).
    let completer = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(String::from))
        .unwrap_or_else(|| "sidetop".to_string());
    let registrar: &dyn EnvCompleter = match shell {
        Shell::Bash => &clap_complete::env::Bash,
        Shell::Zsh => &clap_complete::env::Zsh,
        Shell::Fish => &clap_complete::env::Fish,
        Shell::Elvish => &clap_complete::env::Elvish,
        Shell::Powershell => &clap_complete::env::Powershell,
    };
    registrar.write_registration(COMPLETE_VAR, "sidetop", "sidetop", &completer, out)
}

/// Completes a sidecar name from the config named on the command line being completed.
pub fn sidecar_names() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let prefix = current.to_string_lossy();
        let Ok(config) = Config::load(&config_being_completed(std::env::args_os().skip(1))) else {
            return Vec::new();
        };
        config
            .sidecars
            .iter()
            .filter(|s| s.name.starts_with(prefix.as_ref()))
            .map(|s| CompletionCandidate::new(&s.name).help(Some(s.command_line().into())))
            .collect()
    })
}

/// The `--config` given on the line being completed (`--config F` or `--config=F`), else
/// the default path.
fn config_being_completed(args: impl Iterator<Item = std::ffi::OsString>) -> PathBuf {
    let mut args = args.peekable();
    let mut found = None;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            found = args.peek().map(PathBuf::from);
        } else if let Some(value) = text.strip_prefix("--config=") {
            found = Some(PathBuf::from(value));
        }
    }
    found.unwrap_or_else(|| Path::new(DEFAULT_CONFIG_PATH).to_path_buf())
}

/// `sidetop man`: the page of `sidetop` itself, or with `dir` one page per command
/// (`sidetop.1`, `sidetop-ctl.1`, `sidetop-ctl-status.1`, ...) written there.
pub fn write_manual(dir: Option<&Path>, out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(command, dir)
        }
        None => clap_mangen::Man::new(command).render(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_on_the_line_is_the_one_completed_from() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>().into_iter();
        assert_eq!(config_being_completed(args(&["--", "sidetop", "ctl"])), Path::new(DEFAULT_CONFIG_PATH));
        assert_eq!(
            config_being_completed(args(&["sidetop", "--config", "a.toml", "request"])),
            Path::new("a.toml")
        );
        assert_eq!(config_being_completed(args(&["sidetop", "--config=b.toml", "ctl"])), Path::new("b.toml"));
    }
}
