//! sidetop's own requests on a wrapped child's pipes (a language server's polite
//! `shutdown`, a test request from the dashboard): their ids begin with `sidetop-`, and their replies are kept from the
//! application. While one is outstanding the child's output is passed on frame by frame
//! (a read that ends inside a frame waits for the rest of it); otherwise reads pass on as
//! they arrive.

use crate::ipc::inject::Claimed;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::oneshot;

pub(super) use crate::ipc::inject::OWN_ID_PREFIX as ID_PREFIX;

/// Who waits for a reply, and from which run (the run that was given the request).
type Waiter = (u64, oneshot::Sender<Claimed>);

#[derive(Default)]
pub(super) struct Claims {
    waiting: Mutex<HashMap<String, Waiter>>,
    outstanding: AtomicUsize,
}

impl Claims {
    /// The reply to the request with `id` (which begins with [`ID_PREFIX`]), given to run
    /// `run`, will be ours.
    pub fn expect(&self, id: &str, run: u64) -> oneshot::Receiver<Claimed> {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.insert(id.to_owned(), (run, tx)).is_none() {
            self.outstanding.fetch_add(1, Ordering::AcqRel);
        }
        rx
    }

    /// Run `run` ended and its output is all read: what it was asked will not be
    /// answered (the waiters learn it at once, not at their timeout).
    pub fn end_run(&self, run: u64) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let before = waiting.len();
        waiting.retain(|_, (asked, _)| *asked > run);
        self.outstanding.fetch_sub(before - waiting.len(), Ordering::AcqRel);
    }

    /// No reply came in time: a late one passes on to the application.
    pub fn forget(&self, id: &str) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.remove(id).is_some() {
            self.outstanding.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether a reply is awaited (the output must be read frame by frame).
    pub fn active(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) > 0
    }

    /// Takes the frame whose JSON body is `body` if it is the reply to one of ours.
    pub fn claim(&self, body: &[u8]) -> bool {
        if memchr::memmem::find(body, ID_PREFIX.as_bytes()).is_none() {
            return false;
        }
        let Ok(message) = serde_json::from_slice::<Value>(body) else { return false };
        if message.get("method").is_some() {
            return false;
        }
        let Some(id) = message.get("id").and_then(Value::as_str) else { return false };
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, tx)) = waiting.remove(id) else { return false };
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
        let _ = tx.send(Claimed {
            message,
            text: String::from_utf8_lossy(body).into_owned(),
            at: Instant::now(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_replies_to_our_own_ids_are_claimed() {
        let claims = Claims::default();
        let mut ours = claims.expect("sidetop-stop-1-0", 1);
        assert!(claims.active());
        assert!(!claims.claim(br#"{"jsonrpc":"2.0","id":"app-1","result":"sidetop-stop-1-0"}"#));
        assert!(!claims.claim(br#"{"jsonrpc":"2.0","id":"sidetop-stop-1-0","method":"x"}"#), "a request");
        assert!(!claims.claim(b"sidetop- not json"));
        assert!(claims.claim(br#"{"jsonrpc":"2.0","id":"sidetop-stop-1-0","result":null}"#));
        assert!(!claims.active());
        assert_eq!(ours.try_recv().unwrap().message["result"], Value::Null);
        assert!(!claims.claim(br#"{"jsonrpc":"2.0","id":"sidetop-stop-1-0","result":null}"#), "once");
        let _late = claims.expect("sidetop-x", 1);
        claims.forget("sidetop-x");
        assert!(!claims.active());
        let mut old = claims.expect("sidetop-old", 1);
        let _new = claims.expect("sidetop-new", 2);
        claims.end_run(1);
        assert!(old.try_recv().is_err(), "the ended run's waiter is told");
        assert!(claims.active(), "the next run's is still waited for");
    }
}
