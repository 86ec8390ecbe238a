//! Whether the sidecar behind the proxy can take a request now, fed by the supervisor
//! (which knows its state) so the proxy never reaches into the engine.

use std::time::Duration;
use tokio::sync::watch;

/// The sidecar as the proxy needs to know it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstate {
    /// Running and ready: forward.
    pub up: bool,
    /// Not up, but a start is on its way (starting, not ready yet, backing off): a request
    /// waits for it, up to the bound.
    pub coming: bool,
    /// Why it is not up, in words for the application: its state, its last exit, its last
    /// stderr line.
    pub why_down: String,
}

/// The proxy's side: waits for the sidecar to be up.
#[derive(Clone)]
pub struct Gate(pub watch::Receiver<Upstate>);

impl Gate {
    /// `Ok` once the sidecar is up, or the reason it is not, after at most `bound` (at
    /// once when no start is coming).
    pub async fn wait_up(&self, bound: Duration) -> Result<(), String> {
        let mut rx = self.0.clone();
        {
            let now = rx.borrow();
            if now.up {
                return Ok(());
            }
            if !now.coming {
                return Err(now.why_down.clone());
            }
        }
        let waited = tokio::time::timeout(bound, rx.wait_for(|u| u.up || !u.coming))
            .await
            .map(|now| now.map(|now| (now.up, now.why_down.clone())));
        match waited {
            Ok(Ok((true, _))) => Ok(()),
            Ok(Ok((false, why))) => Err(why),
            Ok(Err(_)) => Err("sidetop is shutting down".into()),
            Err(_) => Err(format!(
                "not ready after {}: {}",
                crate::text::duration::short_duration(bound),
                self.0.borrow().why_down
            )),
        }
    }

    pub fn is_up(&self) -> bool {
        self.0.borrow().up
    }
}
