//! `P`: the log view in `$PAGER` (default `less -R`), the dashboard suspended meanwhile and
//! restored after, the way git and k9s do it. The text goes through a private temporary
//! file (0600), removed after.

use super::input::Input;
use super::terminal::{self, Term};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;

pub async fn page(text: String, input: &Input, term: &mut Term) -> io::Result<()> {
    let path = std::env::temp_dir().join(format!(
        "sidetop-page-{}-{}.txt",
        std::process::id(),
        chrono::Local::now().format("%H%M%S%3f")
    ));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(text.as_bytes())?;
    drop(file);
    let pager =
        std::env::var("PAGER").ok().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| "less -R".into());
    input.pause();
    terminal::restore();
    let shown = path.clone();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{pager} \"$1\""))
            .arg("sh")
            .arg(&shown)
            .status()
    })
    .await
    .map_err(io::Error::other)?;
    let _ = std::fs::remove_file(&path);
    terminal::reenter(term)?;
    input.resume();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(io::Error::other(format!("the pager ended with {s}"))),
        Err(e) => Err(io::Error::new(e.kind(), format!("cannot run the pager: {e}"))),
    }
}
