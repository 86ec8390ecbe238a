//! The `sidetop` binary as a person or a script runs it: `check`, bad configs, headless
//! output, and what happens to sidecars when sidetop is signalled or SIGKILLed.

use crate::common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn sidetop(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).env("SIDETOP_LOG", "debug");
    cmd
}

#[test]
fn check_lists_the_default_config() {
    let out = sidetop(&["check"]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("config/sidetop.toml: "), "{text}");
    for name in ["chatty", "crashy", "stubborn", "forker"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from\n{text}");
    }
}

/// Each mistake: (config text, expected `line:col`, a fragment of the message).
const BAD_CONFIGS: &[(&str, &str, &str)] = &[
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\nrestrat = \"always\"\n",
        ":4:1: sidecar[0]",
        "unknown field `restrat`",
    ),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\nautostart = \"yes\"\n",
        ":4:13: sidecar[0].autostart",
        "invalid type",
    ),
    ("[[sidecar]]\nname = \"a\"\n", ":1:1: sidecar[0]", "has no `command`"),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\nstop_timeout = \"soon\"\n",
        ":4:16: sidecar[0].stop_timeout",
        "invalid duration",
    ),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\nstop_signal = \"SIGSTAHP\"\n",
        ":4:15: sidecar[0].stop_signal",
        "unknown signal",
    ),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\n[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\n",
        ":5:8: sidecar[1].name",
        "duplicate sidecar name",
    ),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\ndepends_on = [\"b\"]\n",
        ":4:15: sidecar[0].depends_on[0]",
        "unknown sidecar \"b\"",
    ),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\ndepends_on = [\"b\"]\n[[sidecar]]\nname = \"b\"\ncommand = [\"true\"]\ndepends_on = [\"a\"]\n",
        ":8:15: sidecar[1].depends_on[0]",
        "dependency cycle: a -> b -> a",
    ),
    ("[[sidecar]]\nname = \"a\"\ncommand = \"echo hi\"\n", ":3:11: sidecar[0].command", "set `shell = true`"),
    ("[[sidecar]\nname = \"a\"\n", ":1:", "unclosed array table"),
    (
        "[[sidecar]]\nname = \"a\"\ncommand = [\"true\"]\nrestart = \"sometimes\"\n",
        ":4:11: sidecar[0].restart",
        "unknown variant `sometimes`",
    ),
];

#[test]
fn bad_configs_name_file_line_column_and_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, place, message)) in BAD_CONFIGS.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        for args in [vec!["check"], vec!["--headless"]] {
            let mut full = args.clone();
            full.extend(["--config", path.to_str().unwrap()]);
            let out = sidetop(&full).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} on {text:?}: {stderr}");
            let expected = format!("error: {}{place}", path.display());
            assert!(stderr.starts_with(&expected), "{args:?}: expected {expected:?} in\n{stderr}");
            assert!(stderr.contains(message), "expected {message:?} in\n{stderr}");
            assert!(out.stdout.is_empty(), "nothing started or printed on stdout");
        }
    }
}

#[test]
fn unreadable_and_missing_config_exit_2() {
    let out = sidetop(&["check", "--config", "/nonexistent/x.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent/x.toml: cannot read config: No such file")
    );
    let dir = tempfile::tempdir().unwrap();
    let out = sidetop(&["--headless", "--config", dir.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a directory is not a config file");
}

/// `sidetop --headless --exit-when-done` run to its end.
fn headless_to_completion(config: &std::path::Path, log_dir: &std::path::Path) -> std::process::Output {
    let mut args = vec!["--headless", "--exit-when-done", "--config"];
    args.extend([config.to_str().unwrap(), "--log-dir", log_dir.to_str().unwrap()]);
    sidetop(&args).output().unwrap()
}

/// A headless sidetop whose stdout lines arrive on a channel.
struct Headless {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Headless {
    fn drop(&mut self) {
        // A failed assertion must not leave this sidetop (and its sidecars) running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Headless {
    fn start(toml: &str, marker: &str) -> Headless {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), toml, marker);
        let log_dir = dir.path().join("own-logs");
        let mut child = sidetop(&[
            "--headless",
            "--config",
            path.to_str().unwrap(),
            "--log-dir",
            log_dir.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Headless { child, lines, seen: Vec::new(), _dir: dir }
    }

    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no line with {needle:?} in:\n{}", self.seen.join("\n"));
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sidetop did not exit in {timeout:?}:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

const FAMILY: &str = r#"
[[sidecar]]
name = "forker"
command = ["sh", "{sidecars}/forker.sh"]

[[sidecar]]
name = "stubborn"
command = ["sh", "{sidecars}/stubborn.sh"]
stop_timeout = "1s"

[[sidecar]]
name = "escaper"
command = ["sh", "-c", "setsid sleep 1000 & exec sleep 1000"]

[[sidecar]]
name = "talker"
command = ["sh", "-c", "echo 'to stdout'; echo 'to stderr' >&2; printf '\\033]0;pwned\\007\\033[2Jclear \\033[31mred\\033[0m\\n'; exec sleep 1000"]
"#;

#[test]
fn headless_prints_lines_and_events_and_exits_0_on_sigterm_with_no_children_left() {
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let m = marker();
        let mut h = Headless::start(FAMILY, &m);
        let started = h.wait_for("talker: started (pid ");
        assert!(
            started.len() > 13 && started.as_bytes()[2] == b':' && started.as_bytes()[8] == b'.',
            "timestamp: {started}"
        );
        let out = h.wait_for("to stdout");
        assert!(out.ends_with(" talker    | to stdout"), "{out:?}");
        let err = h.wait_for("to stderr");
        assert!(err.ends_with(" talker   !| to stderr"), "{err:?}");
        let red = h.wait_for("red");
        assert!(red.ends_with(" talker    | clear \x1b[31mred\x1b[0m"), "only SGR survives: {red:?}");
        h.wait_for("forker    | forker: pid");
        // Printed after its `trap '' TERM`: from here on it really ignores SIGTERM.
        h.wait_for("ignoring SIGTERM");
        assert!(marked_pids(&m).len() >= 4);

        let begun = Instant::now();
        h.signal(signal);
        let status = h.wait_exit(Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "{signal}: {}", h.stderr());
        assert!(begun.elapsed() < Duration::from_millis(1000 + 1500), "longest grace (1s) plus slack");
        h.wait_for("stubborn: still running 1s after stop: sent SIGKILL");
        h.wait_for("forker: stopped");
        assert!(none_left(&m), "{signal}: left behind {:?}", marked_pids(&m));
    }
}

#[test]
fn sigkilled_sidetop_leaves_no_sidecar_or_grandchild_alive() {
    let m = marker();
    // Ten sidecars: the family above and six more that each start a grandchild.
    let mut config = FAMILY.to_string();
    for i in 0..6 {
        config.push_str(&format!(
            "[[sidecar]]\nname = \"forker{i}\"\ncommand = [\"sh\", \"{{sidecars}}/forker.sh\"]\n"
        ));
    }
    let mut h = Headless::start(&config, &m);
    for i in 0..6 {
        h.wait_for(&format!("forker{i}: started"));
    }
    h.wait_for("forker    | forker: pid");
    h.wait_for("stubborn  | stubborn: pid");
    h.wait_for("talker: started");
    wait_until(Duration::from_secs(10), "10 sidecars and their grandchildren (18 processes)", || {
        marked_pids(&m).len() >= 18
    });
    // The helper was forked by `main` (same command line, no `__deathwatch` exec), is
    // sidetop's child, and leads its own process group.
    let me = h.child.id();
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let helpers: Vec<u32> = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children"))
        .unwrap()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sidetop-watch")
        })
        .collect();
    assert_eq!(helpers.len(), 1, "one death-watch helper, a child of sidetop's main thread");
    assert_eq!(cmdline(helpers[0]), cmdline(me), "forked, not exec'd");
    assert_eq!(
        nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(helpers[0] as i32))).unwrap().as_raw() as u32,
        helpers[0]
    );
    // No pause needed: the death-watch helper finds the processes that left their group
    // (the escaper's `setsid sleep`) when sidetop dies.
    h.signal(nix::sys::signal::Signal::SIGKILL);
    h.wait_exit(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !marked_pids(&m).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(none_left(&m), "alive 2s after SIGKILL: {:?}", marked_pids(&m));
}

#[test]
fn exit_when_done_returns_after_the_last_sidecar_settles() {
    let m = marker();
    let mut h = Headless::start(
        "[[sidecar]]\nname = \"once\"\ncommand = [\"sh\", \"-c\", \"echo done\"]\nrestart = \"never\"\n",
        &m,
    );
    drop(h.child.stdin.take());
    // Not --exit-when-done: still running after the sidecar exits.
    h.wait_for("once: exited: exit code 0");
    // Something that must not happen: give it a moment to (not) happen.
    std::thread::sleep(Duration::from_millis(300));
    assert!(h.child.try_wait().unwrap().is_none());
    h.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(h.wait_exit(Duration::from_secs(5)).success());

    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[[sidecar]]\nname = \"once\"\ncommand = [\"sh\", \"-c\", \"echo done\"]\nrestart = \"never\"\n",
        &m,
    );
    let out = headless_to_completion(&path, dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("once  | done") && text.contains("once: exited: exit code 0"), "{text}");
}

const REQUEST_CONFIG: &str = r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
depends_on = ["helper"]
[sidecar.ipc]
protocol = "jsonrpc"
[[sidecar.request]]
name = "hello"
method = "echo"
params = { hello = "world" }
[[sidecar.request]]
name = "fail"
method = "fail"

[[sidecar]]
name = "helper"
command = ["sleep", "30"]

[[sidecar]]
name = "unrelated"
command = ["sh", "-c", "echo UNRELATED-STARTED; exec sleep 30"]

[[sidecar]]
name = "plain"
command = ["sleep", "30"]
autostart = false
"#;

fn request(args: &[&str], marker: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), REQUEST_CONFIG, marker);
    let mut full = vec!["request"];
    full.extend(args);
    full.extend(["--config", path.to_str().unwrap(), "--log-dir", dir.path().to_str().unwrap()]);
    (sidetop(&full).output().unwrap(), dir)
}

#[test]
fn request_prints_the_reply_and_exits_0() {
    let m = marker();
    let (out, _dir) = request(&["echo"], &m);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reply: serde_json::Value = serde_json::from_str(&stdout).expect("pretty JSON on stdout");
    assert_eq!(reply["result"], serde_json::json!({"hello": "world"}));
    assert!(stdout.contains("\n  \"result\": {\n    \"hello\": \"world\"\n  }"), "pretty-printed: {stdout}");
    assert!(stderr.contains("echo -> echo ") && stderr.trim_end().ends_with(" ok"), "{stderr}");
    assert!(none_left(&m), "everything stopped afterwards");

    let (out, _dir) = request(&["echo", "--method", "sleep", "--params", r#"{"ms": 1, "tag": "t"}"#], &m);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"tag\": \"t\""));
}

#[test]
fn request_exits_1_when_the_sidecar_answers_with_an_error() {
    let m = marker();
    let (out, _dir) = request(&["echo", "--template", "fail"], &m);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"message\": \"requested failure\""), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error -32000: requested failure"));
}

#[test]
fn request_load_prints_a_summary() {
    let m = marker();
    let (out, _dir) = request(&["echo", "--method", "ping", "-n", "300", "-c", "8"], &m);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("300 requests in "), "{text}");
    assert!(
        text.contains("outcomes: 300 ok") && text.contains("latency: p50 ") && text.contains(" | #"),
        "{text}"
    );
}

#[test]
fn request_starts_only_the_sidecar_and_its_dependencies() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), REQUEST_CONFIG, &m);
    let mut child =
        sidetop(&["request", "echo", "--method", "sleep", "--params", r#"{"ms": 1500}"#, "--config"])
            .arg(&path)
            .arg("--log-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let cmdlines = || -> Vec<String> {
        marked_pids(&m)
            .iter()
            .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .collect()
    };
    // Watch what runs from the launch until the request is answered (it takes 1.5 s): the
    // sidecar and its dependency come up, and nothing else ever does. `unrelated` is
    // `sh -c "echo UNRELATED-STARTED; ..."` until it execs `sleep 30`, the helper's command.
    let mut both_seen = false;
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let cmdlines = cmdlines();
        assert!(!cmdlines.iter().any(|c| c.contains("UNRELATED")), "{cmdlines:?}");
        let sleeps = cmdlines.iter().filter(|c| c.trim() == "sleep 30").count();
        assert!(sleeps <= 1, "only the dependency runs `sleep 30`: {cmdlines:?}");
        both_seen |= sleeps == 1 && cmdlines.iter().any(|c| c.contains("jsonrpc_echo.py"));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("sidetop request did not finish; running: {cmdlines:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(both_seen, "the sidecar and its dependency never ran together");
    assert!(status.success());
}

#[test]
fn request_refuses_bad_arguments_with_exit_2_and_starts_nothing() {
    let m = marker();
    let cases: &[(&[&str], &str)] = &[
        (
            &["echo", "--method", "echo", "--params", "{not json"],
            "invalid JSON in --params: key must be a string at line 1 column 2",
        ),
        (&["echo", "--method", "echo", "--params", "42"], "--params must be a JSON object or array"),
        (&["echo", "--template", "nope"], "echo has no request template \"nope\" (templates: hello, fail)"),
        (&["echo", "--value", "{}"], "--value does not apply: this sidecar speaks JSON-RPC"),
        (&["plain"], "plain has no [sidecar.ipc]"),
        (&["ghost"], "no sidecar named \"ghost\""),
    ];
    for (args, message) in cases {
        let (out, _dir) = request(args, &m);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr}");
        assert!(none_left(&m));
    }
}

#[test]
fn own_log_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[[sidecar]]\nname = \"once\"\ncommand = [\"true\"]\nrestart = \"never\"\n",
        &m,
    );
    let log_dir = dir.path().join("state/sidetop");
    let out = headless_to_completion(&path, &log_dir);
    assert!(out.status.success());
    assert_eq!(std::fs::metadata(&log_dir).unwrap().permissions().mode() & 0o777, 0o700);
    let logs: Vec<_> = std::fs::read_dir(&log_dir).unwrap().flatten().collect();
    assert!(logs.iter().any(|e| e.file_name().to_string_lossy().starts_with("sidetop.log")), "{logs:?}");
}

/// `--sample-interval 0` once made the sampler spin; below 100 ms is refused before
/// anything starts, with the reason.
#[test]
fn a_sample_interval_below_100ms_is_refused() {
    for interval in ["0", "0s", "10ms"] {
        let out = sidetop(&["--headless", "--sample-interval", interval]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{interval}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--sample-interval") && err.contains("at least 100ms"), "{err}");
    }
}

/// The panic policy in headless mode: a panicked task ends sidetop with status 101 and
/// its message, and takes the sidecars along (the death watch), instead of running on
/// with a dead part.
#[test]
fn a_panic_in_a_task_ends_headless_with_101_and_no_sidecar_left() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[sidecar]]\nname = \"parent\"\ncommand = [\"sh\", \"-c\", \"sleep 60 & wait\"]\n",
        &m,
    );
    let child = sidetop(&["--headless", "--config"])
        .arg(&config)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .env("RUST_BACKTRACE", "0")
        .env("SIDETOP_TEST_PANIC_IN_TASK_AFTER_MS", "1000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(15), "the sidecar and its child", || marked_pids(&m).len() == 2);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(101));
    assert!(String::from_utf8_lossy(&out.stderr).contains("panic in a task requested"));
    wait_until(Duration::from_secs(5), "no sidecar left", || marked_pids(&m).is_empty());
}

/// Runs the completion function the bash script registers, as bash does on TAB, and
/// returns what it offers.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        r#"source '{script}' || exit 9
function_name=$(complete -p sidetop | sed -E 's/.* -F ([^ ]+) .*/\1/')
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9
"$function_name" sidetop "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display(),
        words = quoted.join(" "),
    );
    let out = Command::new("bash").arg("-c").arg(&program).output().unwrap();
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_subcommands_and_the_configs_sidecar_names() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("names.toml");
    std::fs::write(
        &config,
        "[[sidecar]]\nname = \"pricing-eu\"\ncommand = [\"true\"]\n\n[[sidecar]]\nname = \"pricing-us\"\ncommand = [\"true\"]\n\n[[sidecar]]\nname = \"search\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let out = sidetop(&["completions", "bash"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let script = dir.path().join("sidetop.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));

    assert_eq!(bash_completes(&script, &["sidetop", "ctl", "resta"]), ["restart"]);
    assert_eq!(bash_completes(&script, &["sidetop", "rep"]), ["replay"]);
    let config = config.to_str().unwrap();
    let names = bash_completes(&script, &["sidetop", "--config", config, "ctl", "restart", "pri"]);
    assert_eq!(names, ["pricing-eu", "pricing-us"]);
    let names = bash_completes(&script, &["sidetop", "--config", config, "request", "s"]);
    assert_eq!(names, ["search"]);
    // Every shell clap knows gets a script.
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = sidetop(&["completions", shell]).output().unwrap();
        assert!(out.status.success() && out.stdout.len() > 100, "{shell}");
    }
}

#[test]
fn the_manual_renders_with_man_for_every_subcommand() {
    let render = |page: &std::path::Path| {
        let out = Command::new("man")
            .arg("-l")
            .arg(page)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(out.status.success(), "man -l {}: {}", page.display(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("stdout.1");
    let out = sidetop(&["man"]).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&page, &out.stdout).unwrap();
    let text = render(&page);
    assert!(text.contains("SYNOPSIS") && text.contains("--headless"), "{text}");
    assert!(text.contains("wrap") && text.contains("ctl"), "subcommands listed:\n{text}");

    let pages = dir.path().join("pages");
    assert!(sidetop(&["man", "--out", pages.to_str().unwrap()]).status().unwrap().success());
    for name in ["sidetop.1", "sidetop-ctl.1", "sidetop-ctl-restart.1", "sidetop-wrap.1", "sidetop-replay.1"]
    {
        let text = render(&pages.join(name));
        assert!(text.contains("SYNOPSIS"), "{name}:\n{text}");
    }
    assert!(!pages.join("sidetop-screenshots.1").exists(), "hidden commands get no page");
}

#[test]
fn version_names_the_enabled_features() {
    let out = sidetop(&["--version"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("sidetop {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("features: grpc"), "{text}");
}

/// Validates each TOML document against `sidetop schema` with a real JSON Schema
/// validator (Python's jsonschema, Draft 7 as the schema says); one verdict per document:
/// "ok" or the first error.
fn schema_verdicts(documents: &[String]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = sidetop(&["schema"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = dir.path().join("sidetop.schema.json");
    std::fs::write(&schema, &out.stdout).unwrap();
    let mut files = Vec::new();
    for (i, text) in documents.iter().enumerate() {
        let file = dir.path().join(format!("{i}.toml"));
        std::fs::write(&file, text).unwrap();
        files.push(file);
    }
    const CHECK: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
for path in sys.argv[2:]:
    errors = sorted(validator.iter_errors(tomllib.load(open(path, "rb"))), key=lambda e: list(e.path))
    print("ok" if not errors else "bad: " + "/".join(map(str, errors[0].path)) + ": " + errors[0].message[:200])
"#;
    let out = Command::new(client_python()).arg("-c").arg(CHECK).arg(&schema).args(&files).output().unwrap();
    assert!(out.status.success(), "validator: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn the_schema_accepts_the_shipped_configs_and_refuses_type_errors() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut good = vec![std::fs::read_to_string(root.join("config/sidetop.toml")).unwrap()];
    // Every TOML example in the README.
    for block in readme.split("```toml\n").skip(1) {
        good.push(block.split("```").next().unwrap().to_string());
    }
    assert!(good.len() >= 3, "the default config and the README's examples");
    let verdicts = schema_verdicts(&good);
    assert!(verdicts.iter().all(|v| v == "ok"), "{verdicts:#?}");
    // The copy beside the default config, which its `#:schema` line names, is current.
    let current = sidetop(&["schema"]).output().unwrap().stdout;
    let shipped = std::fs::read(root.join("config/sidetop.schema.json")).unwrap();
    assert!(
        current == shipped,
        "config/sidetop.schema.json is stale: `sidetop schema > config/sidetop.schema.json`"
    );
    assert!(good[0].starts_with("#:schema ./sidetop.schema.json\n"));

    // The bad configs of `bad_configs_name_file_line_column_and_key_and_exit_2` that are
    // type errors (the rest are cross-references, which only `check` knows).
    let type_errors = [
        "unknown field",
        "invalid type",
        "has no `command`",
        "invalid duration",
        "unknown signal",
        "unknown variant",
    ];
    let bad: Vec<String> = BAD_CONFIGS
        .iter()
        .filter(|(_, _, message)| type_errors.iter().any(|e| message.contains(e)))
        .map(|(text, _, _)| text.to_string())
        .collect();
    let verdicts = schema_verdicts(&bad);
    for (text, verdict) in bad.iter().zip(&verdicts) {
        assert!(verdict.starts_with("bad: "), "the schema should refuse:\n{text}\n-> {verdict}");
    }
    assert_eq!(bad.len(), 6, "each type error is tried: {bad:#?}");
}
