//! Splitting command lines the way each tool does: POSIX `shlex.split` (supervisord's
//! `command`), supervisord's `KEY=val,KEY2="v 2"` pairs, and pm2's `args` string.

/// Python's `shlex.split(s)` in POSIX mode: whitespace separates words, single quotes are
/// literal, double quotes keep `\"` and `\\` escapes, a backslash outside quotes escapes
/// the next character, and quoted parts join the word they touch.
pub(super) fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n @ ('"' | '\\')) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some(c) => word.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => word.push(n),
                    None => return Err("No escaped character".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// supervisord's `dict_of_key_value_pairs`: shlex tokens (words of letters, digits, `_`
/// and `/.+-():`, quoted strings, single punctuation), read as `KEY = value` with one
/// separator token between pairs; `#` outside quotes starts a comment.
pub(super) fn key_value_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let word_char = |c: char| c.is_alphanumeric() || "_/.+-():".contains(c);
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            break;
        } else if word_char(c) || c == '"' || c == '\'' {
            let mut token = String::new();
            while let Some(&c) = chars.peek() {
                if word_char(c) {
                    token.push(c);
                    chars.next();
                } else if c == '"' || c == '\'' {
                    chars.next();
                    loop {
                        match chars.next() {
                            Some(q) if q == c => break,
                            Some('\\') if c == '"' && matches!(chars.peek(), Some('"' | '\\')) => {
                                token.push(chars.next().expect("peeked"));
                            }
                            Some(x) => token.push(x),
                            None => return Err("No closing quotation".into()),
                        }
                    }
                } else {
                    break;
                }
            }
            tokens.push(token);
        } else {
            tokens.push(c.to_string());
            chars.next();
        }
    }
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens.len() < i + 3 || tokens[i + 1] != "=" {
            return Err(format!("Unexpected end of key/value pairs in value '{s}'"));
        }
        pairs.push((tokens[i].clone(), tokens[i + 2].clone()));
        i += 4;
    }
    Ok(pairs)
}

/// pm2's split of an `args` string: `k="v w"`, `"quoted"`, `'quoted'` or a run of
/// non-space characters; quotes around a whole word are removed.
pub(super) fn pm2_args(s: &str) -> Vec<String> {
    let re =
        regex::Regex::new(r#"[^\s"'=]+="[^"]*"|[^\s"'=]+='[^']*'|"([^"]*)"|'([^']*)'|\S+"#).expect("valid");
    re.find_iter(s)
        .map(|m| {
            let v = m.as_str();
            let quoted = v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')));
            if quoted { v[1..v.len() - 1].to_string() } else { v.to_string() }
        })
        .filter(|v| !v.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"python -c "print(\"hi\")" 'a b' c\ d e"f"g"#).unwrap(),
            ["python", "-c", "print(\"hi\")", "a b", "c d", "efg"]
        );
        assert!(shlex_split("echo 'open").is_err());
        assert_eq!(shlex_split(r#""a\nb""#).unwrap(), [r"a\nb"]);
    }

    #[test]
    fn supervisor_pairs() {
        assert_eq!(
            key_value_pairs(r#"A="1",B="two, three",PATH=/usr/bin:/bin,URL="http://x?y=1""#).unwrap(),
            [
                ("A".to_string(), "1".to_string()),
                ("B".into(), "two, three".into()),
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("URL".into(), "http://x?y=1".into())
            ]
        );
        assert!(key_value_pairs("A=1,B").is_err());
        assert!(key_value_pairs("").unwrap().is_empty());
    }

    #[test]
    fn pm2_splits_args() {
        assert_eq!(
            pm2_args(r#"--port 3000 --name="my app" 'x y'"#),
            ["--port", "3000", "--name=\"my app\"", "x y"]
        );
    }
}
