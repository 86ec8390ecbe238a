//! The one sidecar a wrapper runs: from the command line alone, or from the
//! `[[sidecar]]` of the same name in `--config` (templates, health, scrollback, log file),
//! with the command, cwd and environment of the application's call.

use super::args::{WrapArgs, WrapFraming, WrapRestart};
use crate::config::{Config, RestartPolicy};
use std::path::Path;

pub fn build(args: &WrapArgs, config_file: Option<&Path>) -> Result<Config, String> {
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.command[0]));
    let mut config = match config_file {
        Some(path) => {
            let mut config = Config::load(path).map_err(|e| e.render())?;
            config.sidecars.retain(|s| s.name == name);
            if config.sidecars.is_empty() {
                return Err(format!(
                    "{}: no [[sidecar]] named {name:?} (name it with --name)",
                    path.display()
                ));
            }
            config.sidecar_dirs.clear();
            if args.protocol.is_some() || args.framing.is_some() || config.sidecars[0].ipc.is_none() {
                config.sidecars[0].ipc = from_flags(&name, args)?.sidecars.remove(0).ipc;
            }
            config
        }
        None => from_flags(&name, args)?,
    };
    let sidecar = &mut config.sidecars[0];
    sidecar.argv = args.command.clone();
    sidecar.shell = false;
    // The child runs where, and with what, the application started it.
    sidecar.cwd = std::env::current_dir().map_err(|e| format!("the current folder: {e}"))?;
    sidecar.inherit_env = true;
    sidecar.autostart = true;
    sidecar.depends_on.clear();
    sidecar.restart = match args.restart {
        WrapRestart::Never => RestartPolicy::Never,
        WrapRestart::OnFailure => RestartPolicy::OnFailure,
    };
    sidecar.wrapped_by = Some(application());
    Ok(config)
}

/// The settings the flags give, through the same validation as a config file.
fn from_flags(name: &str, args: &WrapArgs) -> Result<Config, String> {
    let protocol = args.protocol.map_or("jsonrpc", |p| p.config_name());
    let mut toml = format!(
        "[[sidecar]]\nname = {}\ncommand = [\"true\"]\n[sidecar.ipc]\nprotocol = \"{protocol}\"\n",
        toml_string(name)
    );
    if let Some(framing) = args.framing {
        let framing = match framing {
            WrapFraming::Newline => "newline",
            WrapFraming::ContentLength => "content-length",
        };
        toml.push_str(&format!("framing = \"{framing}\"\n"));
    }
    Config::parse(Path::new("sidetop wrap"), &toml).map_err(|e| e.render())
}

/// `pricing` for `node /srv/pricing.js`? The command's file name: `node`. Kept to the
/// characters a sidecar name and a socket file name allow.
fn default_name(command: &str) -> String {
    let base = Path::new(command).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    if name.is_empty() { "wrapped".into() } else { name }
}

/// The process that ran the wrapper: `pid 812: nvim app.py`.
fn application() -> String {
    // SAFETY: getppid cannot fail.
    let parent = unsafe { libc::getppid() };
    let cmdline = std::fs::read(format!("/proc/{parent}/cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    format!("pid {parent}: {}", words.join(" "))
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"wrapped\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        wrap: WrapArgs,
    }

    fn args(line: &[&str]) -> WrapArgs {
        Cli::parse_from(std::iter::once("wrap").chain(line.iter().copied())).wrap
    }

    #[test]
    fn flags_alone_make_a_wrapped_sidecar_named_after_the_command() {
        let config = build(&args(&["--protocol", "lsp", "--", "/usr/bin/pylsp", "--verbose"]), None).unwrap();
        let s = &config.sidecars[0];
        assert_eq!(s.name, "pylsp");
        assert_eq!(s.argv, ["/usr/bin/pylsp", "--verbose"]);
        assert!(s.wrapped_by.as_ref().is_some_and(|by| by.starts_with("pid ")), "{:?}", s.wrapped_by);
        assert_eq!(s.restart, RestartPolicy::Never);
        let ipc = s.ipc.as_ref().unwrap();
        assert_eq!(ipc.framing, crate::config::ipc::Framing::ContentLength, "lsp's own framing");
    }

    #[test]
    fn a_config_gives_the_rest_and_a_missing_name_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "[[sidecar]]\nname = \"echo\"\ncommand = [\"x\"]\ncwd = \"/\"\nrestart = \"always\"\n[sidecar.ipc]\nprotocol = \"mcp\"\n",
        )
        .unwrap();
        let config = build(
            &args(&["--name", "echo", "--restart", "on-failure", "--", "python3", "e.py"]),
            Some(&path),
        )
        .unwrap();
        let s = &config.sidecars[0];
        assert_eq!(s.argv, ["python3", "e.py"]);
        assert_eq!(s.restart, RestartPolicy::OnFailure);
        assert_eq!(s.cwd, std::env::current_dir().unwrap(), "the application's cwd, not the file's");
        assert_eq!(s.ipc.as_ref().unwrap().speaks, crate::config::ipc::Speaks::Mcp);
        let err = build(&args(&["--name", "nope", "--", "x"]), Some(&path)).unwrap_err();
        assert!(err.contains("no [[sidecar]] named \"nope\""), "{err}");
    }
}
