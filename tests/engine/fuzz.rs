//! Property-based fuzzing of everything that parses untrusted input: the line splitter,
//! the escape-sequence sanitizer, both JSON-RPC framings, and the config loader. `cargo
//! test` runs a short pass; a long one:
//!
//!     PROPTEST_CASES=200000 cargo test --release --test fuzz

use bytes::BytesMut;
use proptest::prelude::*;
use sidetop::config::Config;
use sidetop::ipc::framing::{ContentLengthDecoder, Piece};
use sidetop::ipc::rpc::{Dialect, RpcConn};
use sidetop::os::serial_writer::StdinWriter;
use sidetop::text::sanitize::sanitize;
use sidetop::text::splitter::LineSplitter;
use std::path::Path;
use std::time::Instant;

/// Bytes biased towards the interesting ones: newlines, CR, ESC, brackets, high bytes.
fn nasty_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        2 => Just(b'\n'),
        1 => Just(b'\r'),
        2 => Just(0x1b),
        1 => Just(b'['),
        1 => Just(b']'),
        1 => Just(0x07),
        1 => Just(b'm'),
        1 => Just(b';'),
        1 => 0x80u8..=0xff,
    ];
    prop::collection::vec(byte, 0..max)
}

/// Splits `data` at the given cut points.
fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.windows(2).map(|w| data[w[0]..w[1]].to_vec()).collect()
}

/// A short pass by default (seconds, for CI); PROPTEST_CASES sets a longer one.
fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
    )
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn splitter_keeps_every_byte_whatever_the_read_sizes(
        data in prop::collection::vec(prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\n')], 0..2000),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut splitter = LineSplitter::new(1 << 20);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks(&data, &cuts) {
            buf.extend_from_slice(&chunk);
            splitter.split(&mut buf, &mut out);
        }
        splitter.finish(&mut buf, &mut out);
        let joined: Vec<u8> = out.iter().map(|(l, _)| l.to_vec()).collect::<Vec<_>>().join(&b'\n');
        let expected = data.strip_suffix(b"\n").unwrap_or(&data);
        prop_assert_eq!(joined, expected.to_vec());
    }

    #[test]
    fn splitter_never_exceeds_its_cap(data in nasty_bytes(3000), cuts in prop::collection::vec(any::<usize>(), 0..20), cap in 1usize..200) {
        let mut splitter = LineSplitter::new(cap);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks(&data, &cuts) {
            buf.extend_from_slice(&chunk);
            splitter.split(&mut buf, &mut out);
            prop_assert!(buf.len() <= cap + chunk.len(), "buffered {} with cap {}", buf.len(), cap);
        }
        splitter.finish(&mut buf, &mut out);
        for (line, cut) in &out {
            prop_assert!(line.len() <= cap);
            prop_assert!(!line.contains(&b'\n'));
            if line.len() < cap { prop_assert!(!cut); }
        }
    }

    #[test]
    fn sanitized_text_holds_nothing_a_terminal_would_obey(data in nasty_bytes(500)) {
        let text = sanitize(&data);
        let mut rest = text.as_str();
        while let Some(at) = rest.find('\x1b') {
            // Only SGR survives: ESC [ digits/;/: m
            let seq = &rest[at..];
            let end = seq.find('m').expect("an SGR sequence ends with m");
            prop_assert!(seq.starts_with("\x1b["), "{:?}", seq);
            prop_assert!(seq[2..end].chars().all(|c| c.is_ascii_digit() || c == ';' || c == ':'), "{:?}", seq);
            rest = &seq[end + 1..];
        }
        for c in text.chars() {
            prop_assert!(c == '\x1b' || c == '\t' || !c.is_control(), "control {:?} in {:?}", c, text);
        }
    }

    #[test]
    fn content_length_frames_survive_any_read_sizes(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        noise in prop::collection::vec("[a-z ]{1,20}", 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut stream = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            if let Some(text) = noise.get(i) {
                stream.extend_from_slice(text.as_bytes());
                stream.push(b'\n');
            }
            stream.extend_from_slice(format!("Content-Length: {}\r\n\r\n", frame.len()).as_bytes());
            stream.extend_from_slice(frame);
        }
        let mut decoder = ContentLengthDecoder::new(1 << 20, 1 << 20);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks(&stream, &cuts) {
            buf.extend_from_slice(&chunk);
            decoder.decode(&mut buf, &mut out);
        }
        let got: Vec<Vec<u8>> = out.iter().filter_map(|p| match p { Piece::Frame(f) => Some(f.to_vec()), _ => None }).collect();
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn content_length_decoder_survives_garbage(data in nasty_bytes(3000), cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let mut garbage = b"Content-Length: 99999999999\r\n\r\n".to_vec();
        garbage.extend_from_slice(&data);
        for stream in [data.clone(), garbage] {
            let mut decoder = ContentLengthDecoder::new(1000, 200);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for chunk in chunks(&stream, &cuts) {
                buf.extend_from_slice(&chunk);
                decoder.decode(&mut buf, &mut out);
                prop_assert!(buf.len() <= 1024 + 1000 + chunk.len());
            }
        }
    }

    #[test]
    fn jsonrpc_routing_survives_any_frame(frames in prop::collection::vec(prop_oneof![
        nasty_bytes(200),
        "\\{\"jsonrpc\":\"2.0\",\"id\":[0-9]{1,3},(\"result\":[0-9]|\"error\":\\{\"code\":-1,\"message\":\"x\"\\})\\}".prop_map(String::into_bytes),
        "\\{\"jsonrpc\":\"2.0\",\"method\":\"[a-z]{1,5}\"(,\"id\":[0-9])?\\}".prop_map(String::into_bytes),
        "\\[\\{\"id\":1,\"result\":null\\},[0-9]\\]".prop_map(String::into_bytes),
    ], 0..30)) {
        for dialect in [Dialect::JsonRpc, Dialect::JsonLines] {
            let conn = RpcConn::new(dialect, Default::default(), StdinWriter::start(tokio::io::sink()), Default::default(), None, std::time::Duration::from_secs(300));
            for frame in &frames {
                let _ = conn.route(frame, Instant::now());
            }
            prop_assert_eq!(conn.in_flight(), 0);
        }
    }

    #[test]
    fn config_loader_never_panics_and_points_inside_the_file(text in prop_oneof![
        ".{0,300}",
        prop::collection::vec(prop_oneof![
            Just("[[sidecar]]\n"), Just("name = \"a\"\n"), Just("command = [\"x\"]\n"), Just("[defaults]\n"),
            Just("restart = \"always\"\n"), Just("depends_on = [\"a\"]\n"), Just("[sidecar.ipc]\n"),
            Just("protocol = \"jsonrpc\"\n"), Just("[[sidecar.request]]\n"), Just("method = \"m\"\n"),
            Just("stop_timeout = \"5 s\"\n"), Just("x = \n"), Just("name = 3\n"), Just("[sidecar.health]\n"),
        ], 0..20).prop_map(|parts| parts.concat()),
    ]) {
        if let Err(e) = Config::parse(Path::new("fuzz.toml"), &text) {
            let lines = text.lines().count().max(1);
            prop_assert!(e.line <= lines + 1, "line {} of {}: {}", e.line, lines, e);
            prop_assert!(!e.message.is_empty());
        }
    }
}
