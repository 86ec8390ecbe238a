//! What the runner does with a child's exits and stops, told in milliseconds: each test
//! scripts a fake child and reads back when it was spawned, which signals it got and
//! the sidecar's events and status.

use super::fake::{Behaviour, Sent};
use super::{Scene, is};
use crate::supervisor::{ExitInfo, Life};
use nix::sys::signal::Signal;
use std::time::Duration;

/// The events with `text` in them, as `"<ms> <event>"`.
fn lines_with(scene: &Scene, text: &str) -> Vec<String> {
    scene.timeline().into_iter().filter(|line| line.contains(text)).collect()
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_up_to_the_cap_and_resets_after_stable_uptime() {
    let quick = Behaviour::exits(1, 10);
    let stable = Behaviour::exits(1, 1500);
    let scene = Scene::start(
        r#"backoff = { initial = "100ms", max = "400ms", multiplier = 2.0, reset_after = "1s" }
crash_loop = { max_exits = 100, window = "60s" }"#,
        [quick, quick, quick, quick, quick, stable, quick, Behaviour::runs_until_stopped()],
    );
    let s = scene.until("on its eighth run", |s| s.state == Life::Running && s.generation == 8).await;
    assert_eq!(
        lines_with(&scene, "restarting"),
        [
            "10 restarting in 100ms (restart 1)",
            "120 restarting in 200ms (restart 2)",
            "330 restarting in 400ms (restart 3)",
            "740 restarting in 400ms (restart 4)",
            "1150 restarting in 400ms (restart 5)",
            // 1.5s up is stable (reset_after = 1s): the delay starts over.
            "3050 restarting in 100ms (restart 6)",
            "3160 restarting in 200ms (restart 7)",
        ]
    );
    assert_eq!(scene.fake.spawns_ms(), [0, 110, 320, 730, 1140, 1550, 3150, 3360]);
    assert_eq!(s.restarts, 7);
}

#[tokio::test(start_paused = true)]
async fn backoff_shows_when_the_next_start_is_due() {
    let scene = Scene::start(r#"backoff = { initial = "300ms" }"#, [Behaviour::exits(1, 50)]);
    let s = scene.until("in backoff", is(Life::Backoff)).await;
    assert_eq!(scene.now_ms(), 50);
    let due = s.next_start.expect("next start") - scene.began.into_std();
    assert_eq!(due, Duration::from_millis(350));
    let s = scene.until("running again", |s| s.state == Life::Running && s.generation == 2).await;
    assert_eq!((scene.now_ms(), s.next_start), (350, None));
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_gives_up_after_max_exits_in_the_window() {
    let scene = Scene::start(
        r#"backoff = { initial = "100ms", max = "1s", multiplier = 2.0 }
crash_loop = { max_exits = 3, window = "10s" }"#,
        [Behaviour::exits(1, 50)],
    );
    let s = scene.until("in a crash loop", is(Life::CrashLoop)).await;
    assert_eq!(scene.now_ms(), 450);
    assert_eq!(s.last_exit, Some(ExitInfo::Code(1)));
    assert_eq!(
        scene.timeline(),
        [
            "0 started (pid 90000001)",
            "0 ready",
            "50 exited: exit code 1 after 50ms",
            "50 restarting in 100ms (restart 1)",
            "150 started (pid 90000002)",
            "150 ready",
            "200 exited: exit code 1 after 50ms",
            "200 restarting in 200ms (restart 2)",
            "400 started (pid 90000003)",
            "400 ready",
            "450 exited: exit code 1 after 50ms",
            "450 crash loop: gave up after 3 exits in 10s",
        ]
    );
    // Left alone until an operator acts.
    scene.at(60_000).await;
    assert_eq!(scene.fake.spawns_ms(), [0, 150, 400]);
    assert_eq!(scene.handle().status().state, Life::CrashLoop);
    // A start forgives the past: three more exits before it gives up again.
    scene.handle().start().await.unwrap();
    scene.until("in a crash loop again", |s| s.state == Life::CrashLoop && s.generation == 6).await;
    assert_eq!(scene.fake.spawns_ms()[3..], [60_000, 60_150, 60_400]);
}

#[tokio::test(start_paused = true)]
async fn exits_further_apart_than_the_window_never_make_a_crash_loop() {
    let scene = Scene::start(
        r#"backoff = { initial = "0" }
crash_loop = { max_exits = 2, window = "1s" }"#,
        [Behaviour::exits(1, 1100)],
    );
    scene.until("on its sixth run", |s| s.generation == 6).await;
    assert_eq!(scene.fake.spawns_ms(), [0, 1100, 2200, 3300, 4400, 5500]);
    assert!(lines_with(&scene, "crash loop").is_empty(), "{:#?}", scene.timeline());
}

#[tokio::test(start_paused = true)]
async fn restart_policies_decide_on_exit_code_zero_non_zero_and_a_signal() {
    let endings =
        [Behaviour::exits(0, 100), Behaviour::exits(3, 100), Behaviour::dies_of(Signal::SIGSEGV, 100)];
    // Whether each ending above is restarted, by policy.
    let policies =
        [("never", [false, false, false]), ("on-failure", [false, true, true]), ("always", [true; 3])];
    for (policy, restarted) in policies {
        for (ending, restarted) in endings.iter().zip(restarted) {
            let keys = format!("restart = \"{policy}\"\nbackoff = {{ initial = \"100ms\" }}");
            let scene = Scene::start(&keys, [*ending, Behaviour::runs_until_stopped()]);
            scene.at(1_000).await;
            let s = scene.handle().status();
            let case = format!("{policy}, {:?}: {:#?}", ending.ending, scene.timeline());
            if restarted {
                assert_eq!(scene.fake.spawns_ms(), [0, 200], "{case}");
                assert_eq!(s.state, Life::Running, "{case}");
                assert_eq!(
                    lines_with(&scene, "restarting"),
                    ["100 restarting in 100ms (restart 1)"],
                    "{case}"
                );
            } else {
                assert_eq!(scene.fake.spawns_ms(), [0], "{case}");
                assert_eq!(s.state, Life::Exited, "{case}");
                assert!(lines_with(&scene, "restarting").is_empty(), "{case}");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_kills_a_child_that_ignores_the_stop_signal_after_the_timeout() {
    let scene = Scene::start(r#"stop_timeout = "500ms""#, [Behaviour::runs_until_stopped().ignoring_stop()]);
    scene.at(100).await;
    scene.handle().stop().await.unwrap();
    let s = scene.until("stopped", is(Life::Stopped)).await;
    assert_eq!(scene.now_ms(), 600);
    let sent = |signal, at_ms| Sent { run: 1, signal, at_ms };
    assert_eq!(
        scene.fake.signals(),
        [sent(Signal::SIGTERM, 100), sent(Signal::SIGCONT, 100), sent(Signal::SIGKILL, 600)]
    );
    assert_eq!(s.last_exit, Some(ExitInfo::Signal { signal: libc::SIGKILL, core_dumped: false }));
    assert_eq!(
        scene.timeline()[2..],
        [
            "100 stopping: sent SIGTERM (SIGKILL in 500ms)",
            "600 still running 500ms after stop: sent SIGKILL to its process group",
            "600 exited: SIGKILL after 600ms",
            "600 stopped",
        ]
    );
    // Stopped means stopped: its policy does not bring it back.
    scene.at(10_000).await;
    assert_eq!(scene.fake.spawns_ms(), [0]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_sends_no_kill_to_a_child_that_obeys_the_stop_signal() {
    let scene =
        Scene::start("stop_signal = \"SIGINT\"\nstop_timeout = \"500ms\"", [Behaviour::runs_until_stopped()]);
    scene.at(100).await;
    scene.handle().stop().await.unwrap();
    let s = scene.until("stopped", is(Life::Stopped)).await;
    assert_eq!(scene.now_ms(), 100);
    assert_eq!(s.last_exit, Some(ExitInfo::Signal { signal: libc::SIGINT, core_dumped: false }));
    scene.at(5_000).await;
    let sent = |signal| Sent { run: 1, signal, at_ms: 100 };
    assert_eq!(scene.fake.signals(), [sent(Signal::SIGINT), sent(Signal::SIGCONT)]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_sends_no_kill_to_a_child_that_exits_within_the_timeout() {
    // It ignores the signal but finishes what it was doing 200ms later, in time.
    let scene = Scene::start(r#"stop_timeout = "500ms""#, [Behaviour::exits(0, 300).ignoring_stop()]);
    scene.at(100).await;
    scene.handle().stop().await.unwrap();
    let s = scene.until("stopped", is(Life::Stopped)).await;
    assert_eq!((scene.now_ms(), s.last_exit), (300, Some(ExitInfo::Code(0))));
    scene.at(5_000).await;
    assert!(scene.fake.signals().iter().all(|s| s.signal != Signal::SIGKILL), "{:?}", scene.fake.signals());
    assert!(lines_with(&scene, "still running").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_backoff_starts_at_once_and_cancels_the_pending_start() {
    let scene = Scene::start(
        r#"backoff = { initial = "5s" }"#,
        [Behaviour::exits(1, 100), Behaviour::runs_until_stopped()],
    );
    scene.until("in backoff", is(Life::Backoff)).await;
    scene.at(1_000).await;
    scene.handle().restart().await.unwrap();
    let s = scene.until("running again", |s| s.state == Life::Running && s.generation == 2).await;
    assert_eq!((scene.now_ms(), s.next_start, s.restarts), (1_000, None, 1));
    assert_eq!(
        scene.timeline()[2..],
        [
            "100 exited: exit code 1 after 100ms",
            "100 restarting in 5s (restart 1)",
            "1000 restart requested",
            "1000 started (pid 90000002)",
            "1000 ready",
        ]
    );
    // The start the backoff had scheduled (at 5.1s) does not come on top.
    scene.at(10_000).await;
    assert_eq!(scene.fake.spawns_ms(), [0, 1_000]);
    assert_eq!(scene.handle().status().generation, 2);
}
