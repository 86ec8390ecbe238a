//! supervisord's expansions: Python's `value % expansions` with `%(name)s`,
//! `%(name)d`, `%(name)02d`, `%(name)r` and `%%`.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(super) enum Val {
    Str(String),
    Int(i64),
}

pub(super) type Vars = BTreeMap<String, Val>;

/// `s % vars`, failing with supervisord's words for an unknown name or a bad format.
pub(super) fn expand(s: &str, vars: &Vars, option: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
            continue;
        }
        let bad = |why: &str| format!("Format string {s:?} for {option:?} is badly formatted: {why}");
        let Some(body) = after.strip_prefix('(') else {
            return Err(bad("a lone % (write %% for a percent sign)"));
        };
        let Some(close) = body.find(')') else { return Err(bad("incomplete format key")) };
        let name = &body[..close];
        let spec = &body[close + 1..];
        let flags_len = spec.find(|c: char| !"-+ #0".contains(c)).unwrap_or(spec.len());
        let flags = &spec[..flags_len];
        let after_flags = &spec[flags_len..];
        let width_len = after_flags.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_flags.len());
        let width: usize = after_flags[..width_len].parse().unwrap_or(0);
        let mut tail = &after_flags[width_len..];
        let mut precision = None;
        if let Some(p) = tail.strip_prefix('.') {
            let len = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
            precision = p[..len].parse::<usize>().ok();
            tail = &p[len..];
        }
        let Some(conversion) = tail.chars().next() else { return Err(bad("incomplete format")) };
        let Some(value) = vars.get(name) else {
            let available: Vec<&str> = vars.keys().map(String::as_str).collect();
            return Err(format!(
                "Format string {s:?} for {option:?} contains names ('{name}') which cannot be expanded. \
                 Available names: {}",
                available.join(", ")
            ));
        };
        let text = match (conversion, value) {
            ('s', Val::Str(v)) => v.clone(),
            ('s', Val::Int(i)) => i.to_string(),
            ('r', Val::Str(v)) => format!("'{v}'"),
            ('r', Val::Int(i)) => i.to_string(),
            ('d' | 'i', Val::Int(i)) => i.to_string(),
            ('d' | 'i', Val::Str(_)) => {
                return Err(bad(&format!("%{conversion} format: a real number is required, not str")));
            }
            (c, _) => return Err(bad(&format!("unsupported format character {c:?}"))),
        };
        let text = match precision {
            Some(p) if conversion == 's' || conversion == 'r' => text.chars().take(p).collect(),
            _ => text,
        };
        let len = text.chars().count();
        let padded = if len >= width {
            text
        } else if flags.contains('-') {
            format!("{text}{}", " ".repeat(width - len))
        } else if flags.contains('0') && matches!(conversion, 'd' | 'i') {
            let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |d| ("-", d));
            format!("{sign}{}{digits}", "0".repeat(width - len))
        } else {
            format!("{}{text}", " ".repeat(width - len))
        };
        out.push_str(&padded);
        rest = &tail[conversion.len_utf8()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_percent_formatting() {
        let mut vars = Vars::new();
        vars.insert("program_name".into(), Val::Str("web".into()));
        vars.insert("process_num".into(), Val::Int(3));
        let e = |s: &str| expand(s, &vars, "command");
        assert_eq!(e("%(program_name)s_%(process_num)02d").unwrap(), "web_03");
        assert_eq!(
            e("%(process_num)d %(process_num)3d|%(program_name)-5s|100%%").unwrap(),
            "3   3|web  |100%"
        );
        assert!(e("%(nope)s").unwrap_err().contains("cannot be expanded"));
        assert!(e("date +%Y").unwrap_err().contains("badly formatted"));
        assert!(e("%(program_name)d").is_err());
    }
}
