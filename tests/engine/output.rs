//! Output capture with real children: floods, lines split across reads, invalid UTF-8,
//! huge lines, both streams, log files.

use crate::common;

use common::*;
use sidetop::supervisor::scrollback::Stream;
use sidetop::supervisor::{ExitInfo, Life, Options, Supervisor};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200mb_flood_finishes_and_the_ring_keeps_only_its_cap() {
    let m = marker();
    let line = "x".repeat(99);
    let (_dir, config) = config(
        &format!(
            r#"
[[sidecar]]
name = "flood"
command = ["sh", "-c", "yes {line} | head -c 200000000"]
restart = "never"
scrollback_lines = 1000
scrollback_bytes = "64KiB"
"#
        ),
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("flood").unwrap();
    let h = &*h;
    let s = wait_status(h, T, |s| s.state == Life::Exited).await;
    assert_eq!(s.last_exit, Some(ExitInfo::Code(0)));
    // The reader may still be finishing the last megabyte after the exit.
    assert!(
        eventually(Duration::from_secs(10), || h.logs().total_lines == 2_000_000).await,
        "lines {}",
        h.logs().total_lines
    );
    let logs = h.logs();
    assert_eq!(logs.total_bytes, 200_000_000 - 2_000_000, "every byte but the newlines was seen");
    assert!(
        logs.len() <= 1000 && logs.held_bytes() <= 64 << 10,
        "ring holds {} lines, {} bytes",
        logs.len(),
        logs.held_bytes()
    );
    assert_eq!(logs.dropped_lines, 2_000_000 - logs.len() as u64);
    assert!(logs.iter().all(|l| l.bytes.len() == 99 && !l.cut));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_split_across_reads_come_out_whole_and_streams_are_told_apart() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "slow"
command = ["sh", "-c", "printf 'hel'; sleep 0.3; printf 'lo\r\nwor'; sleep 0.3; printf 'ld\n'; echo oops >&2; printf 'no newline at end'"]
restart = "never"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("slow").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Exited).await;
    assert!(eventually(Duration::from_secs(5), || h.logs().len() == 4).await, "{:?}", log_texts(h));
    let logs = h.logs();
    let lines: Vec<(String, Stream)> = logs.iter().map(|l| (l.text_lossy().into_owned(), l.stream)).collect();
    let stdout: Vec<&str> =
        lines.iter().filter(|(_, s)| *s == Stream::Stdout).map(|(t, _)| t.as_str()).collect();
    assert_eq!(stdout, ["hello", "world", "no newline at end"]);
    assert!(lines.contains(&("oops".to_string(), Stream::Stderr)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_a_50mb_line_without_newline_are_handled() {
    let m = marker();
    let (_dir, config) = config(
        r#"
[[sidecar]]
name = "bytes"
command = ["sh", "-c", "printf 'ok \\377\\376 bad\\n'; head -c 10000000 /dev/zero | tr '\\0' 'y'; printf '\\nafter\\n'; head -c 50000000 /dev/zero | tr '\\0' 'z'"]
restart = "never"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("bytes").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Exited).await;
    assert!(eventually(Duration::from_secs(10), || h.logs().len() == 4).await, "{} lines", h.logs().len());
    let logs = h.logs();
    let lines: Vec<_> = logs.iter().collect();
    assert_eq!(&lines[0].bytes[..], b"ok \xff\xfe bad", "raw bytes are kept");
    assert_eq!(lines[0].text_lossy(), "ok \u{FFFD}\u{FFFD} bad");
    let max = config.sidecars[0].output.max_line;
    assert!(lines[1].cut && lines[1].bytes.len() == max && lines[1].bytes.iter().all(|&b| b == b'y'));
    assert_eq!((&lines[2].bytes[..], lines[2].cut), (&b"after"[..], false));
    assert!(lines[3].cut && lines[3].bytes.len() == max && lines[3].bytes.iter().all(|&b| b == b'z'));
    assert_eq!(logs.cut_lines, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_file_gets_every_line_with_its_stream() {
    let m = marker();
    let (dir, config) = config(
        r#"
[[sidecar]]
name = "logged"
command = ["sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done"]
restart = "never"
log_file = "logs/logged.log"
"#,
        &m,
    );
    let sup = Supervisor::start(&config, Options::default()).unwrap();
    let h = sup.get("logged").unwrap();
    let h = &*h;
    wait_status(h, T, |s| s.state == Life::Exited).await;
    let path = dir.path().join("logs/logged.log");
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    assert!(eventually(Duration::from_secs(5), || read().lines().count() == 6).await, "{}", read());
    let text = read();
    for i in 1..=3 {
        assert!(
            text.contains(&format!(" out| out{i}\n")) && text.contains(&format!(" err| err{i}\n")),
            "{text}"
        );
    }
}
