//! Measurements: request latency histograms and outcome counts (this module), and the
//! per-sidecar IPC metrics built from them.

pub mod buckets;
pub mod latency;
pub mod pace;
pub mod resources;
pub mod ticks;
pub mod timeline;
