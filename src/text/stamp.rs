//! Local-time stamps rendered once per distinct instant: every line of one read of a pipe
//! shares its arrival time, so a batch of thousands of lines costs one formatting.

use std::fmt::Write as _;
use std::time::SystemTime;

/// Log files: `2026-11-22T16:45:27.123+00:00`.
pub const FILE: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";
/// Headless output and `ctl`: `16:45:27.123`.
pub const CLOCK: &str = "%H:%M:%S%.3f";

pub struct Stamp {
    format: &'static str,
    at: Option<SystemTime>,
    text: String,
}

impl Stamp {
    pub fn new(format: &'static str) -> Stamp {
        Stamp { format, at: None, text: String::new() }
    }

    pub fn text(&mut self, at: SystemTime) -> &str {
        if self.at != Some(at) {
            self.at = Some(at);
            self.text.clear();
            let _ = write!(self.text, "{}", chrono::DateTime::<chrono::Local>::from(at).format(self.format));
        }
        &self.text
    }
}
