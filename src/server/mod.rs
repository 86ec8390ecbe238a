//! The control socket: the engine API served over a unix socket to `ctl`, scripts and
//! (soon) attached dashboards. JSON-RPC 2.0, one message per line; a `hello` with the
//! protocol version comes first. The socket is 0600 in a 0700 directory, and every
//! connection's peer uid is checked (`SO_PEERCRED`): only the agent's own user (or root)
//! is served. A socket left by a killed agent is found stale (nobody answers) and
//! replaced; a live one is left alone and named in the error.

mod follow;
mod session;

use crate::api::socket_path::prepare_dir;
use crate::supervisor::Supervisor;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::sync::Notify;

pub struct ServerOptions {
    /// Every client may watch, none may act.
    pub read_only: bool,
    /// The config the engine runs, for `hello`.
    pub config: PathBuf,
}

/// What sessions share.
struct Shared {
    supervisor: Arc<Supervisor>,
    options: ServerOptions,
    /// Raised by a client's `shutdown`: the front end that owns the engine stops it.
    shutdown: Arc<Notify>,
}

/// Serves until dropped; then the socket file is removed.
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// Notified when a client asks the engine to shut down.
    pub shutdown: Arc<Notify>,
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
pub fn serve(supervisor: Arc<Supervisor>, path: &Path, options: ServerOptions) -> io::Result<Server> {
    let listener = bind(path)?;
    let shutdown = Arc::new(Notify::new());
    let shared = Arc::new(Shared { supervisor, options, shutdown: shutdown.clone() });
    let task = tokio::spawn(accept_loop(listener, shared));
    Ok(Server { path: path.to_path_buf(), task, shutdown })
}

fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        prepare_dir(dir)?;
    }
    if path.exists() {
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
            // Nobody listens: a socket left behind by an agent that was killed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!("replacing the stale socket {}", path.display());
                std::fs::remove_file(path)?;
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
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
        sessions.spawn(session::run(stream, shared.clone()));
    }
}
