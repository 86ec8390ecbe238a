//! A real `sidetop agent` for a test: its config in a temp dir, its socket, `ctl` against
//! it, and its sidecars' status as JSON.

use super::{bin, marker, wait_until, write_config};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub struct Agent {
    pub child: Child,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
    pub marker: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// Started on `toml` and serving its socket (not waiting for the sidecars).
    pub fn start(toml: &str) -> Agent {
        Agent::start_with(toml, &[])
    }

    /// The same, with more arguments for `sidetop agent` (`--metrics ADDR`).
    pub fn start_with(toml: &str, args: &[&str]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let marker = marker();
        let socket = dir.path().join("run").join("agent.sock");
        let child = spawn_agent(dir.path(), toml, &marker, &socket, args);
        let config = dir.path().join("sidetop.toml");
        let agent = Agent { child, socket, config, dir, marker };
        agent.wait_listening();
        agent
    }

    pub fn wait_listening(&self) {
        wait_until(Duration::from_secs(20), "the agent to serve its socket", || {
            self.ctl(&["status"]).status.code() == Some(0)
        });
    }

    /// Started and every sidecar running.
    pub fn running(toml: &str) -> Agent {
        let agent = Agent::start(toml);
        agent.wait_running();
        agent
    }

    pub fn wait_running(&self) {
        wait_until(Duration::from_secs(20), "every sidecar running", || {
            let status = self.status();
            !status.is_empty() && status.iter().all(|s| s["pid"].is_u64())
        });
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl_on(&self.socket, args)
    }

    /// Every sidecar's status (empty if the agent does not answer).
    pub fn status(&self) -> Vec<Value> {
        let out = self.ctl(&["--json", "status"]);
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn pid_of(&self, name: &str) -> Option<u64> {
        self.status().into_iter().find(|s| s["name"] == name).and_then(|s| s["pid"].as_u64())
    }

    /// Writes the config again (same file), for a reload.
    pub fn rewrite(&self, toml: &str) {
        assert_eq!(write_config(self.dir.path(), toml, &self.marker), self.config);
    }
}

/// `sidetop agent` on `toml` (written in `dir`), serving `socket`.
pub fn spawn_agent(dir: &Path, toml: &str, marker: &str, socket: &Path, args: &[&str]) -> Child {
    let config = write_config(dir, toml, marker);
    Command::new(bin())
        .args(["agent", "--config"])
        .arg(&config)
        .arg("--socket")
        .arg(socket)
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn ctl_on(socket: &Path, args: &[&str]) -> Output {
    Command::new(bin()).arg("ctl").arg("--socket").arg(socket).args(args).output().unwrap()
}

/// stdout and stderr together.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
