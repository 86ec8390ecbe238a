//! The lifecycle engine against real processes: restart policies, backoff, crash loops,
//! graceful stop with escalation, group kills, spawn failures, dependencies, stdin.

mod common;

use common::*;
use sidetop::supervisor::{EventKind, ExitInfo, Life, Options, Supervisor};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn starts(events: &[sidetop::supervisor::Event]) -> usize {
    events.iter().filter(|e| matches!(e.kind, EventKind::Started { .. })).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_decide_which_exits_restart() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "always-ok"
command = ["sh", "-c", "exit 0"]
restart = "always"
backoff = { initial = "10ms" }
crash_loop = { max_exits = 3, window = "1m" }

[[sidecar]]
name = "onfail-ok"
command = ["sh", "-c", "exit 0"]
restart = "on-failure"

[[sidecar]]
name = "onfail-bad"
command = ["sh", "-c", "exit 3"]
restart = "on-failure"
backoff = { initial = "10ms" }
crash_loop = { max_exits = 3, window = "1m" }

[[sidecar]]
name = "onfail-signal"
command = ["sh", "-c", "kill -TERM $$"]
restart = "on-failure"
backoff = { initial = "10ms" }
crash_loop = { max_exits = 2, window = "1m" }

[[sidecar]]
name = "never-bad"
command = ["sh", "-c", "exit 1"]
restart = "never"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let always = sup.get("always-ok").unwrap();
    let always = &*always;
    let s = wait_status(always, T, |s| s.state == Life::CrashLoop).await;
    assert_eq!(s.restarts, 2, "exit 0 restarted under `always` until the crash-loop limit");
    assert_eq!(s.last_exit, Some(ExitInfo::Code(0)));

    let s = wait_status(&sup.get("onfail-ok").unwrap(), T, |s| s.state == Life::Exited).await;
    assert_eq!((s.restarts, s.last_exit), (0, Some(ExitInfo::Code(0))));

    let s = wait_status(&sup.get("onfail-bad").unwrap(), T, |s| s.state == Life::CrashLoop).await;
    assert_eq!((s.restarts, s.last_exit), (2, Some(ExitInfo::Code(3))));

    let s = wait_status(&sup.get("onfail-signal").unwrap(), T, |s| s.state == Life::CrashLoop).await;
    assert_eq!(s.last_exit.unwrap().to_string(), "SIGTERM", "a signal exit counts as failure");

    let s = wait_status(&sup.get("never-bad").unwrap(), T, |s| s.state == Life::Exited).await;
    assert_eq!((s.restarts, s.last_exit), (0, Some(ExitInfo::Code(1))));
    // A restart that must not happen: give it a moment to (not) happen.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(starts(&sup.get("never-bad").unwrap().events()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_grows_then_resets_after_stable_uptime() {
    let m = marker();
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("stable");
    // Crashes at once, except on the run after the flag file appears: then it stays up
    // past reset_after before crashing again.
    let script = format!("if [ -e {f} ]; then rm {f}; sleep 0.6; fi; exit 1", f = flag.display());
    let (_cdir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "flappy"
command = ["sh", "-c", "{script}"]
backoff = {{ initial = "50ms", multiplier = 2.0, max = "400ms", reset_after = "500ms" }}
crash_loop = {{ max_exits = 100, window = "1m" }}
"#
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("flappy").unwrap();
    let h = &*h;
    let delays = |h: &sidetop::supervisor::SidecarHandle| -> Vec<u128> {
        h.events()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Restarting { delay, .. } => Some(delay.as_millis()),
                _ => None,
            })
            .collect()
    };
    assert!(eventually(T, || delays(h).len() >= 5).await, "{:?}", h.events());
    assert_eq!(delays(h)[..5], [50, 100, 200, 400, 400]);

    // Measured spacing between starts follows the delays (generous bounds for a busy box).
    let started: Vec<_> =
        h.events().iter().filter(|e| matches!(e.kind, EventKind::Started { .. })).map(|e| e.at).collect();
    let gap = started[4].duration_since(started[3]).unwrap();
    assert!(gap >= Duration::from_millis(400) && gap < Duration::from_millis(2000), "gap {gap:?}");

    std::fs::write(&flag, "").unwrap();
    let before = delays(h).len();
    assert!(eventually(T, || !flag.exists()).await);
    assert!(eventually(T, || delays(h).len() > before).await);
    assert_eq!(
        delays(h)[before],
        50,
        "a run longer than reset_after starts the backoff over: {:?}",
        delays(h)
    );
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_gives_up_and_an_operator_restart_clears_it() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "crashy"
command = ["python3", "{sidecars}/segfault.py"]
env = { SEGFAULT_AFTER = "0" }
backoff = { initial = "0" }
crash_loop = { max_exits = 3, window = "30s" }
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("crashy").unwrap();
    let h = &*h;
    let s = wait_status(h, T, |s| s.state == Life::CrashLoop).await;
    assert_eq!(s.last_exit.unwrap().signal_name().as_deref(), Some("SIGSEGV"));
    // The state may be visible a moment before its event is recorded.
    let gave_up = |h: &sidetop::supervisor::SidecarHandle| {
        h.events().last().is_some_and(|e| e.kind.to_string() == "crash loop: gave up after 3 exits in 30s")
    };
    assert!(eventually(Duration::from_secs(2), || gave_up(h)).await, "{:?}", h.events());
    // Restarts that must not happen: give them a moment to (not) happen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.status().state, Life::CrashLoop, "no restarts while in crash loop");
    assert_eq!(starts(&h.events()), 3);

    h.restart().await.unwrap();
    wait_status(h, T, |s| s.state == Life::Running || s.state == Life::Backoff).await;
    assert!(h.events().iter().any(|e| e.kind == EventKind::OperatorRestart));
    let s = wait_status(h, T, |s| s.state == Life::CrashLoop).await;
    assert_eq!(s.restarts, 5, "after the operator restart, three more exits were allowed");
    assert_eq!(starts(&h.events()), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_escalates_to_sigkill_for_a_child_ignoring_sigterm() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "stubborn"
command = ["sh", "{sidecars}/stubborn.sh"]
stop_timeout = "700ms"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("stubborn").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Running).await;
    assert!(eventually(T, || log_texts(h).iter().any(|l| l.contains("ignoring SIGTERM"))).await);
    let begun = Instant::now();
    h.stop().await.unwrap();
    let s = wait_status(h, T, |s| s.state == Life::Stopped).await;
    let took = begun.elapsed();
    assert!(took >= Duration::from_millis(650) && took < Duration::from_millis(700 + 1000), "took {took:?}");
    assert_eq!(s.last_exit.unwrap().to_string(), "SIGKILL");
    assert!(h.events().iter().any(|e| matches!(e.kind, EventKind::StopTimedOut { .. })));
    assert!(
        eventually(Duration::from_secs(2), || marked_pids(&m).is_empty()).await,
        "left: {:?}",
        marked_pids(&m)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_takes_the_whole_process_group_including_grandchildren() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "forker"
command = ["sh", "{sidecars}/forker.sh"]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("forker").unwrap();
    let h = &*h;
    let pid = wait_status(h, T, |s| s.state == Life::Running).await.pid.unwrap() as i32;
    assert!(eventually(T, || marked_pids(&m).len() >= 2).await, "grandchild started");
    let grandchild = *marked_pids(&m).iter().find(|&&p| p != pid).unwrap();

    h.kill().await.unwrap();
    let s = wait_status(h, T, |s| s.state == Life::Stopped).await;
    assert_eq!(s.last_exit.unwrap().to_string(), "SIGKILL");
    assert!(h.events().iter().any(|e| e.kind == EventKind::KilledByOperator));
    assert!(
        eventually(Duration::from_secs(2), || !pid_alive(grandchild)).await,
        "grandchild {grandchild} survived"
    );
    assert!(none_left(&m));

    // A graceful stop reaches the grandchild too (SIGTERM to the group).
    h.start().await.unwrap();
    wait_status(h, T, |s| s.state == Life::Running).await;
    assert!(eventually(T, || marked_pids(&m).len() >= 2).await);
    h.stop().await.unwrap();
    wait_status(h, T, |s| s.state == Life::Stopped).await;
    assert!(eventually(Duration::from_secs(2), || marked_pids(&m).is_empty()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_does_not_exist_fails_alone() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "ghost"
command = ["/no/such/binary-sidetop-test"]

[[sidecar]]
name = "alive"
command = ["sh", "-c", "echo up; exec sleep 30"]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let s = wait_status(&sup.get("ghost").unwrap(), T, |s| s.state == Life::Failed).await;
    assert_eq!(s.error.as_deref(), Some("No such file or directory (os error 2)"));
    let alive = sup.get("alive").unwrap();
    let alive = &*alive;
    wait_status(alive, T, |s| s.state == Life::Running).await;
    assert!(eventually(T, || log_texts(alive) == ["up"]).await);
    // A failure that must not spread: give it a moment to (not) happen.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(alive.status().state, Life::Running);
    let failed = sup.get("ghost").unwrap().events();
    assert!(
        failed
            .iter()
            .any(|e| e.kind.to_string() == "failed to start: No such file or directory (os error 2)")
    );
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_waits_and_shutdown_goes_in_reverse_order() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "app"
command = ["sh", "-c", "exec sleep 30"]
depends_on = ["db"]

[[sidecar]]
name = "db"
command = ["sh", "-c", "sleep 0.3; exec sleep 30"]
autostart = false
stop_timeout = "2s"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let (app, db) = (sup.get("app").unwrap(), sup.get("db").unwrap());
    let (app, db) = (&*app, &*db);
    wait_status(app, T, |s| s.state == Life::Waiting).await;
    // A start that must not happen: give it a moment to (not) happen.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status().state, Life::Waiting, "db is not started (autostart = false)");
    assert_eq!(db.status().state, Life::Idle);

    db.start().await.unwrap();
    wait_status(app, T, |s| s.state == Life::Running).await;
    assert!(db.status().state == Life::Running);

    sup.shutdown().await;
    let stopped_at = |h: &sidetop::supervisor::SidecarHandle| {
        h.events().iter().find(|e| e.kind == EventKind::Stopped).map(|e| e.at).expect("stopped")
    };
    let db_stopping = db.events().iter().find(|e| matches!(e.kind, EventKind::Stopping { .. })).unwrap().at;
    assert!(stopped_at(app) <= db_stopping, "app stopped before db was asked to stop");
    // SIGKILLed stragglers take a moment to disappear.
    assert!(eventually(Duration::from_secs(2), || marked_pids(&m).is_empty()).await, "{:?}", marked_pids(&m));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_parallel_and_bounded_by_the_longest_grace() {
    let m = marker();
    let mut toml = String::new();
    for i in 0..4 {
        toml.push_str(&format!(
            "[[sidecar]]\nname = \"stubborn{i}\"\ncommand = [\"sh\", \"{{sidecars}}/stubborn.sh\"]\nstop_timeout = \"1s\"\n"
        ));
    }
    let (_dir, config) = config(&toml, &m);
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    for h in sup.sidecars() {
        wait_status(&h, T, |s| s.state == Life::Running).await;
    }
    let begun = Instant::now();
    sup.shutdown().await;
    let took = begun.elapsed();
    assert!(took < Duration::from_secs(2), "4 sidecars x 1s grace took {took:?}");
    assert!(eventually(Duration::from_secs(1), || marked_pids(&m).is_empty()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_writes_signals_and_clean_descriptors() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "cat"
command = ["python3", "-c", "import os, signal, sys\nsignal.signal(signal.SIGUSR1, lambda *a: print('got-usr1', flush=True))\nprint(' '.join(os.listdir('/proc/self/fd')), flush=True)\nfor line in sys.stdin: print('echo:' + line.strip(), flush=True)"]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("cat").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Running).await;
    assert!(eventually(T, || !log_texts(h).is_empty()).await);
    // Its own fds: 0, 1, 2, plus the one listdir reads through; nothing of sidetop's.
    let fds: Vec<u32> = log_texts(h)[0].split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert!(fds.iter().all(|&fd| fd <= 3), "leaked descriptors: {fds:?}");

    h.write_stdin("hello\n").await.unwrap_or_else(|e| panic!("{e}: {:#?} {:?}", h.events(), log_texts(h)));
    assert!(eventually(T, || log_texts(h).contains(&"echo:hello".to_string())).await);
    h.signal(nix::sys::signal::Signal::SIGUSR1)
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?} {:?}", h.events(), log_texts(h)));
    h.write_stdin("after\n").await.unwrap();
    assert!(eventually(T, || log_texts(h).contains(&"got-usr1".to_string())).await, "{:?}", log_texts(h));
    sup.shutdown().await;
    assert!(h.write_stdin("late\n").await.is_err());
    assert!(h.signal(nix::sys::signal::Signal::SIGUSR1).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_that_calls_setsid_is_adopted_and_stopped() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "escaper"
command = ["sh", "-c", "setsid sleep 1000 & echo escaped; exec sleep 1000"]
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options { subreaper: true, ..Options::default() }).unwrap();
    let h = sup.get("escaper").unwrap();
    let h = &*h;
    assert!(eventually(T, || log_texts(h).contains(&"escaped".to_string())).await);
    assert!(eventually(T, || marked_pids(&m).len() == 2).await);
    // Killing the sidecar's group leaves the setsid'd grandchild: it is re-parented to us.
    h.kill().await.unwrap();
    wait_status(h, T, |s| s.state == Life::Stopped).await;
    assert!(eventually(T, || marked_pids(&m).len() == 1).await);
    let escaped = marked_pids(&m)[0];
    let ppid = std::fs::read_to_string(format!("/proc/{escaped}/stat"))
        .unwrap()
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        ppid,
        std::process::id().to_string(),
        "adopted by the supervisor's process (a child subreaper)"
    );
    sup.shutdown().await;
    assert!(none_left(&m), "shutdown kills adopted orphans too: {:?}", marked_pids(&m));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_grandchildren_that_exit_are_reaped() {
    let m = marker();
    // The sidecar dies at once; its children outlive it briefly, are re-parented to us
    // (a child subreaper) and exit: they must not stay zombies.
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "parent"
command = ["sh", "-c", "for i in 1 2 3 4 5; do setsid sleep 0.3 & done; exit 0"]
restart = "never"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options { subreaper: true, ..Options::default() }).unwrap();
    let h = sup.get("parent").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Exited).await;
    let me = std::process::id().to_string();
    let zombies = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
                f.first() == Some(&"Z") && f.get(1) == Some(&me.as_str())
            })
            .count()
    };
    // Once the orphans have exited (a zombie is not counted as alive), none stays a zombie.
    assert!(eventually(Duration::from_secs(5), || marked_pids(&m).is_empty()).await);
    assert!(eventually(Duration::from_secs(5), || zombies() == 0).await, "{} zombies", zombies());
}
