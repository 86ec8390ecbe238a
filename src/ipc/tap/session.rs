//! What the application set up with its sidecar, kept so that a new child (after a
//! restart) can be brought into the same conversation without the application noticing:
//! its `initialize` and `initialized` (MCP, LSP), the tools it was listed (MCP), and the
//! documents it has open with their current text (LSP). Also: answering the
//! application's requests that a restart abandoned.

use super::{Abandoned, Asked, Direction, Origin, Outcome, record};
use crate::config::ipc::Speaks;
use crate::ipc::Ipc;
use crate::ipc::protocol::encode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, Default, Clone)]
pub struct Session {
    /// The application's `initialize` request, as it sent it.
    pub initialize: Option<Value>,
    /// Its `initialized` notification (MCP `notifications/initialized`, LSP `initialized`).
    pub initialized: Option<Value>,
    /// The tools the server listed to the application, all pages (MCP).
    pub tools: Option<Vec<Value>>,
    /// The documents open in the server (LSP), by URI.
    pub documents: BTreeMap<String, Document>,
    /// Some of the application's bytes were not observed (the observer fell behind): what
    /// is kept here may be out of date.
    pub missed_some: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub language_id: String,
    pub version: i64,
    pub text: String,
}

impl Session {
    /// A message from the application, noted where a new child would need it.
    pub fn app_said(&mut self, speaks: Speaks, message: &Value) {
        let Some(method) = message.get("method").and_then(Value::as_str) else { return };
        let params = message.get("params").unwrap_or(&Value::Null);
        match method {
            "initialize" if message.get("id").is_some() => self.initialize = Some(message.clone()),
            "initialized" | "notifications/initialized" => self.initialized = Some(message.clone()),
            "textDocument/didOpen" if speaks == Speaks::Lsp => {
                let doc = &params["textDocument"];
                if let (Some(uri), Some(text)) = (doc["uri"].as_str(), doc["text"].as_str()) {
                    self.documents.insert(
                        uri.to_string(),
                        Document {
                            language_id: doc["languageId"].as_str().unwrap_or_default().to_string(),
                            version: doc["version"].as_i64().unwrap_or(0),
                            text: text.to_string(),
                        },
                    );
                }
            }
            "textDocument/didChange" if speaks == Speaks::Lsp => {
                let Some(doc) =
                    params["textDocument"]["uri"].as_str().and_then(|u| self.documents.get_mut(u))
                else {
                    return;
                };
                if let Some(version) = params["textDocument"]["version"].as_i64() {
                    doc.version = version;
                }
                for change in params["contentChanges"].as_array().into_iter().flatten() {
                    apply_change(&mut doc.text, change);
                }
            }
            "textDocument/didClose" if speaks == Speaks::Lsp => {
                if let Some(uri) = params["textDocument"]["uri"].as_str() {
                    self.documents.remove(uri);
                }
            }
            _ => {}
        }
    }

    /// A page of `tools/list` the application was given.
    pub fn listed_tools(&mut self, tools: &Value, first_page: bool) {
        let Some(tools) = tools.as_array() else { return };
        let kept = self.tools.get_or_insert_with(Vec::new);
        if first_page {
            kept.clear();
        }
        kept.extend(tools.iter().cloned());
    }

    /// The `didOpen` notifications that give a new server every open document.
    pub fn reopen(&self) -> Vec<Value> {
        self.documents
            .iter()
            .map(|(uri, doc)| {
                json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                    "uri": uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text,
                }}})
            })
            .collect()
    }
}

/// One `contentChanges` entry: the whole text, or a range (LSP positions: line, and
/// UTF-16 code units within the line) replaced.
fn apply_change(text: &mut String, change: &Value) {
    let Some(new) = change["text"].as_str() else { return };
    let Some(range) = change.get("range").filter(|r| r.is_object()) else {
        *text = new.to_string();
        return;
    };
    let start = offset(text, &range["start"]);
    let end = offset(text, &range["end"]).max(start);
    text.replace_range(start..end, new);
}

/// The byte offset of an LSP position; past the end of a line is its end, past the last
/// line is the end of the text (as the protocol says clients may send).
fn offset(text: &str, position: &Value) -> usize {
    let line = position["line"].as_u64().unwrap_or(0) as usize;
    let character = position["character"].as_u64().unwrap_or(0) as usize;
    let mut start = 0;
    for _ in 0..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_text = &text[start..];
    let line_end = line_text.find('\n').unwrap_or(line_text.len());
    let line_text = line_text[..line_end].strip_suffix('\r').unwrap_or(&line_text[..line_end]);
    let mut units = 0;
    for (i, c) in line_text.char_indices() {
        if units >= character {
            return start + i;
        }
        units += c.len_utf16();
    }
    start + line_text.len()
}

/// Answers the application's requests that a restart abandoned, recording each as the
/// error it got; returns the frames to write to the application.
pub(super) fn abandon(ipc: &Ipc, app: &mut Direction, upto: Option<u64>, error: Abandoned) -> Vec<u8> {
    let taken = |run: Option<u64>| match upto {
        Some(last) => run.is_some_and(|r| r <= last),
        None => run.is_none(),
    };
    let now = Instant::now();
    // json-lines has no ids: nothing can be answered, and the new child must not be
    // matched with the old one's requests.
    let (lost, kept): (Vec<Asked>, Vec<Asked>) = app.in_order.drain(..).partition(|a| taken(a.run));
    app.in_order.extend(kept);
    for asked in lost {
        let why = match error {
            Abandoned::Restarted => "the sidecar restarted with the request in flight".to_string(),
            Abandoned::NotBack(_) => error.message(),
        };
        record(ipc, asked, Origin::Application, String::new(), Outcome::Exited(why), now);
    }
    let ids: Vec<String> = app.asked.iter().filter(|(_, a)| taken(a.run)).map(|(id, _)| id.clone()).collect();
    let mut frames = Vec::new();
    for id in ids {
        let Some(asked) = app.answered(&id) else { continue };
        let reply = json!({
            "jsonrpc": "2.0",
            "id": serde_json::from_str::<Value>(&id).unwrap_or(Value::Null),
            "error": {"code": error.code(), "message": error.message()},
        });
        frames.extend(encode(&reply, ipc.config.framing));
        let outcome = Outcome::RpcError { code: error.code(), message: error.message() };
        record(ipc, asked, Origin::Application, reply.to_string(), outcome, now);
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(line: u64, ch: u64, end_line: u64, end_ch: u64, text: &str) -> Value {
        json!({"range": {"start": {"line": line, "character": ch}, "end": {"line": end_line, "character": end_ch}}, "text": text})
    }

    #[test]
    fn incremental_edits_follow_lsp_positions_in_utf16() {
        let mut text = "héllo 𝄞 world\nsecond\r\nthird".to_string();
        // 𝄞 is two UTF-16 units: "world" starts at unit 9.
        apply_change(&mut text, &change(0, 9, 0, 14, "there"));
        assert_eq!(text, "héllo 𝄞 there\nsecond\r\nthird");
        apply_change(&mut text, &change(1, 6, 2, 0, " line\n"));
        assert_eq!(text, "héllo 𝄞 there\nsecond line\nthird");
        apply_change(&mut text, &change(9, 0, 9, 0, "!"));
        assert_eq!(text, "héllo 𝄞 there\nsecond line\nthird!", "past the end appends");
        apply_change(&mut text, &json!({"text": "all new"}));
        assert_eq!(text, "all new");
    }

    #[test]
    fn documents_are_opened_changed_and_closed() {
        let mut s = Session::default();
        let open = json!({"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///a.py","languageId":"python","version":1,"text":"x = 1\n"}}});
        s.app_said(Speaks::Lsp, &open);
        let edit = json!({"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"file:///a.py","version":2},"contentChanges":[change(0,4,0,5,"2")]}});
        s.app_said(Speaks::Lsp, &edit);
        let reopened = s.reopen();
        assert_eq!(reopened[0]["params"]["textDocument"]["text"], "x = 2\n");
        assert_eq!(reopened[0]["params"]["textDocument"]["version"], 2);
        s.app_said(
            Speaks::Lsp,
            &json!({"method":"textDocument/didClose","params":{"textDocument":{"uri":"file:///a.py"}}}),
        );
        assert!(s.reopen().is_empty());
        s.app_said(Speaks::Mcp, &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}));
        assert!(s.initialize.is_some());
    }
}
