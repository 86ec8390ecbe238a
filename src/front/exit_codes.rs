//! Exit statuses of the commands scripts run (`ctl`, `attach`, `request`, `replay`),
//! numbered alike: 0 done, 1 failed, 2 bad arguments, 3 nothing to talk to (no agent on
//! the socket; for `request` and `replay`, a sidecar that did not become ready).

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NO_AGENT: u8 = 3;
pub const EXIT_NOT_READY: u8 = 3;
