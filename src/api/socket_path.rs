//! Where the control socket lives: `$XDG_RUNTIME_DIR/sidetop/NAME.sock`, else
//! `/tmp/sidetop-UID/NAME.sock`, in a directory of mode 0700 owned by the user. NAME
//! comes from the config file (its name and a hash of its full path), so one agent per
//! config is found without flags.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The folder for this user's sockets (not created).
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("sidetop"),
        // SAFETY: getuid cannot fail.
        None => PathBuf::from(format!("/tmp/sidetop-{}", unsafe { libc::getuid() })),
    }
}

/// `sidetop-1a2b3c4d` for `/srv/app/sidetop.toml`: readable, and distinct per path.
pub fn socket_name(config: &Path) -> String {
    let full = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let stem = full.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sidetop".into());
    let stem: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut hash: u32 = 0x811c9dc5;
    for b in full.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u32::from(*b)).wrapping_mul(0x01000193);
    }
    format!("{stem}-{hash:08x}")
}

pub fn default_socket(config: &Path) -> PathBuf {
    socket_dir().join(format!("{}.sock", socket_name(config)))
}

/// An agent's socket when none is given: in `$RUNTIME_DIRECTORY` when systemd made one
/// for the unit (`RuntimeDirectory=sidetop`: `/run/sidetop`, or the user's), else the
/// default.
pub fn agent_socket(config: &Path) -> PathBuf {
    let given = std::env::var("RUNTIME_DIRECTORY").ok();
    // Several folders are colon-separated; the first is the unit's own.
    match given.as_deref().and_then(|dirs| dirs.split(':').next()).filter(|d| !d.is_empty()) {
        Some(dir) => Path::new(dir).join(format!("{}.sock", socket_name(config))),
        None => default_socket(config),
    }
}

/// Creates the socket's folder with mode 0700, or checks an existing one: it must be a
/// directory owned by this user and closed to others, or nobody should trust the socket.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: getuid cannot fail.
    let me = unsafe { libc::getuid() };
    if !meta.is_dir() || meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory owned by uid {me}", dir.display()),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Every engine's socket in this user's socket folder (`ctl list`, `--all`), sorted, with
/// the name it is listed under (`sidetop-1a2b3c4d`, `wrap-echo-4242`).
pub fn engine_sockets() -> Vec<(String, PathBuf)> {
    let mut sockets: Vec<PathBuf> = std::fs::read_dir(socket_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sock"))
        .collect();
    sockets.sort();
    sockets.into_iter().map(|p| (engine_name(&p), p)).collect()
}

/// An engine's name, from its socket: the file's name without `.sock`.
pub fn engine_name(socket: &Path) -> String {
    socket.file_stem().map_or_else(|| socket.display().to_string(), |s| s.to_string_lossy().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_readable_and_distinct() {
        let a = socket_name(Path::new("/srv/a/sidetop.toml"));
        let b = socket_name(Path::new("/srv/b/sidetop.toml"));
        assert!(a.starts_with("sidetop-") && a.len() == "sidetop-".len() + 8, "{a}");
        assert_ne!(a, b);
        assert_eq!(a, socket_name(Path::new("/srv/a/sidetop.toml")));
    }
}
