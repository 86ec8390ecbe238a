//! Log text to styled spans: the sanitizer has already removed every escape sequence but
//! SGR, so only colours and attributes are left to interpret. Done only for lines on
//! screen.

use crate::text::sanitize::sanitize;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

/// Spans for one line; with `color` false, colours are dropped but attributes kept.
pub fn spans(raw: &[u8], base: Style, color: bool) -> Vec<Span<'static>> {
    let text = sanitize(raw).replace('\t', "    ");
    let mut out = Vec::new();
    let mut style = base;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("\x1b[") {
        if start > 0 {
            out.push(Span::styled(rest[..start].to_string(), style));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find('m') else { break };
        style = apply(style, base, &after[..end], color);
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Span::styled(rest.to_string(), style));
    }
    out
}

pub use crate::text::sanitize::plain;

fn apply(mut style: Style, base: Style, params: &str, color: bool) -> Style {
    let codes: Vec<u16> = if params.is_empty() {
        vec![0]
    } else {
        params.split([';', ':']).map(|p| p.parse().unwrap_or(0)).collect()
    };
    let mut i = 0;
    while i < codes.len() {
        let c = codes[i];
        match c {
            0 => style = base,
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            30..=37 | 90..=97 if color => style = style.fg(basic(c % 10, c >= 90)),
            40..=47 | 100..=107 if color => style = style.bg(basic(c % 10, c >= 100)),
            39 if color => style.fg = base.fg,
            49 if color => style.bg = base.bg,
            38 | 48 => {
                let (col, used) = extended(&codes[i + 1..]);
                if let (Some(col), true) = (col, color) {
                    style = if c == 38 { style.fg(col) } else { style.bg(col) };
                }
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
    style
}

fn basic(n: u16, bright: bool) -> Color {
    match (n, bright) {
        (0, false) => Color::Black,
        (1, false) => Color::Red,
        (2, false) => Color::Green,
        (3, false) => Color::Yellow,
        (4, false) => Color::Blue,
        (5, false) => Color::Magenta,
        (6, false) => Color::Cyan,
        (7, false) => Color::Gray,
        (0, true) => Color::DarkGray,
        (1, true) => Color::LightRed,
        (2, true) => Color::LightGreen,
        (3, true) => Color::LightYellow,
        (4, true) => Color::LightBlue,
        (5, true) => Color::LightMagenta,
        (6, true) => Color::LightCyan,
        _ => Color::White,
    }
}

/// `5;n` or `2;r;g;b` after 38/48: the colour and how many codes it used.
fn extended(codes: &[u16]) -> (Option<Color>, usize) {
    match codes {
        [5, n, ..] => (Some(Color::Indexed(*n as u8)), 2),
        [2, r, g, b, ..] => (Some(Color::Rgb(*r as u8, *g as u8, *b as u8)), 4),
        _ => (None, codes.len()),
    }
}

/// The common coloured log line: printable ASCII and CSI sequences only. Copies the text
/// without the sequences; false (and a partial copy) for anything else.
pub fn ascii_without_csi(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x20..=0x7e => {
                out.push(bytes[i]);
                i += 1;
            }
            0x1b if bytes.get(i + 1) == Some(&b'[') => {
                match bytes[i + 2..].iter().position(|b| (0x40..=0x7e).contains(b)) {
                    Some(end) => i += end + 3,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
    true
}

/// Removes the SGR sequences the sanitizer kept, in place (only text is searched).
pub fn strip_sgr(text: &mut Vec<u8>) {
    let mut write = 0;
    let mut read = 0;
    while read < text.len() {
        if text[read] == 0x1b {
            match text[read..].iter().position(|&b| b == b'm') {
                Some(end) => read += end + 1,
                None => break,
            }
            continue;
        }
        text[write] = text[read];
        write += 1;
        read += 1;
    }
    text.truncate(write);
}

/// `needle` must be lowercase ASCII.
pub fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else { return true };
    let mut at = 0;
    while let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), &haystack[at..]) {
        let start = at + i;
        match haystack.get(start..start + needle.len()) {
            Some(window) if window.eq_ignore_ascii_case(needle) => return true,
            Some(_) => at = start + 1,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styles_and_hostile_sequences_vanish() {
        let s = spans(b"\x1b[31mERROR\x1b[0m boom\x1b]0;title\x07\x1b[2J", Style::new(), true);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].content, "ERROR");
        assert_eq!(s[0].style.fg, Some(Color::Red));
        assert_eq!(s[1].content, " boom");
        assert_eq!(s[1].style.fg, None);
        assert_eq!(plain(b"\x1b[1;38;5;208mhot\x1b[m\tx"), "hot    x");
        let no_color = spans(b"\x1b[1;31mbold red", Style::new(), false);
        assert_eq!(
            (no_color[0].style.fg, no_color[0].style.add_modifier.contains(Modifier::BOLD)),
            (None, true)
        );
    }
}
