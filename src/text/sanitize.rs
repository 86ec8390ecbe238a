//! Making untrusted sidecar output safe to print on the operator's terminal: printable
//! text and SGR colour sequences pass; every other escape sequence (cursor moves, screen
//! clears, title and clipboard writes, device control strings), C0/C1 controls and bells
//! are removed; invalid UTF-8 becomes U+FFFD; a `\r` redraw keeps only its last state.
//! Works per line, so an unterminated sequence can swallow at most the rest of its line.

/// Longest CSI parameter string kept; longer ones are consumed and dropped.
const MAX_CSI: usize = 64;

#[derive(Clone, Copy, PartialEq)]
enum St {
    Ground,
    Esc,
    EscIntermediate,
    Csi,
    Osc,
    OscEsc,
    /// DCS, SOS, PM, APC: a string terminated by ST.
    Str,
    StrEsc,
}

/// Appends the printable form of `line` to `out`.
pub fn sanitize_into(line: &[u8], out: &mut Vec<u8>) {
    // Most lines are plain printable ASCII: copy them as they are.
    if is_plain_ascii(line) {
        out.extend_from_slice(line);
        return;
    }
    // What a terminal shows after `a\rb` is `b` over `a`: keep the last redraw only.
    let line = match memchr::memrchr(b'\r', line) {
        Some(i) => &line[i + 1..],
        None => line,
    };
    let mut st = St::Ground;
    // A colour left on at the end of the line would bleed into whatever is printed next.
    let mut colour_open = false;
    let mut csi = String::new();
    let mut csi_ok = true;
    let mut buf = [0u8; 4];
    for chunk in line.utf8_chunks() {
        let invalid = (!chunk.invalid().is_empty()).then_some('\u{FFFD}');
        for c in chunk.valid().chars().chain(invalid) {
            st = match st {
                St::Ground => match c {
                    '\x1b' => St::Esc,
                    '\u{9b}' => {
                        csi.clear();
                        csi_ok = true;
                        St::Csi
                    }
                    '\u{9d}' => St::Osc,
                    '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => St::Str,
                    '\t' => {
                        out.push(b'\t');
                        St::Ground
                    }
                    c if c.is_control() => St::Ground,
                    c => {
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        St::Ground
                    }
                },
                St::Esc => match c {
                    '[' => {
                        csi.clear();
                        csi_ok = true;
                        St::Csi
                    }
                    ']' => St::Osc,
                    'P' | 'X' | '^' | '_' => St::Str,
                    '\x20'..='\x2f' => St::EscIntermediate,
                    _ => St::Ground,
                },
                St::EscIntermediate => match c {
                    '\x20'..='\x2f' => St::EscIntermediate,
                    _ => St::Ground,
                },
                St::Csi => match c {
                    '\x20'..='\x3f' => {
                        if csi.len() < MAX_CSI && (c.is_ascii_digit() || c == ';' || c == ':') {
                            csi.push(c);
                        } else {
                            csi_ok = false;
                        }
                        St::Csi
                    }
                    '\x40'..='\x7e' => {
                        if c == 'm' && csi_ok {
                            out.extend_from_slice(b"\x1b[");
                            out.extend_from_slice(csi.as_bytes());
                            out.push(b'm');
                            colour_open = !(csi.is_empty() || csi == "0");
                        }
                        St::Ground
                    }
                    // Anything else aborts the sequence.
                    _ => St::Ground,
                },
                St::Osc => match c {
                    '\x07' | '\u{9c}' => St::Ground,
                    '\x1b' => St::OscEsc,
                    _ => St::Osc,
                },
                St::OscEsc => match c {
                    '\\' => St::Ground,
                    _ => St::Osc,
                },
                St::Str => match c {
                    '\u{9c}' => St::Ground,
                    '\x1b' => St::StrEsc,
                    _ => St::Str,
                },
                St::StrEsc => match c {
                    '\\' => St::Ground,
                    _ => St::Str,
                },
            };
        }
    }
    if colour_open {
        out.extend_from_slice(b"\x1b[0m");
    }
}

/// Every byte in 0x20..=0x7e, checked eight at a time.
pub fn is_plain_ascii(line: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = line.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // A byte below 0x20, or above 0x7e (adding 1 carries it into the high bit).
        let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let above = (w.wrapping_add(ONES) | w) & HIGH;
        if below | above != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|&b| (0x20..0x7f).contains(&b))
}

pub fn sanitize(line: &[u8]) -> String {
    let mut out = Vec::with_capacity(line.len());
    sanitize_into(line, &mut out);
    String::from_utf8(out).expect("sanitizer emits UTF-8")
}

/// The plain text (no SGR), for searching and highlighting.
pub fn plain(raw: &[u8]) -> String {
    let text = sanitize(raw).replace('\t', "    ");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        match rest[start..].find('m') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn the_fast_path_agrees_with_a_plain_check() {
        for b in 0u8..=255 {
            for pos in 0..17 {
                let mut line = vec![b'a'; 17];
                line[pos] = b;
                assert_eq!(super::is_plain_ascii(&line), (0x20..0x7f).contains(&b), "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn plain_text_and_sgr_pass() {
        assert_eq!(sanitize(b"hello\tworld"), "hello\tworld");
        assert_eq!(sanitize(b"\x1b[31mred\x1b[0m"), "\x1b[31mred\x1b[0m");
        assert_eq!(sanitize(b"\x1b[38;5;208morange\x1b[m"), "\x1b[38;5;208morange\x1b[m");
        assert_eq!(sanitize(b"\x1b[8mhidden"), "\x1b[8mhidden\x1b[0m", "colour does not leak past the line");
    }

    #[test]
    fn hostile_sequences_are_removed() {
        assert_eq!(sanitize(b"a\x1b]52;c;aGk=\x07b"), "ab", "OSC 52 clipboard");
        assert_eq!(sanitize(b"a\x1b]0;pwned\x1b\\b"), "ab", "OSC 0 title with ST");
        assert_eq!(sanitize(b"a\x1b[2Jb\x1b[10;10Hc"), "abc", "clear and cursor move");
        assert_eq!(sanitize(b"a\x1b[?1049hb"), "ab", "alternate screen");
        assert_eq!(sanitize(b"a\x1bPq#0;2;0;0;0\x1b\\b"), "ab", "DCS");
        assert_eq!(sanitize(b"ding\x07\x07\x07"), "ding", "bells");
        assert_eq!(sanitize(b"a\x1b(Bb"), "ab", "charset designation");
        assert_eq!(sanitize("a\u{9b}2Jb".as_bytes()), "ab", "8-bit CSI");
        assert_eq!(sanitize(b"a\x1b[1;31;2Jm"), "am", "SGR-looking but not SGR");
    }

    #[test]
    fn unterminated_sequence_swallows_only_its_line() {
        assert_eq!(sanitize(b"ok\x1b]0;never ends"), "ok");
        assert_eq!(sanitize(b"ok\x1b[12;"), "ok");
    }

    #[test]
    fn invalid_utf8_and_nul_and_carriage_returns() {
        assert_eq!(sanitize(b"a\xffb\x00c"), "a\u{FFFD}bc");
        assert_eq!(sanitize(b"10%\r50%\r100%"), "100%");
        assert_eq!(sanitize("héllo ✓".as_bytes()), "héllo ✓");
    }
}
