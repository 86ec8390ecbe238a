//! A sidecar's optional log file: every line with its time and stream, rotated by size
//! (`name.1` is the newest rotated file). Written on its own thread so disk latency never
//! reaches the readers. Created with mode 0600: logs can hold secrets.

use crate::config::LogFileConfig;
use crate::logs::{LogLine, Stream};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

pub fn start(config: &LogFileConfig, sidecar: &str) -> io::Result<mpsc::Sender<Vec<LogLine>>> {
    let mut writer = RotatingFile::open(config.clone())?;
    let (tx, mut rx) = mpsc::channel::<Vec<LogLine>>(256);
    let name = sidecar.to_string();
    std::thread::Builder::new().name(format!("log-{sidecar}")).spawn(move || {
        let mut failed = false;
        while let Some(lines) = rx.blocking_recv() {
            let mut result = lines.iter().try_for_each(|l| writer.write_line(l));
            // Flush once the queue is drained, not per line.
            if rx.is_empty() {
                result = result.and_then(|_| writer.flush());
            }
            match (result, failed) {
                (Err(e), false) => {
                    tracing::error!("log file for {name}: {e}");
                    failed = true;
                }
                (Ok(()), true) => failed = false,
                _ => {}
            }
        }
        let _ = writer.flush();
    })?;
    Ok(tx)
}

struct RotatingFile {
    config: LogFileConfig,
    file: BufWriter<File>,
    size: u64,
}

impl RotatingFile {
    fn open(config: LogFileConfig) -> io::Result<Self> {
        if let Some(dir) = config.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(&config.path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { config, file: BufWriter::with_capacity(64 << 10, file), size })
    }

    fn write_line(&mut self, line: &LogLine) -> io::Result<()> {
        let stamp = chrono::DateTime::<chrono::Local>::from(line.at).format("%Y-%m-%dT%H:%M:%S%.3f%:z");
        let tag = match line.stream {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        };
        let cut = if line.cut { " [cut]" } else { "" };
        let len = line.bytes.len() as u64 + 40;
        if self.size > 0 && self.size + len > self.config.max_size {
            self.rotate()?;
        }
        write!(self.file, "{stamp} {tag}| ")?;
        self.file.write_all(&line.bytes)?;
        writeln!(self.file, "{cut}")?;
        self.size += len;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let numbered = |n: usize| -> PathBuf {
            let mut p = self.config.path.clone().into_os_string();
            p.push(format!(".{n}"));
            p.into()
        };
        if self.config.keep == 0 {
            std::fs::remove_file(&self.config.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.config.keep));
            for n in (1..self.config.keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.config.path, numbered(1))?;
        }
        self.file = BufWriter::with_capacity(64 << 10, open_append(&self.config.path)?);
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::SystemTime;

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut f =
            RotatingFile::open(LogFileConfig { path: path.clone(), max_size: 1000, keep: 2 }).unwrap();
        let line = LogLine {
            at: SystemTime::now(),
            stream: Stream::Stderr,
            cut: false,
            bytes: Bytes::from(vec![b'a'; 100]),
        };
        for _ in 0..50 {
            f.write_line(&line).unwrap();
        }
        f.flush().unwrap();
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
}
