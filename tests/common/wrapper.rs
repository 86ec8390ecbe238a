//! An application of `sidetop wrap` in a test: the wrapper started with piped stdio,
//! JSON-RPC lines written to it, its replies read by id on their own thread; and `ctl`
//! against its socket.

use super::bin;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `sidetop wrap ARGS -- CMD` with piped stdio, its own runtime folder and log folder.
pub fn wrap_command(dir: &Path, args: &[&str], cmd: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--log-dir").arg(dir.join("log")).arg("wrap").args(args).arg("--").args(cmd);
    c.env("XDG_RUNTIME_DIR", dir.join("run"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// The child's stdin, and a thread reading all its stdout (joined: the bytes).
pub fn stdin_and_output(child: &mut Child) -> (ChildStdin, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Read;
    let stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).unwrap();
        out
    });
    (stdin, reader)
}

/// `sidetop ctl --socket SOCKET ARGS`; its stdout, asserting success.
pub fn ctl(socket: &Path, args: &[&str]) -> String {
    let out = Command::new(bin()).arg("ctl").arg("--socket").arg(socket).args(args).output().unwrap();
    assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The wrapped sidecar's status, from `ctl status --json`.
pub fn status(socket: &Path) -> Value {
    serde_json::from_str(ctl(socket, &["status", "--json"]).lines().next().unwrap()).unwrap()
}

/// An application talking newline-delimited JSON-RPC to its sidecar through a wrapper.
pub struct App {
    pub child: Child,
    pub socket: PathBuf,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    seen: HashMap<String, Value>,
    /// Messages without an id (notifications), in order.
    pub told: Vec<Value>,
}

impl App {
    pub fn start(dir: &Path, args: &[&str], cmd: &[&str]) -> App {
        let socket = dir.join("wrap.sock");
        let mut full = vec!["--socket", socket.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut child = wrap_command(dir, &full, cmd).stderr(Stdio::null()).spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if let Ok(value) = serde_json::from_str(&line) {
                    let _ = tx.send(value);
                }
            }
        });
        super::wait_until(Duration::from_secs(10), "the wrapper's socket", || socket.exists());
        App { child, socket, stdin, lines, seen: HashMap::new(), told: Vec::new() }
    }

    pub fn send(&mut self, id: Value, method: &str, params: Value) {
        let msg = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    /// Writes bytes as they are (half a frame, say), at once.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// The reply with `id`, within `timeout`.
    pub fn reply(&mut self, id: &Value, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(reply) = self.seen.remove(&id.to_string()) {
                return reply;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let message =
                self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no reply to {id} in {timeout:?}"));
            match message.get("id") {
                Some(got) if !got.is_null() => {
                    self.seen.insert(got.to_string(), message);
                }
                _ => self.told.push(message),
            }
        }
    }

    pub fn call(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(id.clone(), method, params);
        self.reply(&id, Duration::from_secs(20))
    }

    /// Closes the wrapper's stdin and waits for it to end.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}
