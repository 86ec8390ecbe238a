//! Over several engines (`attach --all`), the table's rows come under a line per engine,
//! in the engines' own order (not when sorted by a column).

use super::state::State;

/// The engine of a row of `attach --all` (`ENGINE/NAME`).
pub fn engine_of(name: &str) -> Option<&str> {
    name.split_once(crate::api::fleet::SEPARATOR).map(|(engine, _)| engine)
}

/// How an engine's line names it: an agent's socket is `sidetop-HASH` of its config, so
/// the hash is what tells two apart; a wrapper's `wrap-NAME-PID` stays whole.
pub fn engine_label(engine: &str) -> &str {
    engine.strip_prefix("sidetop-").unwrap_or(engine)
}

/// Over several engines, in their own order: a line per engine before its rows, with how
/// its sidecars are doing.
pub fn groups(state: &State) -> Option<Vec<&str>> {
    if state.sort != super::state::SortBy::Config || state.sort_reversed {
        return None;
    }
    engines(state)
}

/// The engines of the rows, in order, when they are more than one (`attach --all`).
pub fn engines(state: &State) -> Option<Vec<&str>> {
    let engines = &state.model.engines;
    (engines.len() > 1).then(|| engines.iter().map(String::as_str).collect())
}

/// The engines of `names`, in order, when every name has one (`ENGINE/NAME`): read once
/// per snapshot, not on each of a frame's several looks at them.
pub fn engines_of<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut engines: Vec<String> = Vec::new();
    for name in names {
        let Some(engine) = engine_of(name) else { return Vec::new() };
        if engines.last().map(String::as_str) != Some(engine) {
            engines.push(engine.to_string());
        }
    }
    engines
}

/// Lines the table needs: a row per sidecar shown, and a line per engine when grouped.
pub fn table_rows(state: &State) -> usize {
    state.order().len() + groups(state).map_or(0, |g| g.len())
}

/// What a line of the table's body shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableLine<'a> {
    Engine(&'a str),
    /// A sidecar, by index.
    Sidecar(usize),
}

/// The body's lines, at most `height`, scrolled so the selected row is in view. Over
/// several engines: every engine's line, and the rows of those not folded.
pub fn table_lines<'a>(state: &'a State, order: &[usize], height: usize) -> Vec<TableLine<'a>> {
    let Some(engines) = groups(state) else {
        let offset = super::update::table_offset(state, height, order);
        return order.iter().skip(offset).take(height).map(|&i| TableLine::Sidecar(i)).collect();
    };
    // Each row's engine read once (a filter per engine was 20,000 splits a frame at 20
    // engines of 50).
    let mut rows: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for &i in order {
        if let Some(engine) = engine_of(state.sidecars()[i].name()) {
            rows.entry(engine).or_default().push(i);
        }
    }
    let mut all = Vec::with_capacity(order.len() + engines.len());
    for engine in engines {
        all.push(TableLine::Engine(engine));
        all.extend(rows.remove(engine).unwrap_or_default().into_iter().map(TableLine::Sidecar));
    }
    let at = all.iter().position(|l| *l == TableLine::Sidecar(state.selected)).unwrap_or(0);
    let offset = if height == 0 { 0 } else { at.saturating_sub(height - 1) };
    all.into_iter().skip(offset).take(height).collect()
}
