//! What an engine says, on its way to the fleet's dashboard: renamed, its status kept
//! whole for the fleet, partial sample rounds made whole; when its link closes, its
//! sidecars marked lost with when.

use super::rename::{named_info, renamed_exchange};
use super::{Fleet, qualified, single};
use crate::api::link::Link;
use crate::api::wire::{Notice, SidecarInfo};
use std::sync::atomic::Ordering;

pub(super) async fn relay(engine: String, mut link: Link, fleet: Fleet) {
    let out = fleet.0.notices.clone();
    while let Some(notice) = link.notices.recv().await {
        let renamed = match notice {
            // The dashboard applies a status by name: only this engine's go through.
            Notice::Status { sidecars, partial } => {
                let renamed: Vec<SidecarInfo> =
                    sidecars.into_iter().map(|s| named_info(&engine, s)).collect();
                let mut members = fleet.members();
                if let Some(member) = members.iter_mut().find(|m| m.name == engine) {
                    if partial {
                        for info in &renamed {
                            match member.status.iter_mut().find(|s| s.name == info.name) {
                                Some(known) => *known = info.clone(),
                                None => member.status.push(info.clone()),
                            }
                        }
                    } else {
                        member.status = renamed.clone();
                    }
                }
                // Another engine's sidecars are not in this one's whole list.
                Notice::Status { sidecars: renamed, partial: partial || !fleet.0.bare }
            }
            Notice::Discovered { sidecar, discovery } => {
                Notice::Discovered { sidecar: qualified(&engine, &sidecar), discovery }
            }
            Notice::Event(mut event) => {
                event.sidecar = qualified(&engine, &event.sidecar);
                Notice::Event(event)
            }
            Notice::Log { sidecar, lines, gone } => {
                Notice::Log { sidecar: qualified(&engine, &sidecar), lines, gone }
            }
            Notice::Samples(mut samples) => {
                for (name, _) in &mut samples.sidecars {
                    *name = qualified(&engine, name);
                }
                // Made whole for this engine: the dashboard would repeat every engine's
                // figures for a partial one.
                if let Some(member) = fleet.members().iter_mut().find(|m| m.name == engine) {
                    member.samples.extend(samples.sidecars.iter().cloned());
                    if samples.partial {
                        let given: std::collections::HashSet<String> =
                            samples.sidecars.iter().map(|(n, _)| n.clone()).collect();
                        let rest = member.status.iter().filter(|s| !given.contains(&s.name));
                        let known: Vec<_> = rest
                            .filter_map(|s| Some((s.name.clone(), *member.samples.get(&s.name)?)))
                            .collect();
                        samples.sidecars.extend(known);
                    }
                }
                samples.partial = false;
                for (name, _) in &mut samples.limits {
                    *name = qualified(&engine, name);
                }
                samples.taken = fleet.0.rounds.fetch_add(1, Ordering::Relaxed) + 1;
                Notice::Samples(samples)
            }
            Notice::Latency { sidecar, latency } => {
                Notice::Latency { sidecar: qualified(&engine, &sidecar), latency }
            }
            Notice::Exchange(exchange) => Notice::Exchange(renamed_exchange(&engine, &exchange)),
            other @ (Notice::Skipped { .. } | Notice::Reloaded { .. } | Notice::Joined { .. }) => other,
        };
        if out.send(renamed).await.is_err() {
            return;
        }
    }
    // The engine is gone (it exited, or its socket closed): its sidecars stay on screen,
    // marked lost with when, and the other engines go on.
    let at_ms = crate::api::wire::unix_ms(std::time::SystemTime::now());
    let when = crate::text::stamp::Stamp::new(crate::text::stamp::CLOCK)
        .text(crate::api::wire::system_time(at_ms))
        .to_string();
    let (lost, theirs) = {
        let mut members = fleet.members();
        let Some(member) = members.iter_mut().find(|m| m.name == engine) else { return };
        member.live = false;
        member.lost_at = Some(std::time::Instant::now());
        let last = member.last.iter_mut().flat_map(|s| s.sidecars.iter_mut());
        for info in member.status.iter_mut().chain(last) {
            info.state = "lost".into();
            info.life = crate::api::wire::Life::Idle;
            info.pid = None;
            info.uptime_ms = None;
            info.error = Some(format!("{} lost at {when}", single::label(&engine)));
        }
        let lost: Vec<String> = member.status.iter().map(|i| i.name.clone()).collect();
        (lost, member.status.clone())
    };
    let _ = out.send(Notice::Status { sidecars: theirs, partial: true }).await;
    for sidecar in lost {
        let text = format!("lost: the connection to {} closed", single::label(&engine));
        let event = crate::api::wire::EventInfo { sidecar, at_ms, text, level: crate::api::wire::Level::Bad };
        let _ = out.send(Notice::Event(event)).await;
    }
}
