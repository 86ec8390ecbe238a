//! Files rotated by size, as log files and recordings are: `name.1` is the newest rotated
//! file, `name.KEEP` the oldest; created 0600 (they can hold secrets).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// `path.N`.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut p = path.to_path_buf().into_os_string();
    p.push(format!(".{n}"));
    p.into()
}

/// Moves `path` to `path.1` (and each `path.N` up one, dropping the oldest beyond `keep`),
/// or removes it when no rotated file is kept; the caller opens a fresh `path`.
pub fn shift(path: &Path, keep: usize) -> io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(path, keep));
    for n in (1..keep).rev() {
        let from = numbered(path, n);
        if from.exists() {
            std::fs::rename(&from, numbered(path, n + 1))?;
        }
    }
    std::fs::rename(path, numbered(path, 1))
}
