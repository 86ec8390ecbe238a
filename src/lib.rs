//! sidetop: supervise sidecar processes and watch them from a terminal dashboard.
//!
//! The engine ([`supervisor`]) knows nothing of any front end; [`api`] is the one way in
//! for every front end: the dashboard ([`app`], [`ui`]) in-process or attached, [`headless`],
//! [`ctl`] and the control socket ([`server`]).

pub mod api;
pub mod app;
pub mod attach;
pub mod check;
pub mod cli;
pub mod client;
pub mod completion;
pub mod config;
pub mod ctl;
pub mod duration;
pub mod exporter;
pub mod headless;
pub mod ipc;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod proctree;
pub mod recording;
pub mod replay;
pub mod request_cli;
pub mod rotate;
pub mod sanitize;
pub mod screenshots;
pub mod serial_writer;
pub mod server;
pub mod splitter;
pub mod stamp;
pub mod supervisor;
pub mod svg;
pub mod systemd;
pub mod ui;
pub mod wait;
pub mod wrap;
