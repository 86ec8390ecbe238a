//! Finding whole frames in the child's output, for the few moments the wrapper reads it
//! frame by frame instead of passing reads on (a new child joining in, a reply of
//! sidetop's own to keep from the application).

use crate::config::ipc::Framing;

/// The first whole frame in `buf`: its length with framing, and where its body is. Text
/// outside frames (a stray line) counts as a frame with an empty body.
pub(super) fn next_frame(buf: &[u8], framing: Framing) -> Option<(usize, std::ops::Range<usize>)> {
    match framing {
        Framing::Newline => memchr::memchr(b'\n', buf).map(|i| (i + 1, 0..i)),
        Framing::ContentLength => {
            let end = memchr::memmem::find(buf, b"\r\n\r\n")?;
            match content_length(&buf[..end]) {
                Some(n) if buf.len() >= end + 4 + n => Some((end + 4 + n, end + 4..end + 4 + n)),
                Some(_) => None,
                None => Some((end + 4, 0..0)),
            }
        }
    }
}

/// The `Content-Length` a frame's header (without its blank line) gives.
pub(super) fn content_length(head: &[u8]) -> Option<usize> {
    std::str::from_utf8(head).ok()?.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_whole_with_their_headers() {
        let buf = b"Content-Length: 2\r\nContent-Type: x\r\n\r\n{}Content-Length: 5\r\n\r\n{\"a\"";
        let (len, body) = next_frame(buf, Framing::ContentLength).unwrap();
        assert_eq!(&buf[body], b"{}");
        assert_eq!(next_frame(&buf[len..], Framing::ContentLength), None, "the second is not whole yet");
        assert_eq!(next_frame(b"{\"id\":1}\n{", Framing::Newline), Some((9, 0..8)));
        assert_eq!(next_frame(b"{", Framing::Newline), None);
    }
}
