//! Process files of other tools (Procfile, mprocs, process-compose, supervisord, pm2)
//! turned into sidetop TOML. Each setting maps exactly, maps approximately (a
//! `# approximated: ...` comment above the line and a [`Warning`]), or is left out (a
//! `# not imported: ...` comment and a [`Warning`]); nothing is dropped silently.
//!
//! Relative paths resolve against the foreign file's folder, which is where the other
//! tool runs its processes when started from there, and where sidetop resolves them when
//! the generated TOML is parsed with the foreign file's path.

mod compose;
mod compose_policy;
mod compose_probe;
mod draft;
mod envfile;
mod ini;
mod mprocs;
mod pm2;
mod pm2_app;
mod procfile;
mod supervisord;
mod supervisord_expand;
mod supervisord_settings;
mod words;
mod yaml;

use super::ConfigError;
use std::fmt;
use std::path::{Path, PathBuf};

/// A setting that was approximated or left out, at its place in the foreign file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    /// 1-based; 0 when no line applies.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Procfile,
    Mprocs,
    ProcessCompose,
    Supervisord,
    Pm2,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Procfile => "Procfile",
            Format::Mprocs => "mprocs",
            Format::ProcessCompose => "process-compose",
            Format::Supervisord => "supervisord",
            Format::Pm2 => "pm2",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The generated config and what did not map exactly.
#[derive(Debug, Clone)]
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<Warning>,
}

/// Which foreign format a file is in, by its name, else (for `.conf`, `.ini`, `.json`,
/// `.yaml`, `.yml`, `.js`, `.cjs`) by its content. `None`: a sidetop TOML file.
pub fn detect(path: &Path, text: &str) -> Option<Format> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".toml") {
        return None;
    }
    if name == "Procfile" || name.starts_with("Procfile.") {
        return Some(Format::Procfile);
    }
    match lower.as_str() {
        "mprocs.yaml" | "mprocs.yml" => return Some(Format::Mprocs),
        "process-compose.yaml"
        | "process-compose.yml"
        | "process-compose.override.yaml"
        | "process-compose.override.yml" => return Some(Format::ProcessCompose),
        "supervisord.conf" => return Some(Format::Supervisord),
        "ecosystem.config.js" | "ecosystem.config.cjs" | "ecosystem.config.json" | "ecosystem.json" => {
            return Some(Format::Pm2);
        }
        _ => {}
    }
    let top_level = |key: &str| text.lines().any(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')));
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "conf" | "ini" => {
            text.lines().any(|l| l.trim_start().starts_with("[program:")).then_some(Format::Supervisord)
        }
        "yaml" | "yml" if top_level("processes") => Some(Format::ProcessCompose),
        "yaml" | "yml" if top_level("procs") => Some(Format::Mprocs),
        "json" => {
            let value: serde_json::Value = serde_json::from_str(text).ok()?;
            value.get("apps").is_some_and(|a| a.is_array() || a.is_object()).then_some(Format::Pm2)
        }
        "js" | "cjs" if lower.ends_with(".config.js") || lower.ends_with(".config.cjs") => {
            (text.contains("apps") && text.contains("script")).then_some(Format::Pm2)
        }
        _ => None,
    }
}

/// Reads a foreign file (and what it pulls in: includes, `.env` and env files) and
/// converts it.
pub fn import(path: &Path) -> Result<Imported, ConfigError> {
    let text = read(path)?;
    match detect(path, &text) {
        Some(format) => convert(path, &text, format),
        None => Err(ConfigError::whole_file(
            path,
            "not a file sidetop can import: expected a Procfile, mprocs.yaml, process-compose.yaml, \
             supervisord.conf (or a .conf with [program:x]) or a pm2 ecosystem file",
        )),
    }
}

/// Converts foreign text already read (`path` is used for messages, includes and
/// relative paths).
pub fn convert(path: &Path, text: &str, format: Format) -> Result<Imported, ConfigError> {
    let draft = match format {
        Format::Procfile => procfile::import(path, text)?,
        Format::Mprocs => mprocs::import(path, text)?,
        Format::ProcessCompose => compose::import(path, text)?,
        Format::Supervisord => supervisord::import(path, text)?,
        Format::Pm2 => pm2::import(path, text)?,
    };
    let (toml, warnings) = draft.finish(format)?;
    Ok(Imported { toml, warnings })
}

pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(path, format!("cannot read config: {e}")))
}

/// An error at a 1-based line and column of a foreign file.
pub(super) fn error_at(
    file: &Path,
    text: &str,
    line: usize,
    column: usize,
    key: impl Into<String>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line,
        column: column.max(1),
        key: key.into(),
        message: message.into(),
        source_line: text.lines().nth(line.saturating_sub(1)).map(str::to_string),
    }
}

/// The folder a relative path in `file` is relative to.
pub(super) fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests;
