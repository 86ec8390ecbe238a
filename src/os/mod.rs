//! What sidetop asks of the operating system beyond tokio: the process tree under a pid,
//! writes that never block the engine, files rotated by size,
//! waiting on several things at once, the open-file limit. Leaf modules: they import nothing of the crate.

pub mod nofile;
pub mod procstat;
pub mod proctree;
pub mod rotate;
pub mod serial_writer;
pub mod wait;
