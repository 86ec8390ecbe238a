//! Text as sidetop meets it: bytes split into lines, terminal text made safe to show,
//! time stamps and durations written the way people read them. Leaf modules: they import
//! nothing of the crate.

pub mod ansi;
pub mod duration;
pub mod sanitize;
pub mod splitter;
pub mod stamp;
