//! While the connection to a host is down and being tried again, its engines' sidecars
//! stay on screen saying so (`retrying`, with which try, when the next is and why the
//! last failed); an engine that is not there once the host answers again is lost.

use super::Fleet;
use crate::api::wire::{Notice, SidecarInfo};

impl Fleet {
    /// Marks the sidecars of the lost engines `engines` with `state` and `text`.
    pub async fn mark_lost(&self, engines: &[String], state: &str, text: &str) {
        let marked: Vec<SidecarInfo> = {
            let mut members = self.members();
            let theirs = members.iter_mut().filter(|m| !m.live && engines.contains(&m.name));
            theirs
                .flat_map(|m| {
                    for info in &mut m.status {
                        info.state = state.into();
                        info.error = Some(text.to_string());
                    }
                    m.status.clone()
                })
                .collect()
        };
        if !marked.is_empty() {
            let _ = self.0.notices.send(Notice::Status { sidecars: marked, partial: true }).await;
        }
    }
}
