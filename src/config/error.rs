//! Config errors that point at the exact place in the file: path, line, column and key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One mistake in a config file. Loading stops at the first one so the message can be
/// precise; nothing is started when loading fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole (e.g. unreadable).
    pub line: usize,
    pub column: usize,
    /// Dotted key path such as `sidecar[2].restart`; empty when no key applies.
    pub key: String,
    pub message: String,
    /// The offending source line, for a caret display.
    pub source_line: Option<String>,
}

impl ConfigError {
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: message.into(),
            source_line: None,
        }
    }

    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column, source_line) = match span {
            Some(span) => {
                let (line, column) = line_col(source, span.start);
                let text = source.lines().nth(line - 1).unwrap_or("").to_string();
                (line, column, Some(text))
            }
            None => (0, 0, None),
        };
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            source_line,
        }
    }

    /// Multi-line form for a terminal: the one-line summary, then the source line with a caret.
    pub fn render(&self) -> String {
        let mut out = self.to_string();
        if let Some(text) = &self.source_line {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret_pad: String = text
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("\n{pad} |\n{gutter} | {text}\n{pad} | {caret_pad}^"));
        }
        out
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn render_points_a_caret_at_the_column() {
        let src = "x = 1\nrestart = \"sometimes\"\n";
        let e = ConfigError::at(Path::new("c.toml"), src, Some(16..27), "restart", "bad");
        assert_eq!(e.to_string(), "c.toml:2:11: restart: bad");
        assert!(e.render().ends_with("2 | restart = \"sometimes\"\n  |           ^"));
    }
}
