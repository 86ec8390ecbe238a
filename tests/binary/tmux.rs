//! End to end, as an operator: sidetop in a real terminal (tmux), keys sent with
//! send-keys, the screen read back with capture-pane.

use crate::common;

use common::tmux::Tmux;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{sidecars}/jsonrpc_echo.py"]
[sidecar.ipc]
protocol = "jsonrpc"
[[sidecar.request]]
name = "ping"
method = "ping"

[[sidecar]]
name = "sleeper"
command = ["sh", "-c", "echo hello from $$; echo other line; exec sleep 1000"]

[[sidecar]]
name = "forker"
command = ["sh", "{sidecars}/forker.sh"]
"#;

/// sidetop on CONFIG in a 100x30 pane, running: the pane, the sidecars' marker, sidetop's
/// own marker (so its pid can be found), and the temp dir to keep alive.
fn launch_marked() -> (Tmux, String, String, tempfile::TempDir) {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG, &m);
    let tmux = Tmux::start(100, 30);
    let own = format!("{m}-sidetop");
    tmux.type_line(&format!(
        "SIDETOP_TEST_MARKER={own} {} --config {} --log-dir {}",
        bin(),
        config.display(),
        dir.path().display()
    ));
    tmux.wait_for("sidecars (3)");
    tmux.wait("sidecars to run", |_| marked_pids(&m).len() >= 4);
    (tmux, m, own, dir)
}

/// The table row of a sidecar.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.starts_with(&format!("│{name} ")))
        .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
}

#[test]
fn an_operator_session_in_tmux() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG, &m);
    let tmux = Tmux::start(120, 40);
    tmux.type_line(&format!("{} --config {} --log-dir {}", bin(), config.display(), dir.path().display()));
    let screen = tmux.wait("the table with every sidecar running", |s| {
        s.contains("sidecars (3)")
            && ["echo", "sleeper", "forker"]
                .iter()
                .all(|n| s.lines().any(|l| l.starts_with(&format!("│{n} ")) && l.contains("ready")))
    });
    let pid_of = |screen: &str, name: &str| -> u32 {
        row(screen, name)
            .split_whitespace()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("pid in {}", row(screen, name)))
    };
    let first_pid = pid_of(&screen, "sleeper");

    // r: restart changes the PID and the restart count.
    tmux.keys(&["j", "r"]);
    let screen = tmux.wait_for("restarted sleeper (pid ");
    let second_pid = pid_of(&screen, "sleeper");
    assert_ne!(first_pid, second_pid);
    assert!(screen.contains(&format!("restarted sleeper (pid {first_pid} -> {second_pid})")), "{screen}");
    let restarts: u32 = row(&screen, "sleeper").split_whitespace().nth(5).unwrap().parse().unwrap();
    assert_eq!(restarts, 1, "{}", row(&screen, "sleeper"));

    // /: the log filters to matching lines.
    tmux.keys(&["/"]);
    tmux.type_line("hello");
    let screen = tmux.wait_for("filter \"hello\"");
    assert!(screen.contains(&format!("hello from {second_pid}")), "{screen}");
    assert!(!screen.contains("other line"), "non-matching lines are filtered out:\n{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("other line");

    // K: SIGKILL, shown as such.
    tmux.keys(&["K"]);
    let screen = tmux.wait_for("killed sleeper");
    let sleeper = row(&screen, "sleeper");
    assert!(sleeper.contains("stopped") && sleeper.contains("SIGKILL"), "{sleeper}");

    // t on the echo sidecar: the reply appears.
    tmux.keys(&["k", "t"]);
    let screen = tmux.wait_for("reply from echo");
    assert!(screen.contains("\"result\": \"pong\""), "{screen}");
    tmux.keys(&["Escape"]);

    // q: everything stops, the terminal is a working shell again.
    tmux.keys(&["q"]);
    tmux.wait("the shell prompt", |s| s.trim_end().ends_with('$'));
    assert!(none_left(&m), "left running: {:?}", marked_pids(&m));
    tmux.type_line("echo ok");
    tmux.wait("echo's output", |s| s.lines().any(|l| l.trim() == "ok"));
}

#[test]
fn sigterm_and_sighup_stop_sidecars_and_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let (tmux, m, own, _dir) = launch_marked();
        let pid = marked_pids(&own).first().expect("sidetop's pid").to_string();
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        tmux.wait("the shell prompt", |s| s.trim_end().ends_with('$') && !s.contains("sidecars (3)"));
        assert!(none_left(&m), "SIG{signal}: left running: {:?}", marked_pids(&m));
        tmux.type_line("stty -a | grep -o ' echo ' ; echo ok");
        let screen = tmux.wait("the shell answers", |s| s.lines().any(|l| l.trim() == "ok"));
        assert!(screen.contains(" echo "), "SIG{signal}: terminal echo restored:\n{screen}");
    }
}

/// The panic policy: a panic in the UI loop or in any task restores the terminal, prints
/// its message, and ends sidetop (status 101) with its sidecars.
#[test]
fn a_panic_restores_the_terminal_prints_the_message_and_leaves_no_sidecar() {
    for (variable, message) in [
        ("SIDETOP_TEST_PANIC_AFTER_MS", "panic requested"),
        ("SIDETOP_TEST_PANIC_IN_TASK_AFTER_MS", "panic in a task requested"),
    ] {
        let m = marker();
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), CONFIG, &m);
        let tmux = Tmux::start(100, 30);
        tmux.type_line(&format!(
            "RUST_BACKTRACE=0 {variable}=1500 {} --config {} --log-dir {}; echo exit=$?",
            bin(),
            config.display(),
            dir.path().display()
        ));
        tmux.wait_for("sidecars (3)");
        let screen = tmux.wait("the panic message on the restored screen", |s| s.contains(message));
        assert!(!screen.contains("sidecars (3)"), "{variable}: the alternate screen is gone:\n{screen}");
        tmux.wait("the exit status", |s| s.contains("exit=101"));
        let deadline = Instant::now() + Duration::from_secs(3);
        while !marked_pids(&m).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(none_left(&m), "{variable}: left running: {:?}", marked_pids(&m));
        tmux.type_line("stty -a | grep -o ' echo ' ; echo ok");
        let screen = tmux.wait("the shell answers", |s| s.lines().any(|l| l.trim() == "ok"));
        assert!(screen.contains(" echo "), "{variable}: terminal echo restored:\n{screen}");
    }
}

#[test]
fn hostile_escape_sequences_never_reach_the_terminal() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[sidecar]]\nname = \"escapes\"\ncommand = [\"python3\", \"{sidecars}/hostile/escapes.py\"]\n",
        &m,
    );
    let tmux = Tmux::start(120, 40);
    let title_before = tmux.pane_title();
    tmux.type_line(&format!("{} --config {} --log-dir {}", bin(), config.display(), dir.path().display()));
    let screen = tmux.wait_for("HOSTILE-DONE");
    assert!(
        screen.contains("sidecars (1)") && screen.contains("red ok"),
        "the dashboard is intact:\n{screen}"
    );
    tmux.keys(&["a"]); // the interleaved view draws the lines again
    tmux.wait_for("HOSTILE-DONE");
    assert_eq!(tmux.pane_title(), title_before, "the title was not changed");
    let buffers = Command::new("tmux").args(["list-buffers"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&buffers.stdout).contains("pwned"), "nothing reached the clipboard");
    // What the terminal holds, with attributes: only SGR sequences.
    let out = Command::new("tmux").args(["capture-pane", "-p", "-e", "-t", &tmux.session]).output().unwrap();
    let raw = String::from_utf8_lossy(&out.stdout);
    let mut rest = raw.as_ref();
    while let Some(at) = rest.find('\x1b') {
        let seq = &rest[at..];
        let end = seq.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(seq.len() - 1);
        assert!(
            seq.starts_with("\x1b[") && seq.as_bytes()[end] == b'm',
            "non-SGR sequence on screen: {:?}",
            &seq[..end + 1]
        );
        rest = &seq[end + 1..];
    }
    tmux.keys(&["q"]);
    tmux.wait("the shell prompt", |s| s.trim_end().ends_with('$'));
    assert!(none_left(&m));
}

#[test]
fn closing_the_terminal_stops_every_sidecar() {
    let (tmux, m, own, _dir) = launch_marked();
    // The pane goes away: the kernel hangs up the terminal (SIGHUP).
    let _ = Command::new("tmux").args(["kill-session", "-t", &tmux.session]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(marked_pids(&m).is_empty() && marked_pids(&own).is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(marked_pids(&m).is_empty(), "sidecars left: {:?}", marked_pids(&m));
    assert!(marked_pids(&own).is_empty(), "sidetop itself is still running");
}

/// `y` in the log pane puts the line on the clipboard with OSC 52: tmux (with
/// `set-clipboard on`, as it would pass it on to the outer terminal) keeps it in a buffer.
#[test]
fn y_copies_a_log_line_to_the_clipboard_through_tmux() {
    let (tmux, _m, _own, _dir) = launch_marked();
    Command::new("tmux").args(["set-option", "-s", "set-clipboard", "on"]).status().unwrap();
    // The sleeper's output: "hello from PID", then "other line".
    tmux.keys(&["j"]);
    tmux.wait_for("other line");
    tmux.keys(&["Tab", "y"]);
    tmux.wait_for("copied 1 line");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = Command::new("tmux").args(["show-buffer"]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("other line") {
            break;
        }
        assert!(Instant::now() < deadline, "the clipboard never got the line: {out:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.keys(&["q"]);
}

/// `P` hands the terminal to `$PAGER` with the log view and takes it back after; `S`
/// saves the view to a private file in the current folder and says where.
#[test]
fn p_pages_the_view_and_s_saves_it() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG, &m);
    // A pager that keeps what it was shown, then waits for a key as less would.
    let paged = dir.path().join("paged.txt");
    let pager = dir.path().join("pager.sh");
    std::fs::write(
        &pager,
        format!("#!/bin/sh\ncp \"$1\" {}\necho PAGER-RUNNING\nread answer\n", paged.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pager, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmux = Tmux::start(100, 30);
    tmux.type_line(&format!(
        "cd {} && PAGER={} {} --config {} --log-dir {}",
        dir.path().display(),
        pager.display(),
        bin(),
        config.display(),
        dir.path().display()
    ));
    tmux.wait_for("sidecars (3)");
    tmux.keys(&["j"]);
    tmux.wait_for("other line");
    tmux.keys(&["P"]);
    let screen = tmux.wait_for("PAGER-RUNNING");
    assert!(!screen.contains("sidecars (3)"), "the dashboard made way:\n{screen}");
    assert!(std::fs::read_to_string(&paged).unwrap().contains("other line"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("sidecars (3)");
    // Keys reach the dashboard again.
    tmux.keys(&["S"]);
    let screen = tmux.wait_for("saved 2 lines to");
    let saved = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("sleeper-"))
        .unwrap_or_else(|| panic!("no saved file:\n{screen}"));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("| other line"), "{text}");
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(
        !std::path::Path::new(&std::env::temp_dir())
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| { e.file_name().to_string_lossy().starts_with(&format!("sidetop-page-{}", 0)) })
    );
    tmux.keys(&["q"]);
}

/// Pasting "Kxr" into the terminal (tmux's bracketed paste, as a terminal sends it) over
/// the table kills, stops and restarts nothing: the same pids run, and sidetop says the
/// paste was ignored. Before bracketed paste was enabled, each letter acted as its key.
#[test]
fn a_paste_over_the_table_acts_on_nothing() {
    let (tmux, m, _own, _dir) = launch_marked();
    let _ = &m;
    tmux.wait("every sidecar ready", |s| s.lines().filter(|l| l.contains("✔ ready")).count() >= 3);
    tmux.keys(&["j"]);
    let buffer = format!("paste-{m}");
    let tmux_cmd = |args: &[&str]| assert!(Command::new("tmux").args(args).status().unwrap().success());
    tmux_cmd(&["set-buffer", "-b", &buffer, "Kxr\n"]);
    tmux_cmd(&["paste-buffer", "-p", "-d", "-b", &buffer, "-t", &tmux.session]);
    tmux.wait_for("paste ignored");
    std::thread::sleep(Duration::from_millis(300));
    let screen = tmux.screen();
    for name in ["echo", "sleeper", "forker"] {
        let row = row(&screen, name);
        let restarts = row.split_whitespace().nth(4);
        assert!(row.contains("✔ ready") && restarts == Some("0"), "{name} runs as it did:\n{screen}");
    }
    assert!(!screen.contains("killed") && !screen.contains("restarted"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait("the shell prompt", |s| s.trim_end().ends_with('$'));
}
