//! `.env` files as foreman, honcho and godotenv read them: `NAME=value` lines, an optional
//! `export `, `#` comments, single quotes (literal), double quotes (`\n`, `\"`, `\\`
//! escapes, may span lines), and ` #` comments after an unquoted value.

use std::path::Path;

pub(super) struct EnvLine {
    pub name: String,
    pub value: String,
}

/// The variables, and the lines that are not assignments (line, text).
pub(super) fn parse(text: &str) -> (Vec<EnvLine>, Vec<(usize, String)>) {
    let mut vars = Vec::new();
    let mut bad = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let raw = lines[i];
        i += 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, rest)) = line.split_once('=') else {
            bad.push((number, raw.to_string()));
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            bad.push((number, raw.to_string()));
            continue;
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_string(),
                None => body.to_string(),
            }
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut joined = body.to_string();
            while closing_quote(&joined).is_none() && i < lines.len() {
                joined.push('\n');
                joined.push_str(lines[i]);
                i += 1;
            }
            let end = closing_quote(&joined).unwrap_or(joined.len());
            unescape(&joined[..end])
        } else {
            let cut = rest.find(" #").map_or(rest, |at| &rest[..at]);
            cut.trim_end().to_string()
        };
        vars.push(EnvLine { name: name.to_string(), value });
    }
    (vars, bad)
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other @ ('"' | '\\' | '$' | '\'')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Reads an env file next to `beside` (or at an absolute path); `None` if there is none.
pub(super) fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_dotenv_tools_read() {
        let text =
            "# c\nexport A=1\nB='x y # z'\nC=\"line\\nnext\" \nD=plain # note\nnot a var\nE=\"two\nlines\"\n";
        let (vars, bad) = parse(text);
        let got: Vec<(&str, &str)> = vars.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
        assert_eq!(
            got,
            [("A", "1"), ("B", "x y # z"), ("C", "line\nnext"), ("D", "plain"), ("E", "two\nlines")]
        );
        assert_eq!(bad, [(6, "not a var".to_string())]);
    }
}
