//! The client side of the control socket, used by `sidetop ctl` (and by tests): connect,
//! say hello, call methods, read notifications.

pub mod link;

use crate::api::PROTOCOL_VERSION;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

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

pub struct Client {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Notifications that arrived while waiting for a reply.
    notifications: VecDeque<(String, Value)>,
    /// What the agent said in `hello`.
    pub hello: Value,
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
        let (read, writer) = stream.into_split();
        let mut client = Client {
            lines: BufReader::new(read).lines(),
            writer,
            next_id: 1,
            notifications: VecDeque::new(),
            hello: Value::Null,
        };
        client.hello =
            client.call("hello", json!({"version": PROTOCOL_VERSION, "read_only": read_only})).await?;
        Ok(client)
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.writer.write_all(format!("{request}\n").as_bytes()).await.map_err(ClientError::Io)?;
        loop {
            let message = self.read().await?;
            if let Some(method) = message.get("method").and_then(Value::as_str) {
                self.notifications.push_back((method.to_string(), message["params"].clone()));
                continue;
            }
            if let Some(error) = message.get("error") {
                return Err(ClientError::Rpc {
                    code: error["code"].as_i64().unwrap_or(0),
                    message: error["message"].as_str().unwrap_or("error").to_string(),
                });
            }
            if message.get("id") == Some(&json!(id)) {
                return Ok(message["result"].clone());
            }
        }
    }

    /// The next notification (method and params); None when the agent is gone.
    pub async fn notification(&mut self) -> Option<(String, Value)> {
        if let Some(n) = self.notifications.pop_front() {
            return Some(n);
        }
        loop {
            let message = self.read().await.ok()?;
            if let Some(method) = message.get("method").and_then(Value::as_str) {
                return Some((method.to_string(), message["params"].clone()));
            }
        }
    }

    async fn read(&mut self) -> Result<Value, ClientError> {
        let line = self.lines.next_line().await.map_err(ClientError::Io)?;
        let line = line.ok_or_else(|| ClientError::NoAgent("the agent closed the connection".into()))?;
        serde_json::from_str(&line)
            .map_err(|e| ClientError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
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
