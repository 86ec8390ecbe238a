//! Every engine at once (`ctl --all`): two agents and a wrapper of one user on this host,
//! found in the runtime folder as `ctl list` finds them: status and events of all, a
//! sidecar's reads from its own engine, a name two engines share.

use crate::common;

use common::wrapper::wrap_command;
use common::{bin, marker, sidecars_dir, wait_until, write_config};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(runtime: &Path, dir: &Path, toml: &str) -> Killed {
    let config = write_config(dir, toml, &marker());
    Killed(
        Command::new(bin())
            .args(["agent", "--config"])
            .arg(&config)
            .arg("--log-dir")
            .arg(dir.join("logs"))
            .env("XDG_RUNTIME_DIR", runtime)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn all_status(runtime: &Path) -> (Vec<Value>, String) {
    let out = Command::new(bin())
        .args(["ctl", "--all", "--json", "status"])
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (rows, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The row of sidecar `name` among `rows`.
fn row(rows: &[Value], name: &str) -> Value {
    rows.iter().find(|r| r["name"] == name).unwrap().clone()
}

/// The rows of `runtime`'s engines (`count` of them) once `name` runs with a pid other
/// than `before`: restarted, in its own engine.
fn after_restart(runtime: &Path, name: &str, before: &Value, count: usize) -> Vec<Value> {
    let mut after = Vec::new();
    wait_until(Duration::from_secs(10), &format!("{name} restarted in its own engine"), || {
        after = all_status(runtime).0;
        after.len() == count && row(&after, name)["pid"] != *before && row(&after, name)["pid"].is_u64()
    });
    after
}

#[test]
fn ctl_all_status_lists_every_engines_sidecars_with_its_engine() {
    let root = tempfile::tempdir().unwrap();
    let runtime = root.path().join("run");
    let (one, two) = (root.path().join("one"), root.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let _a = agent(
        &runtime,
        &one,
        "[[sidecar]]\nname = \"alpha\"\ncommand = [\"sh\", \"-c\", \"echo alpha says hi; sleep 60\"]\n\
         [[sidecar]]\nname = \"shared\"\ncommand = [\"sleep\", \"60\"]\n",
    );
    let mut b = agent(
        &runtime,
        &two,
        "[[sidecar]]\nname = \"beta\"\ncommand = [\"sleep\", \"60\"]\n[[sidecar]]\nname = \"gamma\"\ncommand = [\"sleep\", \"60\"]\n\
         [[sidecar]]\nname = \"shared\"\ncommand = [\"sleep\", \"60\"]\n",
    );
    let echo = sidecars_dir().join("jsonrpc_echo.py").display().to_string();
    let _wrapper =
        Killed(wrap_command(root.path(), &["--name", "echo"], &["python3", &echo]).spawn().unwrap());

    let mut rows = Vec::new();
    wait_until(Duration::from_secs(20), "six sidecars of three engines", || {
        rows = all_status(&runtime).0;
        rows.len() == 6 && rows.iter().all(|r| r["pid"].is_u64())
    });
    let engine_of = |name: &str| -> String {
        rows.iter().find(|r| r["name"] == name).unwrap()["engine"].as_str().unwrap().to_string()
    };
    assert_eq!(engine_of("beta"), engine_of("gamma"), "{rows:?}");
    assert_ne!(engine_of("alpha"), engine_of("beta"), "{rows:?}");
    assert!(engine_of("echo").starts_with("wrap-echo-"), "{rows:?}");
    let beta = rows.iter().find(|r| r["name"] == "beta").unwrap();
    assert!(beta["config"].as_str().unwrap().starts_with(two.to_str().unwrap()), "{beta}");

    // A read of one sidecar goes to the engine that runs it.
    let ctl = |args: &[&str]| {
        Command::new(bin()).arg("ctl").args(args).env("XDG_RUNTIME_DIR", &runtime).output().unwrap()
    };
    wait_until(Duration::from_secs(10), "alpha's line", || {
        String::from_utf8_lossy(&ctl(&["--all", "logs", "alpha"]).stdout).contains("alpha says hi")
    });
    let out = ctl(&["--all", "latency", "echo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ctl(&["--all", "logs", "shared"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    let (e1, e2) = (engine_of("alpha"), engine_of("beta"));
    assert!(said.contains(&format!("{e1}/shared")) && said.contains(&format!("{e2}/shared")), "{said}");
    let out = ctl(&["--all", "logs", &format!("{e2}/shared")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ctl(&["--all", "logs", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    // Events of every engine, merged in time, each with its engine.
    let out = ctl(&["--all", "--json", "events"]);
    let events: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let engines: std::collections::BTreeSet<&str> =
        events.iter().filter_map(|e| e["engine"].as_str()).collect();
    assert_eq!(engines.len(), 3, "{events:?}");
    assert!(events.windows(2).all(|w| w[0]["at_ms"].as_u64() <= w[1]["at_ms"].as_u64()), "{events:?}");

    // Several --socket: those engines' rows; one that does not answer is said, exit 3.
    let socket_of = |name: &str| row(&rows, name)["socket"].as_str().unwrap().to_string();
    let (alpha_socket, beta_socket) = (socket_of("alpha"), socket_of("beta"));
    let out = ctl(&["--socket", &alpha_socket, "--socket", &beta_socket, "--json", "status"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut names: Vec<&str> = listed.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["alpha", "beta", "gamma", "shared", "shared"], "{listed:?}");
    let out = ctl(&["--socket", "/nonexistent/x.sock", "--socket", &alpha_socket, "status"]);
    assert_eq!(out.status.code(), Some(3), "an engine named and not answering");
    assert!(String::from_utf8_lossy(&out.stdout).contains("alpha"), "the others are still shown");
    assert!(String::from_utf8_lossy(&out.stderr).contains("x: not answering"));

    // The text form groups rows under their engine.
    let out = Command::new(bin())
        .args(["ctl", "--all", "status"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("== ")).count(), 3, "{text}");

    // An engine that is gone is said on stderr; the others are still listed.
    let _ = b.0.kill();
    let _ = b.0.wait();
    let (rows, said) = all_status(&runtime);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        said.contains("not answering: 1 stale socket(s)"),
        "one line for the sockets nobody serves: {said}"
    );

    // --all is for reads, never for acting on every engine.
    let out = Command::new(bin())
        .args(["ctl", "--all", "restart", "alpha"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn attach_all_shows_every_engines_sidecars_and_a_key_acts_on_the_sidecars_own_engine() {
    let root = tempfile::tempdir().unwrap();
    let runtime = root.path().join("run");
    let (one, two) = (root.path().join("one"), root.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let _a = agent(&runtime, &one, "[[sidecar]]\nname = \"alpha\"\ncommand = [\"sleep\", \"60\"]\n");
    let mut b = agent(&runtime, &two, "[[sidecar]]\nname = \"beta\"\ncommand = [\"sleep\", \"60\"]\n");
    let mut rows = Vec::new();
    wait_until(Duration::from_secs(20), "both agents' sidecars", || {
        rows = all_status(&runtime).0;
        rows.len() == 2 && rows.iter().all(|r| r["pid"].is_u64())
    });
    let (alpha, beta) = (row(&rows, "alpha"), row(&rows, "beta"));
    let (alpha_engine, beta_engine) = (alpha["engine"].as_str().unwrap(), beta["engine"].as_str().unwrap());

    let tmux = common::tmux::Tmux::start(140, 40);
    tmux.type_line(&format!(
        "XDG_RUNTIME_DIR={} {} attach --all; echo attach-exited-$?",
        runtime.display(),
        bin()
    ));
    tmux.wait_for("2 engines");
    let screen = tmux.wait_for(&format!("{beta_engine}/beta"));
    assert!(screen.contains(&format!("{alpha_engine}/alpha")), "{screen}");

    // Rows come in engine order: beta is the second row when its engine sorts after.
    if beta_engine > alpha_engine {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["r"]);
    let after = after_restart(&runtime, "beta", &beta["pid"], 2);
    assert_eq!(row(&after, "alpha")["pid"], alpha["pid"], "alpha's engine untouched");
    tmux.wait_for(&format!("restarted {beta_engine}/beta"));

    // One engine dies: its sidecar stays, marked lost with when; the other goes on.
    let _ = b.0.kill();
    let _ = b.0.wait();
    let screen = tmux.wait(&format!("{beta_engine}/beta marked lost"), |s| {
        s.lines().any(|l| l.contains(&format!("{beta_engine}/beta")) && l.contains("lost"))
    });
    assert!(screen.contains(&format!("engine {beta_engine} lost at")), "{screen}");
    assert!(
        screen.lines().any(|l| l.contains(&format!("{alpha_engine}/alpha")) && l.contains("ready")),
        "{screen}"
    );

    // Engines that start while it runs join: a wrapper, then the agent again; the lost
    // engine's row stays through the wrapper's joining.
    let echo = sidecars_dir().join("jsonrpc_echo.py").display().to_string();
    let _wrapper =
        Killed(wrap_command(root.path(), &["--name", "echo"], &["python3", &echo]).spawn().unwrap());
    let screen = tmux.wait("the wrapper's sidecar", |s| {
        s.lines().any(|l| l.contains("/echo") && l.contains("wrap-echo-"))
    });
    assert!(
        screen.lines().any(|l| l.contains(&format!("{beta_engine}/beta"))
            && l.contains("lost")
            && !l.contains("connection")),
        "a lost engine's sidecar stays in the table through the join: {screen}"
    );
    assert!(
        screen.contains("attached to 3 engines on this host"),
        "the header counts the one joined: {screen}"
    );
    let _b = agent(&runtime, &two, "[[sidecar]]\nname = \"beta\"\ncommand = [\"sleep\", \"60\"]\n");
    let screen = tmux.wait("the agent's sidecar back", |s| {
        s.lines().any(|l| l.contains(&format!("{beta_engine}/beta")) && l.contains("ready"))
            && s.lines().any(|l| l.contains("/echo") && l.contains("wrap-echo-"))
    });
    assert!(screen.contains(&format!("{alpha_engine}/alpha")), "{screen}");

    tmux.keys(&["q"]);
    let screen = tmux.wait_for("attach-exited-0");
    assert!(screen.contains("detached from 2 engines"), "{screen}");
    assert_eq!(row(&all_status(&runtime).0, "alpha")["pid"], alpha["pid"], "alpha still runs");
}

#[test]
fn attach_over_several_sockets_shows_their_engines_in_one_dashboard() {
    let root = tempfile::tempdir().unwrap();
    // Two runtime folders: `--all` in either would find only one of the engines.
    let (run1, run2) = (root.path().join("run1"), root.path().join("run2"));
    let (one, two) = (root.path().join("one"), root.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let _a = agent(&run1, &one, "[[sidecar]]\nname = \"alpha\"\ncommand = [\"sleep\", \"60\"]\n");
    let _b = agent(&run2, &two, "[[sidecar]]\nname = \"beta\"\ncommand = [\"sleep\", \"60\"]\n");
    let mut sockets = Vec::new();
    for run in [&run1, &run2] {
        wait_until(Duration::from_secs(20), "the agent's sidecar", || {
            let rows = all_status(run).0;
            rows.len() == 1 && rows[0]["pid"].is_u64()
        });
        sockets.push(all_status(run).0[0]["socket"].as_str().unwrap().to_string());
    }
    let tmux = common::tmux::Tmux::start(140, 40);
    tmux.type_line(&format!(
        "{} attach --socket {} --socket {}; echo attach-exited-$?",
        bin(),
        sockets[0],
        sockets[1]
    ));
    let screen = tmux.wait("both engines' sidecars", |s| {
        s.lines().any(|l| l.contains("/alpha") && l.contains("ready"))
            && s.lines().any(|l| l.contains("/beta") && l.contains("ready"))
    });
    assert!(screen.contains("2 engines"), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("attach-exited-0");
    assert!(screen.contains("detached from 2 engines"), "{screen}");
}

/// `attach --all --ssh HOST`: every engine on that host through one ssh connection (a
/// real sshd on 127.0.0.1 whose sessions see their own runtime folder), beside this
/// host's: a key acts on the remote sidecar's own engine, an engine started there while
/// attached joins, one killed there is marked lost and the others go on; a dropped
/// connection is tried again until the host answers.
#[test]
fn attach_all_over_ssh_shows_every_engine_of_that_host_through_one_connection() {
    let root = tempfile::tempdir().unwrap();
    let (here, there) = (root.path().join("run-here"), root.path().join("run-there"));
    let dirs: Vec<_> = ["one", "two", "three", "four"].iter().map(|d| root.path().join(d)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let sleeper = |name: &str| format!("[[sidecar]]\nname = \"{name}\"\ncommand = [\"sleep\", \"60\"]\n");
    let _alpha = agent(&here, &dirs[0], &sleeper("alpha"));
    let _beta = agent(&there, &dirs[1], &sleeper("beta"));
    let mut gamma = agent(&there, &dirs[2], &sleeper("gamma"));
    let mut rows = Vec::new();
    wait_until(Duration::from_secs(20), "the remote agents' sidecars", || {
        rows = all_status(&there).0;
        rows.len() == 2 && rows.iter().all(|r| r["pid"].is_u64())
    });
    let (beta, gamma_row) = (row(&rows, "beta"), row(&rows, "gamma"));
    let beta_engine = beta["engine"].as_str().unwrap().to_string();
    let gamma_engine = gamma_row["engine"].as_str().unwrap().to_string();

    let mut sshd = crate::attach::Sshd::start();
    // The remote sidetop: this binary, its sessions in the remote runtime folder.
    let remote = root.path().join("remote-sidetop");
    std::fs::write(
        &remote,
        format!("#!/bin/sh\nXDG_RUNTIME_DIR={} exec {} \"$@\"\n", there.display(), bin()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&remote, std::fs::Permissions::from_mode(0o755)).unwrap();
    // `ctl` over the same ssh: the reads of every engine there beside this host's, and
    // an action on one remote engine through `--ssh` alone.
    let path = format!("{}:{}", sshd.bin_dir.display(), std::env::var("PATH").unwrap());
    let ctl = |args: &[&str]| {
        Command::new(bin())
            .arg("ctl")
            .args(args)
            .args(["--remote-sidetop", remote.to_str().unwrap()])
            .env("PATH", &path)
            .env("XDG_RUNTIME_DIR", &here)
            .output()
            .unwrap()
    };
    let out = ctl(&["--all", "--ssh", "test-sshd", "--json", "status"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 3, "alpha here, beta and gamma there: {listed:?}");
    let remote_beta = row(&listed, "beta");
    assert_eq!(remote_beta["engine"], format!("test-sshd:{beta_engine}"), "{remote_beta}");
    assert_eq!(remote_beta["host"], "test-sshd", "{remote_beta}");
    assert!(row(&listed, "alpha")["socket"].is_string());
    let out = ctl(&["--all", "--ssh", "test-sshd", "logs", "gamma"]);
    assert!(out.status.success(), "a read from the remote engine that runs it: {out:?}");
    let gamma_socket = gamma_row["socket"].as_str().unwrap();
    let out = ctl(&["--ssh", "test-sshd", "--remote-socket", gamma_socket, "restart", "gamma"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = after_restart(&there, "gamma", &gamma_row["pid"], 2);
    assert_eq!(row(&after, "beta")["pid"], beta["pid"], "beta's engine untouched");
    let gamma_row = row(&after, "gamma");

    let tmux = common::tmux::Tmux::start(160, 40);
    tmux.type_line(&format!(
        "PATH={}:$PATH XDG_RUNTIME_DIR={} {} attach --all --ssh test-sshd --remote-sidetop {}; echo attach-exited-$?",
        sshd.bin_dir.display(),
        here.display(),
        bin(),
        remote.display()
    ));
    let (beta_row, gamma_name) =
        (format!("test-sshd:{beta_engine}/beta"), format!("test-sshd:{gamma_engine}/gamma"));
    let screen = tmux.wait("every engine's sidecars", |s| {
        s.contains(&beta_row) && s.contains(&gamma_name) && s.contains("/alpha")
    });
    assert!(screen.contains("3 engines on several hosts"), "{screen}");
    // This test's ssh client: the one reading this sshd's client config.
    let client = format!("ssh -F {}/ssh_config", sshd.bin_dir.parent().unwrap().display());
    let connections = Command::new("pgrep").args(["-c", "-f", &client]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&connections.stdout).trim(), "1", "one ssh connection for the host");

    // `r` on the remote beta restarts exactly it, in its own engine there.
    tmux.keys(&["/"]);
    tmux.type_line("beta");
    tmux.wait_for("1 shown");
    tmux.keys(&["r"]);
    let after = after_restart(&there, "beta", &beta["pid"], 2);
    assert_eq!(row(&after, "gamma")["pid"], gamma_row["pid"], "gamma's engine untouched");
    tmux.wait_for(&format!("restarted {beta_row}"));
    tmux.keys(&["Escape"]);

    // An engine started there while attached joins through the same connection.
    let _delta = agent(&there, &dirs[3], &sleeper("delta"));
    tmux.wait("the new remote engine's sidecar", |s| {
        s.lines().any(|l| l.contains("test-sshd:") && l.contains("/delta") && l.contains("ready"))
    });
    // A wrapper an application spawns there joins too.
    let echo = sidecars_dir().join("jsonrpc_echo.py").display().to_string();
    let mut wrapper = wrap_command(root.path(), &["--name", "echo"], &["python3", &echo]);
    let _wrapper = Killed(wrapper.env("XDG_RUNTIME_DIR", &there).spawn().unwrap());
    tmux.wait("the remote wrapper's sidecar", |s| {
        s.lines().any(|l| l.contains("test-sshd:wrap-echo-") && l.contains("/echo"))
    });
    // One killed there: lost with when; the rest go on.
    let _ = gamma.0.kill();
    let _ = gamma.0.wait();
    let screen =
        tmux.wait("gamma marked lost", |s| s.lines().any(|l| l.contains(&gamma_name) && l.contains("lost")));
    assert!(screen.lines().any(|l| l.contains(&beta_row) && l.contains("ready")), "{screen}");
    assert!(screen.lines().any(|l| l.contains("/alpha") && l.contains("ready")), "{screen}");

    // The connection drops while the host does not answer: its sidecars say they are
    // reconnecting, tries back off, and once it answers again they are ready again.
    sshd.stop_listening();
    let _ = Command::new("pkill").args(["-f", &client]).status();
    let screen = tmux.wait("beta reconnecting, after a failed try", |s| {
        s.lines().any(|l| l.contains(&beta_row) && l.contains("retrying") && l.contains("try 2"))
    });
    assert!(
        screen.lines().any(|l| l.contains("/alpha") && l.contains("ready")),
        "this host's goes on: {screen}"
    );
    sshd.listen_again();
    tmux.wait("beta ready again over a new connection", |s| {
        s.lines().any(|l| l.contains(&beta_row) && l.contains("ready"))
            && s.lines().any(|l| l.contains("/delta") && l.contains("ready"))
    });
    tmux.keys(&["q"]);
    tmux.wait_for("attach-exited-0");
    assert!(
        row(&all_status(&there).0, "beta")["pid"].is_u64(),
        "detaching leaves the remote sidecars running"
    );
}
