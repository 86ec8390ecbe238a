//! Renaming what an engine says for the fleet's dashboard: its sidecars as
//! `ENGINE/NAME` in replies, statuses, exchanges and snapshots, and two engines'
//! snapshots merged into one.

use super::qualified;
use crate::api::wire::{SidecarInfo, Snapshot};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn rename_reply(engine: &str, reply: &mut Value) {
    if let Some(list) = reply["sidecars"].as_array_mut() {
        for s in list {
            if let Some(name) = s["name"].as_str() {
                s["name"] = json!(qualified(engine, name));
            }
        }
    }
    if let Some(name) = reply["exchange"]["sidecar"].as_str() {
        reply["exchange"]["sidecar"] = json!(qualified(engine, name));
    }
}

pub(super) fn named_info(engine: &str, mut info: SidecarInfo) -> SidecarInfo {
    info.name = qualified(engine, &info.name);
    info
}

pub(super) fn renamed_exchange(
    engine: &str,
    exchange: &crate::ipc::protocol::Exchange,
) -> Arc<crate::ipc::protocol::Exchange> {
    let mut exchange = exchange.clone();
    exchange.sidecar = Arc::from(qualified(engine, &exchange.sidecar));
    Arc::new(exchange)
}

pub(super) fn renamed_snapshot(engine: &str, mut s: Snapshot) -> Snapshot {
    for setup in &mut s.setups {
        setup.name = qualified(engine, &setup.name);
    }
    s.sidecars = s.sidecars.into_iter().map(|i| named_info(engine, i)).collect();
    for event in &mut s.events {
        event.sidecar = qualified(engine, &event.sidecar);
    }
    for traffic in &mut s.traffic {
        *traffic = traffic.iter().map(|x| renamed_exchange(engine, x)).collect();
    }
    s
}

/// Two engines' snapshots as one: their sidecars side by side, events in time order.
pub(super) fn merge(mut a: Snapshot, mut b: Snapshot) -> Snapshot {
    // The header's config: every engine's.
    a.config = format!("{}, {}", a.config, b.config);
    // One entry per sidecar, so a shorter list (an older engine's) is padded first.
    a.discovered.resize(a.setups.len(), None);
    b.discovered.resize(b.setups.len(), None);
    a.setups.extend(b.setups);
    a.sidecars.extend(b.sidecars);
    a.events.extend(b.events);
    a.events.sort_by_key(|e| e.at_ms);
    a.resources.extend(b.resources);
    a.latency.extend(b.latency);
    a.traffic.extend(b.traffic);
    a.discovered.extend(b.discovered);
    a
}
