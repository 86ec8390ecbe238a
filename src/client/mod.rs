//! The client side of the control socket: [`link`] (the API over a byte stream, as the
//! dashboard uses it attached), reaching engines ([`over_socket`], over [`ssh`] one
//! engine of a host, over [`ssh_all`] every engine of a host) and [`Client`], `ctl`'s
//! view of a link.

pub mod link;
pub mod ssh;
pub mod ssh_all;

use crate::api::codes;
use serde_json::Value;
use std::io;
use std::path::Path;
use tokio::net::UnixStream;

#[derive(Debug)]
pub enum ClientError {
    /// Nobody serves that socket (no file, or a stale one).
    NoAgent(String),
    /// The agent answered with a JSON-RPC error.
    Rpc {
        code: i64,
        message: String,
    },
    Io(io::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NoAgent(why) => write!(f, "{why}"),
            ClientError::Rpc { message, .. } => write!(f, "{message}"),
            ClientError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// `ctl`'s client: a [`link::Link`] over the socket, with errors as `ctl` reports them and
/// notifications as (method, params).
pub struct Client {
    link: crate::api::link::Link,
    /// What the agent said in `hello`.
    pub hello: Value,
}

/// The engine on `socket`, hello said.
pub async fn over_socket(socket: &Path, read_only: bool) -> io::Result<crate::api::link::Link> {
    let stream = UnixStream::connect(socket).await?;
    let (read, write) = stream.into_split();
    link::connect(read, write, read_only).await
}

impl Client {
    /// Connects and says hello.
    pub async fn connect(path: &Path, read_only: bool) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NoAgent(format!("no sidetop agent on {} ({e})", path.display()))
            }
            _ => ClientError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        })?;
        let (read, write) = stream.into_split();
        let link = link::connect(read, write, read_only).await.map_err(ClientError::Io)?;
        Ok(Client::from_link(link))
    }

    /// A link made some other way (over ssh).
    pub fn from_link(link: crate::api::link::Link) -> Client {
        Client { hello: link.hello.clone(), link }
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.link.caller.call(method, params).await.map_err(|(code, message)| match code {
            codes::GONE => ClientError::NoAgent("the agent closed the connection".into()),
            code => ClientError::Rpc { code, message },
        })
    }

    /// The next notification (method and params); None when the agent is gone.
    pub async fn notification(&mut self) -> Option<(String, Value)> {
        let notice = self.link.notices.recv().await?;
        let mut value = serde_json::to_value(notice).ok()?;
        let method = value.get("method")?.as_str()?.to_string();
        Some((method, value.get_mut("params").map(Value::take).unwrap_or(Value::Null)))
    }
}

/// The pid of the process at the other end of a connected unix socket.
pub fn peer_pid(stream: &std::os::unix::net::UnixStream) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt with a valid out-pointer and its size.
    let ok = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    } == 0;
    ok.then_some(cred.pid)
}
