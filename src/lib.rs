//! sidetop: supervise sidecar processes and watch them from a terminal dashboard.
//!
//! The engine ([`supervisor`]) knows nothing of any front end; [`headless`] is one front end.

pub mod api;
pub mod app;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod ctl;
pub mod duration;
pub mod headless;
pub mod ipc;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod proctree;
pub mod request_cli;
pub mod sanitize;
pub mod screenshots;
pub mod serial_writer;
pub mod server;
pub mod splitter;
pub mod stamp;
pub mod supervisor;
pub mod svg;
pub mod ui;
pub mod wait;
