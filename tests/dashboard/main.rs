//! The dashboard's model and rendering, plain data and ratatui's TestBackend: keys, the traffic tab, the latency chart, every tab and overlay.

#[path = "../common/mod.rs"]
mod common;
mod dashboard_keys;
mod dashboard_render;
mod fleet_join;
mod latency_chart;
mod traffic_keys;
