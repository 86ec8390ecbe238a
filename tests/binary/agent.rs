//! `sidetop agent` and `sidetop ctl` over a real unix socket: status, actions, logs and
//! events (followed too), exit codes, socket permissions and peer checks, stale sockets,
//! a second agent, slow clients, several clients at once, the stdio bridge.

use crate::common;

use common::agent::{Agent, ctl_on, spawn_agent, text};
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
[[sidecar]]
name = "talker"
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; echo warn $i >&2; sleep 0.2; done"]

[[sidecar]]
name = "sleeper"
command = ["sleep", "1000"]
"#;

#[test]
fn ctl_sees_and_drives_the_agents_sidecars() {
    let agent = Agent::start(CONFIG);
    wait_until(T, "both running", || agent.status().iter().all(|s| s["pid"].is_u64()));
    let human = text(&agent.ctl(&["status"]));
    assert!(human.starts_with("NAME") && human.contains("talker") && human.contains("sleeper"), "{human}");

    let before = agent.pid_of("sleeper").unwrap();
    assert!(agent.ctl(&["restart", "sleeper"]).status.success());
    wait_until(T, "a new pid", || agent.pid_of("sleeper").is_some_and(|p| p != before));

    assert!(agent.ctl(&["stop", "sleeper"]).status.success());
    wait_until(T, "stopped", || {
        agent.status().iter().any(|s| s["name"] == "sleeper" && s["state"] == "stopped")
    });
    // Signalling a stopped sidecar fails: exit 1.
    let out = agent.ctl(&["signal", "sleeper", "USR1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(agent.ctl(&["start", "sleeper"]).status.success());
    wait_until(T, "running again", || agent.pid_of("sleeper").is_some());

    let logs = text(&agent.ctl(&["logs", "talker", "-n", "3"]));
    assert!(logs.contains("talker  | line"), "{logs}");
    let stderr = text(&agent.ctl(&["logs", "talker", "--stderr", "-n", "2"]));
    assert!(stderr.lines().all(|l| l.contains("!| warn")), "{stderr}");
    let events = text(&agent.ctl(&["events", "--sidecar", "sleeper"]));
    assert!(events.contains("sleeper: restart requested") && events.contains("sleeper: stopped"), "{events}");
    let json_events = agent.ctl(&["--json", "events", "-n", "5"]);
    for line in String::from_utf8_lossy(&json_events.stdout).lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        assert!(e["at_ms"].is_u64() && e["text"].is_string(), "{e}");
    }
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("none.sock");
    assert_eq!(ctl_on(&nowhere, &["status"]).status.code(), Some(3), "no agent");
    let agent = Agent::start(CONFIG);
    assert_eq!(agent.ctl(&["restart", "nosuch"]).status.code(), Some(2), "unknown sidecar");
    assert_eq!(agent.ctl(&["signal", "talker", "SIGNOPE"]).status.code(), Some(2), "bad signal");
    assert_eq!(agent.ctl(&["frobnicate"]).status.code(), Some(2), "bad arguments");
    let out = agent.ctl(&["request", "talker", "--method", "x"]);
    assert_eq!(out.status.code(), Some(2), "no IPC: bad arguments: {}", text(&out));
    let out = agent.ctl(&["--read-only", "restart", "talker"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("read-only"));
}

#[test]
fn logs_and_events_follow_as_they_happen() {
    let agent = Agent::start(CONFIG);
    let mut follower = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(&agent.socket)
        .args(["logs", "-f", "talker", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let n = |l: &str| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    let second = lines.find(|l| l.as_ref().unwrap().contains("| line")).unwrap().unwrap();
    assert!(n(&second) > n(&first) || first.contains("warn"), "{first} / {second}");

    let mut events = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(&agent.socket)
        .args(["--json", "events", "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(events.stdout.take().unwrap());
    let (tx, event_lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    let next_event = |what: &str| -> Value {
        let line = event_lines.recv_timeout(T).unwrap_or_else(|_| panic!("no event followed: {what}"));
        serde_json::from_str(&line).unwrap()
    };
    // ctl says nothing once it follows: send harmless events (SIGCONT to the talker) until
    // one comes through, so the restart below happens while it follows.
    let deadline = Instant::now() + T;
    loop {
        assert!(Instant::now() < deadline, "ctl events -f never followed");
        let _ = agent.ctl(&["signal", "talker", "CONT"]);
        if event_lines.recv_timeout(Duration::from_millis(500)).is_ok() {
            break;
        }
    }
    assert!(agent.ctl(&["restart", "sleeper"]).status.success());
    let seen = loop {
        let event = next_event("restart requested");
        if event["text"] == "restart requested" {
            break event;
        }
    };
    assert_eq!(seen["sidecar"], "sleeper");
    for child in [&mut follower, &mut events] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn the_socket_is_private_and_other_users_are_refused() {
    let agent = Agent::start(CONFIG);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&agent.socket), 0o600);
    assert_eq!(mode(agent.socket.parent().unwrap()), 0o700);
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin(), "ctl", "--socket"])
            .arg(&agent.socket)
            .args(args)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["restart", "sleeper"]);
    assert!(!out.status.success(), "{}", text(&out));
    // Even with the file modes opened up, the peer check refuses another uid.
    for p in [agent.dir.path(), agent.socket.parent().unwrap()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&agent.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = agent.pid_of("sleeper");
    let out = as_nobody(&["restart", "sleeper"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refused"), "{}", text(&out));
    assert_eq!(agent.pid_of("sleeper"), before, "nothing happened");
}

#[test]
fn a_killed_agent_takes_its_sidecars_and_its_socket_is_replaced() {
    let mut agent = Agent::start(CONFIG);
    wait_until(T, "both running", || marked_pids(&agent.marker).len() >= 2);
    // A second agent on a live socket refuses, naming the one running.
    let second =
        spawn_agent(agent.dir.path(), CONFIG, &marker(), &agent.socket, &[]).wait_with_output().unwrap();
    assert!(!second.status.success());
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains(&format!("pid {}", agent.child.id())), "{why}");

    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    wait_until(T, "no sidecar left", || marked_pids(&agent.marker).is_empty());
    assert!(agent.socket.exists(), "a SIGKILLed agent leaves its socket");
    assert_eq!(agent.ctl(&["status"]).status.code(), Some(3), "stale: no agent");
    agent.child = spawn_agent(agent.dir.path(), CONFIG, &agent.marker, &agent.socket, &[]);
    agent.wait_listening();
}

#[test]
fn shutdown_stops_everything_and_the_agent_exits_0() {
    let mut agent = Agent::start(CONFIG);
    wait_until(T, "both running", || marked_pids(&agent.marker).len() >= 2);
    assert!(agent.ctl(&["shutdown"]).status.success());
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(status) = agent.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert!(marked_pids(&agent.marker).is_empty());
    assert!(!agent.socket.exists(), "a clean exit removes the socket");
}

#[test]
fn a_client_that_never_reads_does_not_stall_the_flood_or_the_others() {
    let agent = Agent::start(&format!(
        "{CONFIG}\n[[sidecar]]\nname = \"flood\"\nrestart = \"never\"\ncommand = [\"python3\", \"{{sidecars}}/test/numbered.py\", \"300000\", \"100\", \"0\"]\n"
    ));
    // Subscribes to everything, then never reads a byte.
    let mut stuck = std::os::unix::net::UnixStream::connect(&agent.socket).unwrap();
    writeln!(stuck, r#"{{"jsonrpc":"2.0","id":1,"method":"hello","params":{{"version":2}}}}"#).unwrap();
    writeln!(stuck, r#"{{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{{"logs":"*","events":true,"status":true}}}}"#).unwrap();
    wait_until(T, "the flood to finish", || {
        agent.status().iter().any(|s| s["name"] == "flood" && s["state"] == "exited" && s["lines"] == 300_001)
    });
    // Everyone else is served as usual.
    assert!(agent.ctl(&["restart", "sleeper"]).status.success());
    drop(stuck);
}

#[test]
fn two_clients_see_the_same_state_and_one_sees_the_others_action() {
    let agent = Agent::start(CONFIG);
    let mut watcher = std::os::unix::net::UnixStream::connect(&agent.socket).unwrap();
    writeln!(watcher, r#"{{"jsonrpc":"2.0","id":1,"method":"hello","params":{{"version":2}}}}"#).unwrap();
    writeln!(watcher, r#"{{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{{"status":true}}}}"#)
        .unwrap();
    let mut lines = BufReader::new(watcher.try_clone().unwrap()).lines();
    wait_until(T, "running", || agent.pid_of("sleeper").is_some());
    let before = agent.pid_of("sleeper").unwrap();
    assert!(agent.ctl(&["restart", "sleeper"]).status.success());
    let saw_new_pid = lines.any(|l| {
        let v: Value = serde_json::from_str(&l.unwrap()).unwrap();
        v["method"] == "status"
            && v["params"]["sidecars"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "sleeper" && s["pid"].as_u64().is_some_and(|p| p != before))
    });
    assert!(saw_new_pid);
}

/// At fleet size a status push must not be the whole list each time: the first is every
/// sidecar, a restart sends only that sidecar, and idle sample rounds send nothing (the
/// uptimes count on in the client); sample rounds leave out figures that did not move.
/// Before, a new subscriber got one whole list per
/// sidecar, 15 ms apart (15 s of 240 KB pushes at 1,000 sidecars), and one a second after.
#[test]
fn status_and_sample_pushes_carry_only_what_changed() {
    let toml: String = (0..40)
        .map(|i| format!("[[sidecar]]\nname = \"s{i:02}\"\ncommand = [\"sleep\", \"1000\"]\n"))
        .collect();
    let agent = Agent::running(&toml);
    let mut watcher = std::os::unix::net::UnixStream::connect(&agent.socket).unwrap();
    writeln!(watcher, r#"{{"jsonrpc":"2.0","id":1,"method":"hello","params":{{"version":2}}}}"#).unwrap();
    writeln!(
        watcher,
        r#"{{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{{"status":true,"samples":true}}}}"#
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let (samples_tx, samples) = std::sync::mpsc::channel::<Value>();
    let reader = watcher.try_clone().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line).unwrap();
            let to = if v["method"] == "status" { &tx } else { &samples_tx };
            if v["method"].is_string() && to.send(v["params"].clone()).is_err() {
                return;
            }
        }
    });
    let first = rx.recv_timeout(T).unwrap();
    assert_eq!(first["sidecars"].as_array().unwrap().len(), 40, "{first}");
    assert!(first.get("partial").is_none(), "{first}");
    // Three sample rounds of a quiet fleet: nothing to say.
    let quiet: Vec<Value> = rx.recv_timeout(Duration::from_millis(3200)).into_iter().collect();
    assert!(quiet.is_empty(), "status pushed while nothing changed: {quiet:?}");
    // Samples too: every sidecar's first, then only figures that moved (sleepers' stay).
    let rounds: Vec<Value> = samples.try_iter().collect();
    assert!(rounds.len() >= 3, "{rounds:?}");
    assert_eq!(rounds[0]["sidecars"].as_array().unwrap().len(), 40, "{}", rounds[0]);
    assert!(rounds[0].get("partial").is_none());
    let later = &rounds[1..];
    assert!(later.iter().all(|r| r["partial"] == true), "{later:?}");
    let sent: usize = later.iter().map(|r| r["sidecars"].as_array().unwrap().len()).sum();
    assert!(sent < 40 * later.len() / 2, "{sent} samples in {} partial rounds of 40 sleepers", later.len());
    let before = agent.pid_of("s07").unwrap();
    assert!(agent.ctl(&["restart", "s07"]).status.success());
    let deadline = Instant::now() + T;
    loop {
        let push = rx.recv_timeout(deadline - Instant::now()).expect("a status push for the restart");
        assert_eq!(push["partial"], true, "{push}");
        let names: Vec<&str> =
            push["sidecars"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["s07"], "only the restarted sidecar: {push}");
        if push["sidecars"][0]["pid"].as_u64().is_some_and(|p| p != before) {
            break;
        }
    }
}

#[test]
fn the_bridge_relays_the_protocol_over_stdio() {
    let agent = Agent::start(CONFIG);
    let mut bridge = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(&agent.socket)
        .arg("bridge")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = bridge.stdin.take().unwrap();
    writeln!(input, r#"{{"jsonrpc":"2.0","id":1,"method":"hello","params":{{"version":2}}}}"#).unwrap();
    writeln!(input, r#"{{"jsonrpc":"2.0","id":2,"method":"status"}}"#).unwrap();
    let mut lines = BufReader::new(bridge.stdout.take().unwrap()).lines();
    let hello: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(hello["result"]["version"], 2);
    let status: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(status["result"]["sidecars"].as_array().unwrap().len(), 2);
    drop(input);
    assert!(bridge.wait().unwrap().success());
}

#[test]
fn ctl_finds_the_agent_of_a_config_without_flags_and_lists_it() {
    let runtime = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = marker();
    let config = write_config(dir.path(), CONFIG, &m);
    let with_env = |cmd: &mut Command| {
        cmd.env("XDG_RUNTIME_DIR", runtime.path());
    };
    let mut agent = Command::new(bin());
    agent.args(["agent", "--config"]).arg(&config).arg("--log-dir").arg(dir.path().join("logs"));
    agent.stdout(Stdio::null()).stderr(Stdio::null());
    with_env(&mut agent);
    let mut agent = agent.spawn().unwrap();
    let ctl = |args: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.arg("ctl").arg("--config").arg(&config).args(args);
        with_env(&mut cmd);
        cmd.output().unwrap()
    };
    wait_until(T, "the agent on its default socket", || ctl(&["status"]).status.success());
    // Beside it, its claim (NAME.sock.lock, see server::claim).
    let sockets: Vec<_> = std::fs::read_dir(runtime.path().join("sidetop"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "sock"))
        .collect();
    assert_eq!(sockets.len(), 1, "one socket, named after the config");
    assert!(sockets[0].file_name().to_string_lossy().starts_with("sidetop-"));
    let listed = ctl(&["--json", "list"]);
    let entry: Value =
        serde_json::from_str(String::from_utf8_lossy(&listed.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(entry["pid"], agent.id());
    assert!(entry["config"].as_str().unwrap().ends_with("sidetop.toml"), "{entry}");
    agent.kill().unwrap();
    agent.wait().unwrap();
    let listed = String::from_utf8_lossy(&ctl(&["list"]).stdout).into_owned();
    assert!(listed.contains("stale"), "{listed}");
}

#[test]
fn ctl_request_sends_one_request_through_the_agent() {
    let agent = Agent::start(&format!(
        "{CONFIG}\n[[sidecar]]\nname = \"echo\"\ncommand = [\"python3\", \"-u\", \"{{sidecars}}/jsonrpc_echo.py\"]\n[sidecar.ipc]\nprotocol = \"jsonrpc\"\n"
    ));
    wait_until(T, "echo running", || agent.pid_of("echo").is_some());
    let out = agent.ctl(&["request", "echo", "--method", "echo", "--params", r#"{"hello": "agent"}"#]);
    assert!(out.status.success(), "{}", text(&out));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["result"]["hello"], "agent", "{reply}");
    let out = agent.ctl(&["--json", "request", "echo", "--method", "fail"]);
    assert_eq!(out.status.code(), Some(1), "an error reply fails: {}", text(&out));
    let reply: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(reply["ok"], false);
    assert!(reply["outcome"].as_str().unwrap().contains("requested failure"), "{reply}");
    let out = agent.ctl(&["request", "echo", "--method", "echo", "--params", "{not json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A request to a sidecar that died says why, in the sidecar's own words: how it ended and
/// its last stderr lines.
#[test]
fn a_request_to_a_dead_sidecar_quotes_its_last_stderr() {
    let agent = Agent::start(
        r#"
[[sidecar]]
name = "broken"
restart = "never"
command = ["sh", "-c", "echo starting; echo 'ModuleNotFoundError: No module named mcp' >&2; exit 1"]
[sidecar.ipc]
protocol = "jsonrpc"
"#,
    );
    wait_until(T, "broken to exit", || agent.status().iter().any(|s| s["state"] == "exited"));
    let out = agent.ctl(&["request", "broken", "--method", "ping"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    assert!(
        err.contains("the sidecar exited (exit code 1) after")
            && err.contains("its last stderr: ModuleNotFoundError: No module named mcp"),
        "{err}"
    );
}

#[test]
fn a_request_to_a_sidecar_that_never_listens_quotes_its_stderr() {
    let agent = Agent::start(
        r#"
[[sidecar]]
name = "web"
command = ["sh", "-c", "echo 'error: cannot bind 127.0.0.1:1: permission denied' >&2; exec sleep 30"]
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:1"
timeout = "500ms"
"#,
    );
    wait_until(T, "web to run", || agent.pid_of("web").is_some());
    let out = agent.ctl(&["request", "web", "--path", "/health"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    assert!(
        err.contains("Connection refused")
            && err.contains(
                "the sidecar is starting; its last stderr: error: cannot bind 127.0.0.1:1: permission denied"
            ),
        "{err}"
    );
}

/// The agent's own stdout on a pipe that nobody reads (a stopped `less`, a stalled ssh
/// session) must not stop its sidecars: the printer falls behind alone, and once stdout
/// is read again it says how many lines it skipped. It once blocked every sidecar's
/// write after a few hundred lines.
#[test]
fn an_unread_stdout_never_slows_the_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker();
    let socket = dir.path().join("agent.sock");
    let line = "0123456789".repeat(10);
    let toml = format!(
        "[[sidecar]]\nname = \"flood\"\ncommand = [\"sh\", \"-c\", \"yes {line} | head -n 100000; while true; do echo tick; sleep 0.2; done\"]\n"
    );
    let config = write_config(dir.path(), &toml, &m);
    let mut child = Command::new(bin())
        .args(["agent", "--config"])
        .arg(&config)
        .arg("--socket")
        .arg(&socket)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = || -> u64 {
        let out = ctl_on(&socket, &["--json", "status"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|s| s["lines"].as_u64())
            .unwrap_or(0)
    };
    // 100,000 lines of 100 bytes: far beyond a pipe and the printer's budget.
    wait_until(Duration::from_secs(30), "every line captured while stdout is unread", || lines() > 100_000);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("lines not printed: the output fell behind") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let said = rx.recv_timeout(T).expect("the printer says what it skipped");
    let skipped: u64 = said.split_whitespace().nth(2).and_then(|n| n.parse().ok()).unwrap();
    assert!(skipped > 10_000 && skipped < 100_000, "{said}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Two agents started at the same moment on a stale socket: one serves it, the other
/// refuses to start, and the socket that stays is the server's. Both could once find it
/// stale, and the second removed the first one's fresh socket.
#[test]
fn two_agents_racing_for_a_stale_socket_leave_one_serving() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let m = marker();
        let socket = dir.path().join("run").join("agent.sock");
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        std::fs::set_permissions(socket.parent().unwrap(), std::fs::Permissions::from_mode(0o700)).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap()); // left behind: stale
        let toml = "[[sidecar]]\nname = \"s\"\ncommand = [\"sleep\", \"1000\"]\n";
        let mut a = spawn_agent(dir.path(), toml, &m, &socket, &[]);
        let mut b = spawn_agent(dir.path(), toml, &m, &socket, &[]);
        // One of them exits with its reason; the other keeps serving.
        let deadline = Instant::now() + T;
        let (mut loser, mut winner) = loop {
            if a.try_wait().unwrap().is_some() {
                break (a, b);
            }
            if b.try_wait().unwrap().is_some() {
                break (b, a);
            }
            assert!(Instant::now() < deadline, "round {round}: both agents run on one socket");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(loser.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(!loser.wait().unwrap().success());
        assert!(err.contains("another sidetop"), "round {round}: {err}");
        let out = ctl_on(&socket, &["--json", "status"]);
        assert!(out.status.success(), "round {round}: the socket left is the server's: {}", text(&out));
        let _ = winner.kill();
        let _ = winner.wait();
    }
}

/// Plays systemd's side of `Type=notify`: a datagram socket as `NOTIFY_SOCKET`, a pipe
/// as the journal (`JOURNAL_STREAM`), a watchdog, a `RuntimeDirectory`.
#[test]
fn under_systemd_the_agent_notifies_ready_reloading_stopping_and_the_watchdog() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let runtime_dir = dir.path().join("runtime");
    std::fs::create_dir(&runtime_dir).unwrap();
    let config = write_config(
        dir.path(),
        r#"
[[sidecar]]
name = "slow"
command = ["sh", "-c", "sleep 1.5; echo listening now; exec sleep 60"]
[sidecar.health]
ready_log = "listening"

[[sidecar]]
name = "grumbler"
command = ["sh", "-c", "echo grumble >&2; exec sleep 60"]

[[sidecar]]
name = "manual"
command = ["sleep", "60"]
autostart = false
"#,
        &marker(),
    );
    let (journal_read, journal_write) = std::io::pipe().unwrap();
    let journal = std::fs::File::from(std::os::fd::OwnedFd::from(journal_read));
    let meta = journal.metadata().unwrap();
    let started = Instant::now();
    let mut agent = Command::new(bin())
        .args(["agent", "--config"])
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "400000")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("RUNTIME_DIRECTORY", &runtime_dir)
        .stdout(Stdio::from(journal_write))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal_lines = std::thread::spawn(move || {
        BufReader::new(journal).lines().map_while(Result::ok).collect::<Vec<String>>()
    });
    let mut heard: Vec<(Duration, String)> = Vec::new();
    let listen_until = |heard: &mut Vec<(Duration, String)>, what: &str, done: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + T;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = notify.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).to_string();
                heard.push((started.elapsed(), message.clone()));
                if done(&message) {
                    return message;
                }
            }
        }
        panic!("never heard {what}; heard {heard:#?}");
    };

    let ready = listen_until(&mut heard, "READY=1", &|m| m.lines().any(|l| l == "READY=1"));
    let at = heard.last().unwrap().0;
    assert!(at >= Duration::from_millis(1400), "READY=1 only once slow printed its ready line: at {at:?}");
    assert!(ready.contains("STATUS=3 sidecars: 1 idle, 2 ready"), "{ready}");
    assert!(
        heard.iter().any(|(_, m)| m.contains("STATUS=") && m.contains("starting")),
        "the counts while starting were said: {heard:#?}"
    );
    // The socket went to the unit's runtime folder.
    let socket = std::fs::read_dir(&runtime_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sock"))
        .expect("the agent's socket in $RUNTIME_DIRECTORY");
    assert_eq!(ctl_on(&socket, &["status"]).status.code(), Some(0));

    // WATCHDOG_USEC = 400 ms: a ping every 200 ms, so three within well under 1.5 s.
    let since = Instant::now();
    for _ in 0..3 {
        listen_until(&mut heard, "WATCHDOG=1", &|m| m == "WATCHDOG=1");
    }
    assert!(since.elapsed() < Duration::from_millis(1500), "three watchdog pings took {:?}", since.elapsed());

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(agent.id() as i32), nix::sys::signal::Signal::SIGHUP)
        .unwrap();
    let reloading = listen_until(&mut heard, "RELOADING=1", &|m| m.starts_with("RELOADING=1"));
    assert!(reloading.contains("\nMONOTONIC_USEC="), "{reloading}");
    listen_until(&mut heard, "READY=1 after the reload", &|m| m.lines().any(|l| l == "READY=1"));

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(agent.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    listen_until(&mut heard, "STOPPING=1", &|m| m == "STOPPING=1");
    assert!(agent.wait().unwrap().success());

    let lines = journal_lines.join().unwrap();
    let find = |needle: &str| lines.iter().find(|l| l.contains(needle)).cloned().unwrap_or_default();
    assert!(find("listening now").starts_with("<6>"), "stdout lines are info: {lines:#?}");
    assert!(find("!| grumble").starts_with("<4>"), "stderr lines are warnings: {lines:#?}");
    assert!(find("slow: ready").starts_with("<5>"), "events are notices: {lines:#?}");
}

/// The unit file the README gives is the one in config/, and systemd accepts it.
#[test]
fn the_systemd_unit_in_the_readme_verifies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("config/sidetop.service")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let body: String = unit.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    assert!(readme.contains(&body), "README shows config/sidetop.service (without its comments)");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG, &marker());
    let unit = unit
        .replace("/usr/local/bin/sidetop", bin())
        .replace("/etc/sidetop/sidetop.toml", config.to_str().unwrap());
    let path = dir.path().join("sidetop.service");
    std::fs::write(&path, unit).unwrap();
    let out =
        Command::new("systemd-analyze").arg("verify").arg(&path).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "systemd-analyze verify: {}", text(&out));
}

#[test]
fn a_sidecar_whose_needs_are_missing_stays_idle_and_says_how_to_enable_it() {
    let agent = Agent::start(
        r#"
[[sidecar]]
name = "needy"
command = ["sleep", "1000"]
[sidecar.needs]
exec = ["python3", "-c", "import no_such_module_of_sidetop"]
hint = "pip install no-such-module, then start it"

[[sidecar]]
name = "content"
command = ["sleep", "1000"]
[sidecar.needs]
exec = ["true"]
"#,
    );
    wait_until(T, "content running, needy left idle", || {
        let status = agent.status();
        let of = |name: &str| status.iter().find(|s| s["name"] == name).cloned().unwrap_or_default();
        of("content")["pid"].is_u64() && of("needy")["error"].is_string()
    });
    let status = agent.status();
    let needy = status.iter().find(|s| s["name"] == "needy").unwrap();
    assert_eq!(needy["state"], "idle", "{needy}");
    assert!(needy["pid"].is_null(), "never spawned: {needy}");
    let error = needy["error"].as_str().unwrap();
    assert!(
        error.starts_with("not started: pip install no-such-module, then start it (")
            && error.contains("No module named 'no_such_module_of_sidetop'"),
        "the hint, then the check's own words: {error}"
    );
    let events = text(&agent.ctl(&["events", "--sidecar", "needy"]));
    assert!(events.contains("needy: not started: pip install no-such-module"), "{events}");
    // An operator may still start it: the check only decides for starts on its own.
    assert_eq!(agent.ctl(&["start", "needy"]).status.code(), Some(0));
    wait_until(T, "needy started by hand", || agent.pid_of("needy").is_some());
}

/// `cargo run --release` on a fresh clone: every example sidecar comes up running or
/// ready (with the test venv's packages the gRPC one too), none exited or crash-looping.
#[test]
fn the_default_config_comes_up_all_green() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut child = Command::new(bin())
        .args(["agent", "--config"])
        .arg(root.join("config/sidetop.toml"))
        .arg("--socket")
        .arg(&socket)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let statuses = || -> Vec<Value> {
        let out = ctl_on(&socket, &["--json", "status"]);
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    };
    let green = |s: &Value| s["state"] == "ready" || s["state"] == "running";
    let deadline = Instant::now() + T;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = statuses();
        if last.len() > 10 && last.iter().all(green) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // And it stays so: nothing exits or crash-loops in the first seconds.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && last.iter().all(green) {
        std::thread::sleep(Duration::from_millis(200));
        last = statuses();
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let _ = child.wait();
    let not_green: Vec<String> = last
        .iter()
        .filter(|s| !green(s))
        .map(|s| format!("{} {} {}", s["name"], s["state"], s["error"]))
        .collect();
    assert!(last.len() > 10 && not_green.is_empty(), "not green: {not_green:#?}");
}

/// Five descriptors a sidecar: under the usual soft limit an agent of a few hundred
/// sidecars failed the rest with EMFILE. The agent raises its soft limit to the hard
/// one, and its children get the limit it was started with.
#[test]
fn an_agent_started_under_a_low_open_file_limit_runs_every_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let toml: String = (0..80)
        .map(|i| format!("[[sidecar]]\nname = \"s{i:02}\"\ncommand = [\"sleep\", \"1000\"]\n"))
        .collect();
    let marker = marker();
    let config = write_config(dir.path(), &toml, &marker);
    let socket = dir.path().join("agent.sock");
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -Sn 200 && exec "$0" agent --config "$1" --socket "$2" --log-dir "$3""#)
        .arg(bin())
        .arg(&config)
        .arg(&socket)
        .arg(dir.path().join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed with its sidecars however the test ends.
    let agent = Agent { child, socket, config, dir, marker };
    wait_until(T, "80 sidecars running under a soft limit of 200 descriptors", || {
        let s = agent.status();
        s.len() == 80 && s.iter().all(|s| s["pid"].is_u64())
    });
    let limits = |pid: u64| std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft = |text: &str| -> String {
        let line = text.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
        line.split_whitespace().nth(3).unwrap().to_string()
    };
    assert_ne!(soft(&limits(agent.child.id().into())), "200", "the agent raised its own");
    let child = agent.pid_of("s42").unwrap();
    assert_eq!(soft(&limits(child)), "200", "a sidecar gets the limit the agent was given");
}
