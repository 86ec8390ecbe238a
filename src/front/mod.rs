//! The front ends besides the dashboard (`crate::app`, `crate::ui`): each is a client of
//! the engine API (`crate::api`) and nothing else reaches into them. `cli` holds the clap
//! definitions of all of them; `main.rs` dispatches.

pub mod attach;
pub mod check;
pub mod cli;
pub mod completion;
pub mod ctl;
pub mod dashboard;
pub mod exit_codes;
pub mod exporter;
pub mod headless;
pub mod replay;
pub mod request;
pub mod screenshots;
pub mod selflog;
pub mod start;
pub mod systemd;
pub mod wrap;
