//! Over several engines (`attach --all`), the table's rows come under a line per engine,
//! in the engines' own order (not when sorted by a column).

use super::state::State;

/// The engine of a row of `attach --all` (`ENGINE/NAME`).
pub fn engine_of(name: &str) -> Option<&str> {
    name.split_once(crate::api::fleet::SEPARATOR).map(|(engine, _)| engine)
}

/// Over several engines, in their own order: a line per engine before its rows, with how
/// its sidecars are doing.
pub fn groups(state: &State) -> Option<Vec<&str>> {
    if state.sort != super::state::SortBy::Config || state.sort_reversed {
        return None;
    }
    let mut engines: Vec<&str> = Vec::new();
    for s in state.sidecars() {
        let engine = engine_of(s.name())?;
        if engines.last() != Some(&engine) {
            engines.push(engine);
        }
    }
    (engines.len() > 1).then_some(engines)
}

/// Lines the table needs: a row per sidecar, and a line per engine when grouped.
pub fn table_rows(state: &State) -> usize {
    state.sidecars().len() + groups(state).map_or(0, |g| g.len())
}

/// What a line of the table's body shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableLine<'a> {
    Engine(&'a str),
    /// A sidecar, by index.
    Sidecar(usize),
}

/// The body's lines from `offset` (in `order`) on, at most `height`; with room kept for
/// the engines' lines, so the selected row stays in view.
pub fn table_lines<'a>(state: &'a State, order: &[usize], height: usize) -> Vec<TableLine<'a>> {
    let groups = groups(state);
    let rows = height.saturating_sub(groups.as_ref().map_or(0, Vec::len)).max(1);
    let offset = super::update::table_offset(state, rows, order);
    let mut out = Vec::new();
    let mut last = None;
    for &i in order.iter().skip(offset).take(rows) {
        if groups.is_some() {
            let engine = engine_of(state.sidecars()[i].name());
            if engine != last {
                last = engine;
                out.push(TableLine::Engine(engine.unwrap_or_default()));
            }
        }
        out.push(TableLine::Sidecar(i));
    }
    out.truncate(height.max(1));
    out
}
