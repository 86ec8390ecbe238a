//! Config reload on a running agent, through `ctl reload`, SIGHUP and the dashboard's `R`:
//! unchanged sidecars keep their processes, a changed one restarts (and only it), an added
//! one starts after its dependency, a removed one stops and is gone, in-place keys apply
//! without a restart, and an invalid file changes nothing and names its line.

mod common;

use common::tmux::Tmux;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

const BEFORE: &str = r#"
[[sidecar]]
name = "db"
command = ["sleep", "1000"]

[[sidecar]]
name = "keep"
command = ["sleep", "1001"]

[[sidecar]]
name = "envy"
command = ["sh", "-c", "echo X is $X; exec sleep 1002"]
env = { X = "1" }

[[sidecar]]
name = "old"
command = ["sleep", "1003"]
"#;

const AFTER: &str = r#"
[[sidecar]]
name = "db"
command = ["sleep", "1000"]

[[sidecar]]
name = "keep"
command = ["sleep", "1001"]
scrollback_lines = 500

[[sidecar]]
name = "envy"
command = ["sh", "-c", "echo X is $X; exec sleep 1002"]
env = { X = "2" }

[[sidecar]]
name = "fresh"
command = ["sleep", "1004"]
depends_on = ["envy"]
"#;

struct Agent {
    child: Child,
    socket: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
    marker: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(toml: &str) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let marker = marker();
        let config = write_config(dir.path(), toml, &marker);
        let socket = dir.path().join("agent.sock");
        let child = Command::new(bin())
            .args(["agent", "--config"])
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .arg("--log-dir")
            .arg(dir.path().join("logs"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent = Agent { child, socket, config, dir, marker };
        wait_until(T, "every sidecar running", || {
            let status = agent.status();
            !status.is_empty() && status.iter().all(|s| s["pid"].is_u64())
        });
        agent
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(bin()).arg("ctl").arg("--socket").arg(&self.socket).args(args).output().unwrap()
    }

    fn status(&self) -> Vec<Value> {
        let out = self.ctl(&["--json", "status"]);
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    fn pid_of(&self, name: &str) -> Option<u64> {
        self.status().into_iter().find(|s| s["name"] == name).and_then(|s| s["pid"].as_u64())
    }

    fn rewrite(&self, toml: &str) {
        let again = write_config(self.dir.path(), toml, &self.marker);
        assert_eq!(again, self.config);
    }

    /// Event texts of one sidecar with their times.
    fn events(&self, name: &str) -> Vec<(u64, String)> {
        let out = self.ctl(&["--json", "events", "--sidecar", name]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|e| (e["at_ms"].as_u64().unwrap_or(0), e["text"].as_str().unwrap_or("").to_string()))
            .collect()
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn reload_restarts_only_what_changed() {
    let agent = Agent::start(BEFORE);
    let pids: Vec<(String, u64)> =
        ["db", "keep", "envy", "old"].iter().map(|n| (n.to_string(), agent.pid_of(n).unwrap())).collect();
    let pid = |name: &str| pids.iter().find(|(n, _)| n == name).unwrap().1;
    agent.rewrite(AFTER);

    // A dry run says what would happen and does nothing.
    let out = agent.ctl(&["reload", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("+1 started (fresh)"), "{}", text(&out));
    assert_eq!(agent.pid_of("old"), Some(pid("old")));

    let out = agent.ctl(&["reload"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "reload: +1 started (fresh), -1 stopped (old), ~1 restarted (envy: env.X), \
         1 changed in place (keep: scrollback_lines), 1 unchanged"
    );
    wait_until(T, "fresh to run", || agent.pid_of("fresh").is_some());
    assert_eq!(agent.pid_of("db"), Some(pid("db")), "unchanged: same process");
    assert_eq!(agent.pid_of("keep"), Some(pid("keep")), "changed in place: same process");
    let envy = agent.pid_of("envy").unwrap();
    assert_ne!(envy, pid("envy"), "its env changed: restarted");
    assert!(!pid_alive(pid("old") as i32), "removed: stopped");
    let names: Vec<String> = agent.status().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["db", "keep", "envy", "fresh"], "gone from status, in the new order");
    let envy_status = agent.status().into_iter().find(|s| s["name"] == "envy").unwrap();
    assert_eq!(envy_status["restarts"], 1, "the restart counts");

    // Its scrollback and history went on: both runs' output, and why it restarted.
    let logs = text(&agent.ctl(&["logs", "envy"]));
    assert!(logs.contains("X is 1") && logs.contains("X is 2"), "{logs}");
    let envy_events = agent.events("envy");
    assert!(envy_events.iter().any(|(_, t)| t == "reload: restarting for env.X"), "{envy_events:?}");
    assert!(agent.events("keep").iter().any(|(_, t)| t == "reload: scrollback_lines applied in place"));
    // The added one started after its dependency was up again.
    let envy_ready = envy_events.iter().rev().find(|(_, t)| t == "ready").unwrap().0;
    let fresh_started = agent.events("fresh").iter().find(|(_, t)| t.starts_with("started")).unwrap().0;
    assert!(fresh_started >= envy_ready, "fresh started at {fresh_started}, envy ready at {envy_ready}");
}

#[test]
fn an_invalid_config_changes_nothing_and_names_the_line() {
    let agent = Agent::start(BEFORE);
    let before: Vec<Option<u64>> = ["db", "keep", "envy", "old"].iter().map(|n| agent.pid_of(n)).collect();
    agent.rewrite(&BEFORE.replace("name = \"keep\"", "name = \"keep\"\nrestart = \"sometimes\""));
    let out = agent.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = text(&out);
    assert!(err.contains("nothing changed") && err.contains("sidetop.toml:10:11"), "{err}");
    assert!(err.contains("unknown variant `sometimes`"), "{err}");
    let after: Vec<Option<u64>> = ["db", "keep", "envy", "old"].iter().map(|n| agent.pid_of(n)).collect();
    assert_eq!(before, after);
}

#[test]
fn sighup_reloads_an_agent() {
    let agent = Agent::start(BEFORE);
    let db = agent.pid_of("db");
    agent.rewrite(AFTER);
    assert!(Command::new("kill").args(["-HUP", &agent.child.id().to_string()]).status().unwrap().success());
    wait_until(T, "the reload to add fresh", || agent.pid_of("fresh").is_some());
    assert_eq!(agent.pid_of("db"), db);
    assert!(agent.status().iter().all(|s| s["name"] != "old"));
}

#[test]
fn r_in_an_attached_dashboard_lists_the_changes_and_asks() {
    let agent = Agent::start(BEFORE);
    let tmux = Tmux::start(120, 40);
    tmux.type_line(&format!("{} attach --socket {}", bin(), agent.socket.display()));
    tmux.wait_for("attached to agent");
    agent.rewrite(AFTER);
    tmux.keys(&["R"]);
    let screen = tmux.wait_for("reload the config?");
    assert!(
        screen.contains("+1 started (fresh)") && screen.contains("~1 restarted (envy: env.X)"),
        "{screen}"
    );
    tmux.keys(&["n"]);
    tmux.wait_for("reload cancelled");
    assert!(agent.pid_of("old").is_some());
    tmux.keys(&["R"]);
    tmux.wait_for("reload the config?");
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("│fresh ");
    assert!(!screen.contains("│old "), "the removed sidecar left the table:\n{screen}");
}

/// A `[[sidecar_dir]]`: an executable copied in starts, a replaced one restarts, a removed
/// one stops, each within 2 s, with a `NAME.toml` override honoured.
#[test]
fn a_plugin_folder_is_watched() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let m = marker();
    let toml = "[[sidecar]]\nname = \"host\"\ncommand = [\"sleep\", \"1000\"]\n\n[[sidecar_dir]]\npath = \"plugins\"\nrestart = \"always\"\n";
    let config = write_config(dir.path(), toml, &m);
    let socket = dir.path().join("agent.sock");
    let mut agent = Agent {
        child: Command::new(bin())
            .args(["agent", "--config"])
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .arg("--log-dir")
            .arg(dir.path().join("logs"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        socket,
        config,
        dir,
        marker: m,
    };
    wait_until(T, "the agent", || agent.pid_of("host").is_some());
    let plugin = |body: &str| {
        // Written beside, then renamed in: a plugin appears whole, as a deploy would do it.
        let tmp = agent.dir.path().join("plugin.tmp");
        std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, plugins.join("pricer")).unwrap();
    };
    let two_s = Duration::from_secs(2);
    std::fs::write(plugins.join("pricer.toml"), "env = { CURRENCY = \"EUR\" }\n").unwrap();
    plugin("echo pricing in $CURRENCY; exec sleep 1000");
    wait_until(two_s + Duration::from_millis(500), "the copied plugin to start", || {
        agent.pid_of("pricer").is_some()
    });
    wait_until(T, "its output", || text(&agent.ctl(&["logs", "pricer"])).contains("pricing in EUR"));
    let first = agent.pid_of("pricer").unwrap();
    let host = agent.pid_of("host");

    plugin("echo version 2; exec sleep 1000");
    wait_until(two_s + Duration::from_millis(500), "the replaced plugin to restart", || {
        agent.pid_of("pricer").is_some_and(|p| p != first)
    });
    assert!(agent.events("pricer").iter().any(|(_, t)| t == "reload: restarting for executable"));

    std::fs::remove_file(plugins.join("pricer")).unwrap();
    wait_until(two_s + Duration::from_millis(500), "the removed plugin to stop", || {
        agent.status().iter().all(|s| s["name"] != "pricer")
    });
    assert_eq!(agent.pid_of("host"), host, "the other sidecar never noticed");
    let _ = agent.child.kill();
}
