//! INI as supervisord reads it (Python's `RawConfigParser` with `;` and `#` comments,
//! inline after whitespace): `[section]` headers, `key = value` or `key: value`, values
//! continued on more-indented lines, lowercased keys, repeated sections merged. Every
//! option keeps its file and line. Also the globs of `[include] files`.

use super::error_at;
use crate::config::ConfigError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub(super) struct Opt {
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Section {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    pub opts: Vec<Opt>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Opt> {
        self.opts.iter().rev().find(|o| o.key == key)
    }
}

/// Parses `text` (from `file`) into `sections`, merging a section seen before.
pub(super) fn parse(file: &Path, text: &str, sections: &mut Vec<Section>) -> Result<(), ConfigError> {
    let mut current: Option<usize> = None;
    // The option that more-indented lines continue, and its line's indent.
    let mut open: Option<(usize, usize)> = None;
    let mut blank_run = 0;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let line = line.trim_end_matches('\r');
        let cut = comment_start(line);
        let value = line[..cut.unwrap_or(line.len())].trim();
        if value.is_empty() {
            // A blank line inside a value is kept if a continuation follows.
            if cut.is_none() && open.is_some() {
                blank_run += 1;
            }
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let (Some(s), Some((o, level))) = (current, open)
            && indent > level
        {
            let opt = &mut sections[s].opts[o];
            for _ in 0..blank_run {
                opt.value.push('\n');
            }
            if !opt.value.is_empty() || blank_run > 0 {
                opt.value.push('\n');
            }
            opt.value.push_str(value);
            blank_run = 0;
            continue;
        }
        blank_run = 0;
        open = None;
        if let Some(rest) = value.strip_prefix('[')
            && let Some(end) = rest.rfind(']')
            && end > 0
        {
            let name = rest[..end].to_string();
            current = Some(match sections.iter().position(|s| s.name == name) {
                Some(at) => at,
                None => {
                    sections.push(Section { name, file: file.to_path_buf(), line: number, opts: Vec::new() });
                    sections.len() - 1
                }
            });
            continue;
        }
        let Some(s) = current else {
            return Err(error_at(
                file,
                text,
                number,
                indent + 1,
                "",
                "a setting before any [section] header (supervisord: MissingSectionHeaderError)",
            ));
        };
        let delimiter = value.find(['=', ':']);
        let (key, val) = match delimiter {
            Some(at) if !value[..at].trim().is_empty() => (value[..at].trim(), value[at + 1..].trim()),
            _ => {
                return Err(error_at(
                    file,
                    text,
                    number,
                    indent + 1,
                    sections[s].name.clone(),
                    format!("expected `key = value` in [{}], found {value:?}", sections[s].name),
                ));
            }
        };
        let opt =
            Opt { key: key.to_lowercase(), value: val.to_string(), file: file.to_path_buf(), line: number };
        sections[s].opts.push(opt);
        open = Some((sections[s].opts.len() - 1, indent));
    }
    Ok(())
}

/// Where a comment starts: a line whose first non-space character is `;` or `#`, or one
/// of those after whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.starts_with(';') || trimmed.starts_with('#') {
        return Some(0);
    }
    let bytes = line.as_bytes();
    (1..bytes.len())
        .find(|&i| (bytes[i] == b';' || bytes[i] == b'#') && (bytes[i - 1] as char).is_whitespace())
}

/// The files a glob names, sorted, as Python's `glob.glob` finds them (`*`, `?` and
/// `[...]` in any component; a leading `.` is matched only by a leading `.`).
pub(super) fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    let components: Vec<_> = pattern.components().collect();
    for (i, c) in components.iter().enumerate() {
        let part = c.as_os_str().to_string_lossy().to_string();
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        for base in &found {
            if !part.contains(['*', '?', '[']) {
                let p = base.join(&part);
                if (last && p.exists()) || (!last && p.is_dir()) || matches!(c, std::path::Component::RootDir)
                {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if matches(part.as_bytes(), name.as_bytes()) && (last || entry.path().is_dir()) {
                    next.push(base.join(&name));
                }
            }
        }
        found = next;
    }
    found.sort();
    found
}

/// fnmatch: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
fn matches(pat: &[u8], name: &[u8]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| matches(&pat[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && matches(&pat[1..], &name[1..]),
        Some(b'[') if pat.contains(&b']') => {
            let Some(&c) = name.first() else { return false };
            let close = pat[2..].iter().position(|&b| b == b']').map_or(1, |p| p + 2);
            let set = &pat[1..close];
            let (negate, set) = match set.first() {
                Some(b'!') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && matches(&pat[close + 1..], &name[1..])
        }
        Some(&p) => name.first() == Some(&p) && matches(&pat[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_configparser() {
        let text = "; top\n[program:a]\ncommand = /bin/cat ; a comment\nEnvironment=A=\"1\",\n  B=\"2\"\n\n#x\n[program:b]\ncommand: sleep 1;not a comment\n[program:a]\nautostart=false\n";
        let mut sections = Vec::new();
        parse(Path::new("s.conf"), text, &mut sections).unwrap();
        assert_eq!(sections.len(), 2);
        let a = &sections[0];
        assert_eq!(a.get("command").unwrap().value, "/bin/cat");
        assert_eq!(a.get("environment").unwrap().value, "A=\"1\",\nB=\"2\"");
        assert_eq!(a.get("autostart").unwrap().line, 11);
        assert_eq!(sections[1].get("command").unwrap().value, "sleep 1;not a comment");
    }

    #[test]
    fn a_line_without_a_delimiter_is_an_error_at_its_place() {
        let mut sections = Vec::new();
        let e = parse(Path::new("s.conf"), "[program:a]\ncommand=x\n  \nbogus line\n", &mut sections)
            .unwrap_err();
        assert_eq!((e.line, e.column), (4, 1), "{e}");
    }

    #[test]
    fn fnmatch() {
        assert!(matches(b"*.conf", b"web.conf"));
        assert!(!matches(b"*.conf", b"web.ini"));
        assert!(matches(b"w?b.[ci]*", b"web.conf"));
        assert!(matches(b"[!x]eb", b"web"));
    }
}
