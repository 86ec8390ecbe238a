//! The traffic tab's exchange, out of the dashboard: `y` copies its response, `Y` its
//! request and response (plain text, OSC 52 as the logs' copies), `e` opens its request in
//! the composer to edit and send again.

use super::composer::Composer;
use super::msg::Effect;
use super::state::{Overlay, State};
use crate::ipc::protocol::Exchange;
use crate::ipc::readable::pretty;
use std::sync::Arc;

/// The exchange the traffic tab points at (its list is newest first).
pub fn selected_exchange(state: &State) -> Option<Arc<Exchange>> {
    let traffic = &state.selected()?.traffic;
    let newest_first =
        traffic.len().checked_sub(1 + state.traffic_selected.min(traffic.len().checked_sub(1)?))?;
    traffic.get(newest_first).cloned()
}

/// `y`: the response.
pub fn copy_response(state: &mut State) -> Vec<Effect> {
    let Some(exchange) = selected_exchange(state) else {
        state.say("no exchange to copy");
        return Vec::new();
    };
    let Some(response) = exchange.response.as_deref().filter(|r| !r.is_empty()) else {
        state.say(format!("{} has no response to copy ({})", exchange.method, exchange.outcome));
        return Vec::new();
    };
    state.say(format!("copied the response of {} to the clipboard (OSC 52)", exchange.method));
    vec![Effect::Copy(pretty(response) + "\n")]
}

/// `Y`: the request and the response, as the detail pane shows them.
pub fn copy_exchange(state: &mut State) -> Vec<Effect> {
    let Some(exchange) = selected_exchange(state) else {
        state.say("no exchange to copy");
        return Vec::new();
    };
    let mut text = format!("{}\n", exchange.summary());
    for (title, part) in [("request", &exchange.request), ("response", &exchange.response)] {
        if let Some(part) = part {
            text.push_str(&format!("\n{title}\n{}\n", pretty(part)));
        }
    }
    state.say(format!("copied the request and response of {} to the clipboard (OSC 52)", exchange.method));
    vec![Effect::Copy(text)]
}

/// `e`: the composer, filled with the exchange's request.
pub fn edit(state: &mut State) -> Vec<Effect> {
    let sel = state.selected;
    let Some(exchange) = selected_exchange(state) else {
        state.say("no exchange to edit");
        return Vec::new();
    };
    let Some(mut composer) = state
        .selected()
        .and_then(|view| Some(Composer::new(sel, &view.setup)?.with_traffic(view.traffic.iter())))
    else {
        return Vec::new();
    };
    match &exchange.spec {
        Some(spec) => {
            composer.load_spec(spec);
            state.overlay = Overlay::Composer(Box::new(composer));
        }
        None if exchange.request.is_none() => {
            state.say("the sidecar sent this one: there is no request to edit")
        }
        None => state.say("this request cannot be edited here (not one sidetop could read)"),
    }
    Vec::new()
}
