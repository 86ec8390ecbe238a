//! Config reload on a running agent, through `ctl reload`, SIGHUP and the dashboard's `R`:
//! unchanged sidecars keep their processes, a changed one restarts (and only it), an added
//! one starts after its dependency, a removed one stops and is gone, in-place keys apply
//! without a restart, and an invalid file changes nothing and names its line.

use crate::common;

use common::agent::{Agent, text};
use common::tmux::Tmux;
use common::*;
use serde_json::Value;
use std::process::Command;
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

/// Event texts of one sidecar with their times.
fn events(agent: &Agent, name: &str) -> Vec<(u64, String)> {
    let out = agent.ctl(&["--json", "events", "--sidecar", name]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| (e["at_ms"].as_u64().unwrap_or(0), e["text"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn reload_restarts_only_what_changed() {
    let agent = Agent::running(BEFORE);
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
    let envy_events = events(&agent, "envy");
    assert!(envy_events.iter().any(|(_, t)| t == "reload: restarting for env.X"), "{envy_events:?}");
    assert!(events(&agent, "keep").iter().any(|(_, t)| t == "reload: scrollback_lines applied in place"));
    // The added one started after its dependency was up again.
    let envy_ready = envy_events.iter().rev().find(|(_, t)| t == "ready").unwrap().0;
    let fresh_started = events(&agent, "fresh").iter().find(|(_, t)| t.starts_with("started")).unwrap().0;
    assert!(fresh_started >= envy_ready, "fresh started at {fresh_started}, envy ready at {envy_ready}");
}

#[test]
fn an_invalid_config_changes_nothing_and_names_the_line() {
    let agent = Agent::running(BEFORE);
    let before: Vec<Option<u64>> = ["db", "keep", "envy", "old"].iter().map(|n| agent.pid_of(n)).collect();
    agent.rewrite(&BEFORE.replace("name = \"keep\"", "name = \"keep\"\nrestart = \"sometimes\""));
    let out = agent.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = text(&out);
    assert!(err.contains("nothing changed") && err.contains("sidetop.toml:10:11"), "{err}");
    assert!(err.contains("unknown variant `sometimes`"), "{err}");
    let after: Vec<Option<u64>> = ["db", "keep", "envy", "old"].iter().map(|n| agent.pid_of(n)).collect();
    assert_eq!(before, after);
    // Kept as an event, where an operator looks.
    let refused = events(&agent, "db");
    assert!(
        refused.iter().any(|(_, t)| t.starts_with("reload refused, nothing changed") && t.contains(":10:11")),
        "{refused:?}"
    );
}

#[test]
fn sighup_reloads_an_agent() {
    let agent = Agent::running(BEFORE);
    let db = agent.pid_of("db");
    agent.rewrite(AFTER);
    assert!(Command::new("kill").args(["-HUP", &agent.child.id().to_string()]).status().unwrap().success());
    wait_until(T, "the reload to add fresh", || agent.pid_of("fresh").is_some());
    assert_eq!(agent.pid_of("db"), db);
    assert!(agent.status().iter().all(|s| s["name"] != "old"));
}

#[test]
fn r_in_an_attached_dashboard_lists_the_changes_and_asks() {
    let agent = Agent::running(BEFORE);
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
    let folder = tempfile::tempdir().unwrap();
    let plugins = folder.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let toml = format!(
        "[[sidecar]]\nname = \"host\"\ncommand = [\"sleep\", \"1000\"]\n\n[[sidecar_dir]]\npath = \"{}\"\nrestart = \"always\"\n",
        plugins.display()
    );
    let mut agent = Agent::running(&toml);
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
    assert!(events(&agent, "pricer").iter().any(|(_, t)| t == "reload: restarting for executable"));

    std::fs::remove_file(plugins.join("pricer")).unwrap();
    wait_until(two_s + Duration::from_millis(500), "the removed plugin to stop", || {
        agent.status().iter().all(|s| s["name"] != "pricer")
    });
    assert_eq!(agent.pid_of("host"), host, "the other sidecar never noticed");
    let _ = agent.child.kill();
}

/// A reload that fails half-way (a replaced sidecar's new log file cannot be opened)
/// retires nothing: every sidecar, the changed one and the removed one too, still runs
/// with the same pid. It once stopped them first and then failed, leaving them listed
/// and dead.
#[test]
fn a_reload_that_cannot_be_applied_retires_nothing() {
    let agent = Agent::running(BEFORE);
    let names = ["db", "keep", "envy", "old"];
    let before: Vec<Option<u64>> = names.iter().map(|n| agent.pid_of(n)).collect();
    let blocker = agent.dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    // envy changes (a restart), old goes, and envy's log file is under a plain file.
    let after = BEFORE
        .replace(
            "env = { X = \"1\" }",
            &format!("env = {{ X = \"2\" }}\nlog_file = \"{}/envy.log\"", blocker.display()),
        )
        .replace("[[sidecar]]\nname = \"old\"\ncommand = [\"sleep\", \"1003\"]\n", "");
    agent.rewrite(&after);
    let out = agent.ctl(&["reload"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("envy.log"), "the error names the file: {}", text(&out));
    std::thread::sleep(Duration::from_millis(300));
    let now: Vec<Option<u64>> = names.iter().map(|n| agent.pid_of(n)).collect();
    assert_eq!(before, now, "nothing was retired");
    assert!(now.iter().all(|p| p.is_some_and(|p| pid_alive(p as i32))));
}
