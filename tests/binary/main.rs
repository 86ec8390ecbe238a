//! The sidetop binary as operators and scripts run it: check, headless, agent and ctl, attach, the dashboard in tmux, reload, record and replay, imported process files, Prometheus, wrap.

mod agent;
mod attach;
mod binary_edges;
mod cli;
#[path = "../common/mod.rs"]
mod common;
mod fleet;
mod import;
mod metrics;
mod proxy;
mod reload;
mod replay;
mod tmux;
mod wrap;
mod wrap_clients;
mod wrap_own;
mod wrap_restart;
