//! sidetop: supervise sidecar processes and watch them from a terminal dashboard.
//!
//! # The house
//!
//! ```text
//! text/        leaf: lines out of bytes, terminal text made safe, stamps, durations
//! os/          leaf: process tree, non-blocking writes, rotated files, waiting on many
//! config/      the TOML (and other tools' files) read, checked and resolved
//! metrics/     resource sampler, latency histograms, timelines
//! ipc/         talking to a sidecar: framing, JSON-RPC, HTTP, MCP/LSP meaning, taps,
//!              the measuring proxy at `listen`
//! supervisor/  the engine: one task per sidecar owning one `Run` at a time (process,
//!              pumps, connection, health, stop), policy, death watch, scrollback, logs
//! api/         the one way in for every front end: commands, the stream out, wire
//!              types, the in-process link, recording
//! server/      the engine API over the control socket (peer uid, bounded queues)
//! client/      the other end of that socket, for attach and ctl
//! app/, ui/    the dashboard: plain-data model, pure update, run loop / one pane a file
//! front/       every other front end: cli definitions, headless and agent, ctl, attach,
//!              request, replay, wrap, the /metrics exporter, check, completion,
//!              screenshots, sidetop's own log
//! ```
//!
//! Who may import whom (checked by `layout_rules` below): `text` and `os` import nothing
//! of the crate; `config` only the leaves; `metrics` the leaves; `ipc` config, metrics
//! and the leaves; `supervisor` also ipc; `api` also supervisor; `server` and `client`
//! also api; the front ends (`app`, `ui`, `front`) anything. Nothing below a front end
//! imports one, so no folder imports a folder that imports it back.

pub mod api;
pub mod app;
pub mod client;
pub mod config;
pub mod front;
pub mod ipc;
pub mod metrics;
pub mod os;
pub mod server;
pub mod supervisor;
pub mod text;
pub mod ui;

#[cfg(test)]
mod layout_rules;
