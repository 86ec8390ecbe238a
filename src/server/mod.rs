//! The control socket: the engine API served over a unix socket to `ctl`, scripts and
//! attached dashboards. JSON-RPC 2.0, one message per line; a `hello` with the
//! protocol version comes first. The socket is 0600 in a 0700 directory, and every
//! connection's peer uid is checked (`SO_PEERCRED`): only the agent's own user (or root)
//! is served. A socket left by a killed agent is found stale (nobody answers) and
//! replaced; a live one is left alone and named in the error.

mod session;

use crate::api::engine::Engine;
use crate::api::socket_path::prepare_dir;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;

pub struct ServerOptions {
    /// Every client may watch, none may act.
    pub read_only: bool,
}

/// Serves until dropped; then the socket file is removed.
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// Held while serving: whoever holds `PATH.lock` owns `PATH` (see `bind`).
    _claim: std::fs::File,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Server {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds `path` (replacing a stale socket) and serves the engine on it.
pub fn serve(engine: Arc<Engine>, path: &Path, options: ServerOptions) -> io::Result<Server> {
    let (listener, claim) = bind(path)?;
    let task = tokio::spawn(accept_loop(listener, engine, options.read_only));
    Ok(Server { path: path.to_path_buf(), task, _claim: claim })
}

/// Takes `PATH.lock` with an exclusive `flock` for as long as the returned file lives:
/// two agents starting at once cannot both find the socket stale, so neither removes the
/// other's fresh one. `None` when another process holds it. The lock file is left in
/// place (removing it would race with the next taker).
fn claim(path: &Path) -> io::Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", Path::new(&lock_path).display())))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(None) } else { Err(e) };
    }
    Ok(Some(file))
}

fn bind(path: &Path) -> io::Result<(UnixListener, std::fs::File)> {
    if let Some(dir) = path.parent() {
        prepare_dir(dir)?;
    }
    let claim = claim(path)?;
    if claim.is_none() || path.exists() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(stream) => {
                let pid = crate::client::peer_pid(&stream).map_or("unknown".into(), |p| p.to_string());
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another sidetop (pid {pid}) is serving {}; stop it first or use --socket",
                        path.display()
                    ),
                ));
            }
            // Another agent holds the claim but does not listen yet: it is starting.
            Err(_) if claim.is_none() => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another sidetop is starting on {}; stop it first or use --socket",
                        path.display()
                    ),
                ));
            }
            // Nobody listens: a socket left behind by an agent that was killed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!("replacing the stale socket {}", path.display());
                std::fs::remove_file(path)?;
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    let claim = claim.expect("checked above");
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, claim))
}

async fn accept_loop(listener: UnixListener, engine: Arc<Engine>, read_only: bool) {
    // SAFETY: getuid cannot fail.
    let me = unsafe { libc::getuid() };
    // Sessions end with the server (dropping the set aborts them).
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        while sessions.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("control socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|c| c.uid()).ok();
        if uid != Some(me) && uid != Some(0) {
            tracing::warn!("control socket: refused a client with uid {uid:?}");
            sessions.spawn(session::refuse(stream, uid));
            continue;
        }
        sessions.spawn(session::run(stream, engine.clone(), read_only));
    }
}
