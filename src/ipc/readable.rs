//! A reply as a person reads it: JSON pretty-printed, an HTTP status and headers kept
//! above the body, and MCP tool results' text content shown as text (pretty-printed when
//! it is JSON itself) instead of one escaped string (`"{\n  \"timezone\": ...`).

use serde_json::Value;

/// Text content longer than this, or on several lines, is shown below the envelope.
const INLINE_TEXT: usize = 80;

pub fn pretty(text: &str) -> String {
    // HTTP responses carry a status line and headers before a blank line.
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) if h.starts_with("HTTP ") => (Some(h), b),
        _ => (None, text),
    };
    let body = match serde_json::from_str::<Value>(body) {
        Ok(value) => pretty_value(value),
        Err(_) => body.to_string(),
    };
    match head {
        Some(h) => format!("{h}\n\n{body}"),
        None => body,
    }
}

/// `pretty`, each line made safe to print on a terminal (text content is shown as it
/// came, so escape sequences in it must not reach the terminal).
pub fn pretty_for_terminal(text: &str) -> String {
    pretty(text).lines().map(|l| crate::text::sanitize::sanitize(l.as_bytes())).collect::<Vec<_>>().join("\n")
}

fn pretty_value(mut value: Value) -> String {
    let mut blocks = Vec::new();
    if let Some(content) = mcp_content(&mut value) {
        for item in content.iter_mut() {
            let Some(text) = item.get("text").and_then(Value::as_str).map(str::to_string) else { continue };
            if item.get("type").and_then(Value::as_str) != Some("text") {
                continue;
            }
            match serde_json::from_str::<Value>(&text) {
                // JSON inside the text: shown as the JSON it is.
                Ok(inner) if inner.is_object() || inner.is_array() => item["text"] = inner,
                _ if text.contains('\n') || text.chars().count() > INLINE_TEXT => {
                    blocks.push(text);
                    item["text"] = Value::String(format!("(text {} below)", blocks.len()));
                }
                _ => {}
            }
        }
    }
    let mut out = serde_json::to_string_pretty(&value).expect("Value serializes");
    for (i, block) in blocks.iter().enumerate() {
        out.push_str(&format!("\n\n── text {} ──\n{block}", i + 1));
    }
    out
}

/// The `content` array of an MCP tool result, in a JSON-RPC response or on its own.
fn mcp_content(value: &mut Value) -> Option<&mut Vec<Value>> {
    let has_content = |v: &Value| v.get("content").is_some_and(Value::is_array);
    let result = if value.get("result").is_some_and(has_content) {
        value.get_mut("result")?
    } else if has_content(value) {
        value
    } else {
        return None;
    };
    result.get_mut("content")?.as_array_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_content_is_shown_as_json() {
        let reply = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{\n  \"timezone\": \"UTC\",\n  \"datetime\": \"2026-11-22T21:00:00Z\"\n}"}],"isError":false}}"#;
        let shown = pretty(reply);
        assert!(!shown.contains("\\n") && !shown.contains("\\\""), "{shown}");
        assert!(shown.contains("\"text\": {\n") && shown.contains("\"timezone\": \"UTC\""), "{shown}");
    }

    #[test]
    fn prose_text_content_is_shown_as_text() {
        let reply = r#"{"result":{"content":[{"type":"text","text":"line one\nline two"},{"type":"text","text":"short"}]}}"#;
        let shown = pretty(reply);
        assert!(shown.contains("\"text\": \"(text 1 below)\""), "{shown}");
        assert!(shown.contains("\"text\": \"short\""), "{shown}");
        assert!(shown.ends_with("── text 1 ──\nline one\nline two"), "{shown}");
    }

    #[test]
    fn other_replies_are_pretty_json_or_as_they_came() {
        assert_eq!(pretty(r#"{"a":[1]}"#), "{\n  \"a\": [\n    1\n  ]\n}");
        assert_eq!(pretty("not json"), "not json");
        assert_eq!(
            pretty("HTTP 200 OK\ncontent-type: x\n\n{\"a\":1}"),
            "HTTP 200 OK\ncontent-type: x\n\n{\n  \"a\": 1\n}"
        );
    }
}
