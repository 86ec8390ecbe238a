//! A `Procfile` (foreman, honcho, Heroku): `name: command` lines run through the shell in
//! the Procfile's folder, with the `.env` beside it and `PORT` set per process type
//! (5000, 5100, ...: foreman's and honcho's base port plus 100 per line).

use super::draft::{Draft, Sidecar};
use super::{envfile, error_at, folder_of};
use crate::config::ConfigError;
use std::path::Path;

const BASE_PORT: u32 = 5000;

pub(super) fn import(path: &Path, text: &str) -> Result<Draft, ConfigError> {
    let mut draft = Draft::new(path);
    let env_path = folder_of(path).join(".env");
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(env_text) = envfile::read(&env_path) {
        let (vars, bad) = envfile::parse(&env_text);
        for (line, raw) in bad {
            draft.skip(&env_path, line, &format!("{raw:?} in .env is not NAME=value"));
        }
        for v in vars {
            env.retain(|(k, _)| *k != v.name);
            env.push((v.name, v.value));
        }
        draft.note(&format!("Each sidecar's env has the variables of {}.", env_path.display()));
    }
    let base_port = match env.iter().find(|(k, _)| k == "PORT") {
        Some((_, v)) => v.trim().parse::<u32>().unwrap_or(BASE_PORT),
        None => BASE_PORT,
    };

    let mut first_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((name, command)) = split(line) else {
            draft.skip(path, number, &format!("{line:?} is not `name: command` (foreman ignores it too)"));
            continue;
        };
        if let Some(other) = draft.sidecars.iter().find(|s| s.name == name) {
            return Err(error_at(
                path,
                text,
                number,
                1,
                name,
                format!("process type {name:?} is already defined on line {}", other.line),
            ));
        }
        if first_line == 0 {
            first_line = number;
        }
        let index = draft.sidecars.len() as u32;
        let mut s = Sidecar::new(name, path, number);
        s.set("command", command);
        s.set("shell", true);
        s.set("restart", "never");
        for (k, v) in &env {
            s.set_env(k, v);
        }
        let port = base_port + 100 * index;
        s.set_env("PORT", &port.to_string());
        s.env_note(&format!("PORT as foreman and honcho set it: {base_port} + 100 per process type."));
        draft.sidecars.push(s);
    }
    if draft.sidecars.is_empty() {
        return Err(ConfigError::whole_file(path, "no `name: command` lines: nothing to supervise"));
    }
    draft.approx(
        path,
        first_line,
        "foreman and honcho stop every process when one exits; sidetop leaves the others \
         running (restart = \"never\")",
    );
    Ok(draft)
}

/// foreman's `^([A-Za-z0-9_-]+):\s*(.+)$`.
fn split(line: &str) -> Option<(&str, &str)> {
    let (name, command) = line.split_once(':')?;
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let command = command.trim();
    (valid && !command.is_empty()).then_some((name, command))
}
