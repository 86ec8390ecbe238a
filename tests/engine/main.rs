//! The engine as a library, on real processes and real pipes: output capture, log files, starting, hostile sidecars, every IPC protocol, and the edges where one run or one message could leak into another.

#[path = "../common/mod.rs"]
mod common;
mod fuzz;
mod grpc;
mod hostile;
mod ipc;
mod ipc_edges;
mod logfile;
mod lsp;
mod mcp;
mod output;
mod startup;
mod websocket;
