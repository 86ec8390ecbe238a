//! The house rules of `lib.rs`, checked on the source: which folder may import which,
//! and that a file over 400 lines says at its top why it is long.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each room and the rooms it may import; a room may always import itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("text", &[]),
    ("os", &[]),
    ("config", &["text", "os"]),
    ("metrics", &["text", "os"]),
    ("ipc", &["text", "os", "config", "metrics"]),
    ("supervisor", &["text", "os", "config", "metrics", "ipc"]),
    ("api", &["text", "os", "config", "metrics", "ipc", "supervisor"]),
    ("client", &["text", "os", "config", "metrics", "ipc", "supervisor", "api"]),
    ("server", &["text", "os", "config", "metrics", "ipc", "supervisor", "api", "client"]),
    ("app", &["text", "os", "config", "metrics", "ipc", "supervisor", "api"]),
    ("ui", &["text", "os", "config", "metrics", "ipc", "supervisor", "api", "app"]),
    (
        "front",
        &["text", "os", "config", "metrics", "ipc", "supervisor", "api", "client", "server", "app", "ui"],
    ),
];

/// The words a long file's opening comment uses to say why it is long.
const LONG_REASON: &str = "Long because";
const LONG: usize = 400;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The rooms a file names as `crate::ROOM`, outside comments.
fn imported_rooms(text: &str) -> Vec<String> {
    let mut rooms = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `$crate::` in macros and `sidetop_crate::` are not ours.
            let before = rest[..at].chars().last();
            if !name.is_empty()
                && !matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '$')
            {
                rooms.push(name);
            }
            rest = after;
        }
    }
    rooms
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_room_imports_only_the_rooms_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src()).unwrap();
        let mut parts = relative.components();
        let first = parts.next().unwrap().as_os_str().to_str().unwrap().to_string();
        if parts.next().is_none() {
            continue; // lib.rs, main.rs and this file sit above the rooms.
        }
        let Some(may) = allowed.get(first.as_str()) else {
            broken.push(format!("{}: folder {first} is not a room of lib.rs", relative.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for room in imported_rooms(&text) {
            if room != first && !may.contains(&room.as_str()) {
                broken.push(format!("{}: {first} imports crate::{room}", relative.display()));
            }
        }
    }
    broken.dedup();
    assert!(broken.is_empty(), "imports against the rules of lib.rs:\n{}", broken.join("\n"));
}

#[test]
fn the_rules_have_no_cycle() {
    // Each room may import only rooms listed before it, so no two import each other.
    for (i, (room, may)) in ALLOWED.iter().enumerate() {
        for other in *may {
            let at = ALLOWED.iter().position(|(r, _)| r == other).unwrap();
            assert!(at < i, "{room} may import {other}, which is not below it");
        }
    }
}

#[test]
fn a_long_file_says_why_at_its_top() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut unexplained = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = text.lines().count();
        let head: String = text.lines().take_while(|l| l.starts_with("//")).collect::<Vec<_>>().join("\n");
        if lines > LONG && !head.contains(LONG_REASON) {
            unexplained.push(format!("{} ({lines} lines)", file.strip_prefix(src()).unwrap().display()));
        }
    }
    assert!(
        unexplained.is_empty(),
        "over {LONG} lines with no `{LONG_REASON}` at the top:\n{}",
        unexplained.join("\n")
    );
}
