//! Descriptors and zombies over a thousand restarts. A test binary of its own: the
//! descriptor count is per process, and other tests would change it.

mod common;

use common::*;
use sidetop::supervisor::{Life, Options, Supervisor};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_restarts_leak_no_descriptor_and_leave_no_zombie() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "blink"
command = ["sh", "-c", "echo hi; echo err >&2"]
restart = "always"
backoff = { initial = "0" }
crash_loop = { max_exits = 1000000 }
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("blink").unwrap();
    let h = &*h;
    let stop = || async {
        h.stop().await.unwrap();
        wait_status(h, T, |s| s.state == Life::Stopped).await;
    };
    wait_status(h, T, |s| s.restarts >= 10).await;
    // Count descriptors with nothing running, so no child's pipes are in the count. The
    // output readers close the pipes when they see end of file, a moment after the exit:
    // wait until the count stops falling.
    stop().await;
    let mut after_10 = fd_count();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = fd_count();
        if now >= after_10 {
            break;
        }
        after_10 = now;
    }
    h.start().await.unwrap();
    wait_status(h, Duration::from_secs(120), |s| s.restarts >= 1000).await;
    stop().await;
    // A leak keeps the count up for good; pipes still closing bring it down in a moment.
    assert!(
        eventually(T, || fd_count() <= after_10).await,
        "descriptors: {after_10} after 10 restarts, {} after 1000",
        fd_count()
    );
    sup.shutdown().await;
    assert!(eventually(T, || zombie_children() == 0).await, "zombies: {}", zombie_children());
    assert!(eventually(T, || fd_count() <= after_10).await, "descriptors after shutdown: {}", fd_count());
}
