//! sidetop: supervise sidecar processes and watch them from a terminal dashboard.
//!
//! The engine ([`supervisor`]) knows nothing of any front end; [`headless`] is one front end.

pub mod config;
pub mod logs;
pub mod supervisor;
