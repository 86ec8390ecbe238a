//! The engine API: one set of commands and one stream of notices for every front end.
//! [`engine::Engine`] hosts the supervisor and the resource sampler; a
//! [`session::Session`] is one front end's view of it (its subscriptions, its bounded
//! queue); [`local`] connects the dashboard in the same process through channels, and
//! the control socket (`crate::server`) carries the same calls and notices as JSON-RPC
//! 2.0, one message per line.

pub mod build;
pub mod call;
pub mod engine;
pub mod fleet;
pub mod follow;
pub mod link;
pub mod local;
pub mod params;
pub mod record;
pub mod request;
pub mod sample_rounds;
pub mod session;
pub mod socket_path;
pub mod watch_dirs;
pub mod wire;

pub use wire::*;

/// Bumped on any incompatible change of methods or types; `hello` refuses a mismatch.
pub const PROTOCOL_VERSION: u32 = 2;

/// JSON-RPC error codes of the control protocol (besides the standard ones).
pub mod codes {
    pub const UNKNOWN_SIDECAR: i64 = -32001;
    /// The operation was refused or failed (not running, no IPC, I/O error).
    pub const FAILED: i64 = -32002;
    pub const READ_ONLY: i64 = -32003;
    pub const VERSION: i64 = -32004;
    pub const NO_HELLO: i64 = -32005;
    /// The connection to the engine is gone.
    pub const GONE: i64 = -32006;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const NO_METHOD: i64 = -32601;
}

/// A JSON-RPC error: code and message.
pub type RpcError = (i64, String);
pub type RpcResult = Result<serde_json::Value, RpcError>;
