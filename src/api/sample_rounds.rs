//! What a samples follower sends each round: the sidecars whose newest sample differs
//! from the one it sent last, and the limits of those whose process changed. One pass
//! under the sampler's lock, comparing by position (the histories keep the config's
//! order, and names are shared `Arc`s), so a round of a thousand sleepers that changed
//! nothing allocates nothing: building and diffing maps of every name each second was
//! most of an idle agent's follower.

use super::wire::{Host, Samples};
use crate::metrics::resources::{Resources, Sample, keep_by_name};
use std::sync::Arc;

/// What one follower has sent, sidecar by sidecar.
pub struct SentSamples {
    names: Vec<Arc<str>>,
    /// The sample sent last (None: not yet, or forgotten), and whose limits it has.
    sent: Vec<(Option<Sample>, Option<u32>)>,
}

impl SentSamples {
    /// Nothing sent yet; the limits read so far are known to the front end already (its
    /// snapshot carries them).
    pub fn new(r: &Resources) -> SentSamples {
        let sent = r.sidecars.iter().map(|h| (None, h.limits_pid)).collect();
        SentSamples { names: r.names.clone(), sent }
    }

    /// The front end missed a round: the next one says every sample again.
    pub fn forget(&mut self) {
        self.sent.iter_mut().for_each(|(sample, _)| *sample = None);
    }

    /// The newest round: samples that changed (every one, the first time or after
    /// `forget`), limits of sidecars whose process changed.
    pub fn round(&mut self, r: &Resources) -> Samples {
        self.align(r);
        let whole = self.sent.iter().all(|(sample, _)| sample.is_none());
        let mut round = Samples {
            taken: r.taken,
            host: host(r),
            sidecars: Vec::new(),
            limits: Vec::new(),
            partial: !whole,
        };
        for ((name, history), (sent, limits_pid)) in r.names.iter().zip(&r.sidecars).zip(&mut self.sent) {
            let newest = history.latest().copied().unwrap_or_default();
            if *sent != Some(newest) {
                *sent = Some(newest);
                round.sidecars.push((name.to_string(), newest));
            }
            if *limits_pid != history.limits_pid {
                *limits_pid = history.limits_pid;
                round.limits.push((name.to_string(), history.limits.clone()));
            }
        }
        round
    }

    /// Follows a change of the set (a reload): each sidecar keeps what was sent of it by
    /// name; a new one has had nothing sent.
    fn align(&mut self, r: &Resources) {
        keep_by_name(&mut self.names, &mut self.sent, r.names.iter());
    }
}

/// The host's figures of the newest round.
pub fn host(r: &Resources) -> Host {
    Host { cpu: r.host_cpu, mem_used: r.host_mem_used, mem_total: r.host_mem_total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::resources::ResourceHistory;

    fn resources(samples: &[(&str, f32, Option<u32>)]) -> Resources {
        let mut r = Resources::default();
        for &(name, cpu, limits_pid) in samples {
            r.names.push(name.into());
            let mut history = ResourceHistory { limits_pid, ..Default::default() };
            history.samples.push_back(Sample { cpu, ..Default::default() });
            r.sidecars.push(history);
        }
        r
    }

    fn names(round: &Samples) -> Vec<&str> {
        round.sidecars.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn the_first_round_is_whole_then_only_changes_go() {
        let r = resources(&[("a", 1.0, Some(1)), ("b", 2.0, Some(2))]);
        let mut sent = SentSamples::new(&r);
        let first = sent.round(&r);
        assert!(!first.partial);
        assert_eq!(names(&first), ["a", "b"]);
        assert!(first.limits.is_empty(), "the snapshot had them");
        let same = sent.round(&r);
        assert!(same.partial && same.sidecars.is_empty() && same.limits.is_empty());
        let moved = resources(&[("a", 1.0, Some(1)), ("b", 3.0, Some(9))]);
        let round = sent.round(&moved);
        assert_eq!(names(&round), ["b"]);
        assert_eq!(round.limits.len(), 1, "b's process changed: its limits go");
        sent.forget();
        let again = sent.round(&moved);
        assert!(!again.partial && again.sidecars.len() == 2 && again.limits.is_empty());
    }

    #[test]
    fn a_reload_keeps_what_was_sent_by_name() {
        let r = resources(&[("a", 1.0, None), ("b", 2.0, None)]);
        let mut sent = SentSamples::new(&r);
        sent.round(&r);
        let reloaded = resources(&[("c", 5.0, None), ("b", 2.0, None)]);
        let round = sent.round(&reloaded);
        assert!(round.partial);
        assert_eq!(names(&round), ["c"], "b unchanged, c new");
    }
}
