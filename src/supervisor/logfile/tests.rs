use super::*;
use bytes::Bytes;
use std::fs::OpenOptions;
use std::path::PathBuf;

fn config(path: PathBuf, max_size: u64, keep: usize) -> LogFileConfig {
    LogFileConfig { path, max_size, keep, mode: LogFileMode::Blocking, buffer: 1 << 20 }
}

fn line(text: &str) -> LogLine {
    LogLine {
        at: SystemTime::now(),
        stream: Stream::Stderr,
        cut: false,
        bytes: Bytes::from(text.to_string()),
    }
}

#[test]
fn rotates_by_size_and_keeps_n_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.log");
    let mut f = RotatingFile::open(config(path.clone(), 1000, 2)).unwrap();
    let mut stamp = Stamp::new(crate::text::stamp::FILE);
    let lines: Vec<LogLine> = (0..50).map(|_| line(&"a".repeat(100))).collect();
    f.queue(&mut stamp, &lines);
    f.write_out().unwrap();
    assert!(path.exists() && dir.path().join("x.log.1").exists() && dir.path().join("x.log.2").exists());
    assert!(!dir.path().join("x.log.3").exists());
    for p in [&path, &dir.path().join("x.log.1")] {
        let meta = std::fs::metadata(p).unwrap();
        assert!(meta.len() <= 1000, "{} is {} bytes", p.display(), meta.len());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().all(|l| l.contains(" err| aaaa")), "{text}");
}

#[test]
fn a_failing_disk_keeps_the_text_until_it_can_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.log");
    let mut f = RotatingFile::open(config(path.clone(), 1 << 30, 1)).unwrap();
    let mut stamp = Stamp::new(crate::text::stamp::FILE);
    // /dev/full fails every write with ENOSPC, as a full disk does.
    f.file = OpenOptions::new().write(true).open("/dev/full").unwrap();
    f.queue(&mut stamp, &[line("one"), line("two")]);
    let e = f.write_out().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    f.queue(&mut stamp, &[line("three")]);
    // Space comes back.
    f.file = open_append(&path).unwrap();
    f.write_out().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let words: Vec<&str> = text.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(words, ["one", "two", "three"], "{text}");
}

#[test]
fn a_gap_is_reported_once_with_its_count() {
    let stats = LogFileStats::default();
    stats.note_gap(&[line("a"), line("b")]);
    stats.note_gap(&[line("c")]);
    let (count, from, to) = stats.take_gap().unwrap();
    assert_eq!(count, 3);
    assert!(from <= to);
    assert_eq!(stats.dropped_lines.load(Ordering::Relaxed), 3);
    assert!(stats.take_gap().is_none(), "reported once");
}
