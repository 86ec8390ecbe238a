//! A sidecar's status as its runner and its health checker write it. Every change also
//! moves one counter that all the supervisor's sidecars share, so whoever follows every
//! sidecar (an API session's status push) waits on that one channel instead of one per
//! sidecar: at 1,000 sidecars that is one wake per change, not a thousand futures built
//! and polled each time.

use super::Status;
use std::sync::Arc;
use tokio::sync::watch;

pub struct StatusTx {
    own: watch::Sender<Status>,
    any: Arc<watch::Sender<u64>>,
}

impl StatusTx {
    pub fn new(own: watch::Sender<Status>, any: Arc<watch::Sender<u64>>) -> StatusTx {
        StatusTx { own, any }
    }

    pub fn send_modify(&self, f: impl FnOnce(&mut Status)) {
        self.own.send_modify(f);
        self.moved();
    }

    /// `f` says whether it changed anything; nobody is woken when it did not.
    pub fn send_if_modified(&self, f: impl FnOnce(&mut Status) -> bool) -> bool {
        let changed = self.own.send_if_modified(f);
        if changed {
            self.moved();
        }
        changed
    }

    pub fn borrow(&self) -> watch::Ref<'_, Status> {
        self.own.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.own.subscribe()
    }

    fn moved(&self) {
        self.any.send_modify(|n| *n = n.wrapping_add(1));
    }
}
