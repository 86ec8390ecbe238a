//! A front end's end of the API, whatever carries it: a [`Caller`] for commands and a
//! queue of [`Notice`]s. The dashboard is written against this alone, so the same code
//! runs in the engine's process ([`super::local`]) and attached over a socket or ssh
//! (`crate::client::link`).

use super::wire::Notice;
use super::{RpcResult, codes};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::{mpsc, oneshot};

pub struct Call {
    pub method: String,
    pub params: Value,
    pub reply: oneshot::Sender<RpcResult>,
}

#[derive(Clone)]
pub struct Caller(mpsc::UnboundedSender<Call>);

impl Caller {
    pub fn new() -> (Caller, mpsc::UnboundedReceiver<Call>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Caller(tx), rx)
    }

    /// Sends the call now (so calls reach the engine in the order they were made, even
    /// when their replies are awaited in different tasks) and returns its reply to await.
    pub fn call(
        &self,
        method: &str,
        params: Value,
    ) -> impl std::future::Future<Output = RpcResult> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let gone = || (codes::GONE, "the connection to sidetop is gone".to_string());
        let sent = self.0.send(Call { method: method.to_string(), params, reply }).is_ok();
        async move {
            if !sent {
                return Err(gone());
            }
            answer.await.unwrap_or_else(|_| Err(gone()))
        }
    }
}

pub struct Link {
    pub caller: Caller,
    /// Closed when the engine (or the connection to it) is gone.
    pub notices: mpsc::Receiver<Notice>,
    /// What the engine said in `hello`: version, pid, config, read_only.
    pub hello: Value,
    /// Bytes received so far (0 in-process: nothing is serialized).
    pub received: Arc<AtomicU64>,
}
