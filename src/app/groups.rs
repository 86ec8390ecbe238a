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
    let mut engines: Vec<&str> = Vec::new();
    for s in state.sidecars() {
        let engine = engine_of(s.name())?;
        if engines.last() != Some(&engine) {
            engines.push(engine);
        }
    }
    (engines.len() > 1).then_some(engines)
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
    let mut all = Vec::new();
    for engine in engines {
        all.push(TableLine::Engine(engine));
        all.extend(
            order
                .iter()
                .filter(|&&i| engine_of(state.sidecars()[i].name()) == Some(engine))
                .map(|&i| TableLine::Sidecar(i)),
        );
    }
    let at = all.iter().position(|l| *l == TableLine::Sidecar(state.selected)).unwrap_or(0);
    let offset = if height == 0 { 0 } else { at.saturating_sub(height - 1) };
    all.into_iter().skip(offset).take(height).collect()
}
