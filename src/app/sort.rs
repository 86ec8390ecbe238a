//! Table order: config order by default, or by a column.

use super::state::{SortBy, State};
use std::cmp::Ordering;

pub fn order(state: &State) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..state.sidecars().len()).collect();
    if let Some(filter) = state.table_filter.as_deref().filter(|f| !f.is_empty()) {
        let filter = filter.to_lowercase();
        idx.retain(|&i| {
            let s = &state.sidecars()[i];
            s.name().to_lowercase().contains(&filter) || s.info.state.to_lowercase().contains(&filter)
        });
    }
    // Folded engines' rows are not in the table (over several engines, in config order).
    if !state.folded.is_empty() && super::groups::groups(state).is_some() {
        idx.retain(|&i| {
            super::groups::engine_of(state.sidecars()[i].name()).is_none_or(|e| !state.folded.contains(e))
        });
    }
    if state.sort == SortBy::Config {
        if state.sort_reversed {
            idx.reverse();
        }
        return idx;
    }
    let key = |i: usize| -> (f64, String) {
        let s = &state.sidecars()[i];
        let latest = s.latest().unwrap_or_default();
        match state.sort {
            SortBy::Config => (i as f64, String::new()),
            SortBy::Name => (0.0, s.name().to_string()),
            SortBy::State => (0.0, s.info.state.clone()),
            SortBy::Cpu => (-(latest.cpu as f64), String::new()),
            SortBy::Memory => (-(latest.rss as f64), String::new()),
            SortBy::Restarts => (-(s.info.restarts as f64), String::new()),
            SortBy::Latency => {
                (-(s.latency.as_ref().map_or(0.0, |l| l.overall.all.p99 as f64)), String::new())
            }
        }
    };
    let keys: Vec<(f64, String)> = idx.iter().map(|&i| key(i)).collect();
    idx.sort_by(|&a, &b| {
        let (ka, kb) = (&keys[a], &keys[b]);
        ka.0.partial_cmp(&kb.0).unwrap_or(Ordering::Equal).then_with(|| ka.1.cmp(&kb.1)).then(a.cmp(&b))
    });
    if state.sort_reversed {
        idx.reverse();
    }
    idx
}
