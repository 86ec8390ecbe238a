//! Reaching an engine on another host: `ssh -T HOST 'sidetop' 'ctl' ... 'bridge'`, its
//! stdio carrying the control protocol; ssh's own messages kept (never drawn over the
//! dashboard) to explain a failure.

use crate::api::link::Link;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncBufReadExt;
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;

/// How to reach the engines on another host (from `attach`'s or `ctl`'s options).
#[derive(Debug, Clone)]
pub struct Remote {
    /// The sidetop program there.
    pub sidetop: String,
    /// The engine's socket there, for one engine (default: its default socket).
    pub socket: Option<PathBuf>,
    /// Watch only: every action is refused.
    pub read_only: bool,
}

/// Lines of ssh's stderr kept to explain a failure.
const STDERR_KEPT: usize = 10;

pub type Kept = Arc<Mutex<Vec<String>>>;

/// Resolves when the ssh process has exited (its connection is gone).
pub type Exited = oneshot::Receiver<()>;

/// ssh running `REMOTE_SIDETOP ctl REMOTE...` on `host`: its stdin and stdout, and the
/// last lines of its stderr. The child is reaped when it exits; it lives as long as
/// its pipes are held.
pub fn spawn(
    host: &str,
    remote: &Remote,
    words_there: &[&str],
) -> io::Result<(ChildStdin, ChildStdout, Kept, Exited)> {
    let mut words = vec![remote.sidetop.as_str(), "ctl"];
    words.extend(words_there);
    // ssh joins its arguments into one command line for the remote shell: quote each.
    let command: Vec<String> = words.iter().map(|a| shell_quote(a)).collect();
    let mut child = tokio::process::Command::new("ssh")
        .arg("-T")
        // A host starting with `-` must not be read as an option.
        .arg("--")
        .arg(host)
        .args(&command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(io::Error::other("ssh without pipes"));
    };
    let kept: Kept = Arc::default();
    let lines = kept.clone();
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
            if lines.len() == STDERR_KEPT {
                lines.remove(0);
            }
            lines.push(line);
        }
    });
    let (exited_tx, exited) = oneshot::channel();
    tokio::spawn(async move {
        let _ = child.wait().await;
        let _ = exited_tx.send(());
    });
    Ok((stdin, stdout, kept, exited))
}

/// One engine on `host` (its default one, or `--remote-socket`) through `ctl bridge`.
pub async fn over_ssh(host: &str, remote: &Remote) -> io::Result<(Link, Kept, Exited)> {
    let socket = remote.socket.as_ref().map(|s| s.display().to_string());
    let mut words = Vec::new();
    if let Some(socket) = &socket {
        words.extend(["--socket", socket.as_str()]);
    }
    words.push("bridge");
    let (stdin, stdout, kept, exited) = spawn(host, remote, &words)?;
    match crate::client::link::connect(stdout, stdin, remote.read_only).await {
        Ok(link) => Ok((link, kept, exited)),
        Err(e) => Err(explained(e, &kept).await),
    }
}

/// `e`, with what ssh said on stderr (given a moment to say it).
pub async fn explained(e: io::Error, kept: &Kept) -> io::Error {
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let said = kept.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    io::Error::new(e.kind(), if said.is_empty() { e.to_string() } else { format!("{e}\n{said}") })
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}
