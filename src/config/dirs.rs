//! `[[sidecar_dir]]`: the seeds' "place the binary in `plugins/`". Every executable file
//! in the folder is a sidecar named after the file, with the folder's settings; a
//! `NAME.toml` beside it overrides settings for that one. The folder is read each time
//! the config is loaded (so a reload picks up what changed), and each sidecar carries its
//! executable's identity, so a replaced file restarts it.

use super::error::ConfigError;
use super::raw::{RawSidecar, overlay};
use super::values::CommandSpec;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One plugin found in a folder: its entry (as if written as a `[[sidecar]]`), and the
/// identity of its executable (device, inode, size, modification time).
pub struct Plugin {
    pub entry: Spanned<RawSidecar>,
    pub stamp: String,
}

/// The folder of a `[[sidecar_dir]]`, resolved against the config file's folder.
pub fn folder(config_path: &Path, dir: &RawSidecar) -> Option<PathBuf> {
    let path = Path::new(dir.path.as_ref()?.get_ref());
    let base = config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(if path.is_absolute() { path.to_path_buf() } else { base.join(path) })
}

/// Every executable in `dir`'s folder, in name order, as sidecar entries.
pub fn plugins(config_path: &Path, dir: &Spanned<RawSidecar>) -> Result<Vec<Plugin>, ConfigError> {
    let folder = folder(config_path, dir.get_ref()).expect("checked by the caller");
    let listing = std::fs::read_dir(&folder).map_err(|e| {
        ConfigError::whole_file(config_path, format!("sidecar_dir {}: {e}", folder.display()))
    })?;
    let mut files: Vec<(String, PathBuf, std::fs::Metadata)> = listing
        .flatten()
        .filter_map(|entry| {
            let meta = std::fs::metadata(entry.path()).ok()?;
            let name = entry.file_name().into_string().ok()?;
            let executable = meta.is_file() && meta.permissions().mode() & 0o111 != 0;
            (executable && !name.ends_with(".toml") && !name.starts_with('.'))
                .then(|| (name, entry.path(), meta))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (name, path, meta) in files {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            tracing::warn!("{}: not a sidecar name (A-Z a-z 0-9 - _ .): skipped", path.display());
            continue;
        }
        let overrides_path = folder.join(format!("{name}.toml"));
        let mut raw = match std::fs::read_to_string(&overrides_path) {
            Ok(text) => overlay(super::validate::deserialize_sidecar(&overrides_path, &text)?, dir.get_ref()),
            Err(_) => dir.get_ref().clone(),
        };
        raw.path = None;
        raw.name = Some(Spanned::new(dir.span(), name));
        if raw.command.is_none() {
            raw.command = Some(Spanned::new(dir.span(), CommandSpec::Argv(vec![path.display().to_string()])));
        }
        if raw.cwd.is_none() {
            raw.cwd = Some(folder.display().to_string());
        }
        let stamp = format!(
            "{}:{}:{}:{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000
        );
        out.push(Plugin { entry: Spanned::new(dir.span(), raw), stamp });
    }
    Ok(out)
}
