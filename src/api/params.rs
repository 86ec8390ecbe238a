//! The types of every method's params, checked once before a command runs: a field of
//! the wrong type is an `invalid params` error naming the field, never read as absent
//! (`"read_only": "yes"` once meant false, `"lines": "10"` meant 100). Fields not listed
//! are ignored, so a newer client can send more; a field that is null counts as absent.

use super::{RpcError, codes};
use serde_json::Value;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    UInt,
    StrList,
    /// `"*"` or a list of names.
    StrOrList,
    /// Names mapped to a sequence number or null.
    SeqMap,
    Object,
    /// Any JSON value (request params and bodies).
    Any,
}

use Kind::*;

const SIDECARS: [(&str, Kind); 2] = [("sidecar", Str), ("sidecars", StrList)];
const REQUEST: [(&str, Kind); 10] = [
    ("sidecar", Str),
    ("spec", Object),
    ("template", Str),
    ("method", Str),
    ("path", Str),
    ("tool", Str),
    ("params", Any),
    ("value", Any),
    ("body", Any),
    ("args", Any),
];

fn fields(method: &str) -> Vec<(&'static str, Kind)> {
    match method {
        "hello" => vec![("version", UInt), ("read_only", Bool)],
        "subscribe" => vec![
            ("events", Bool),
            ("status", Bool),
            ("samples", Bool),
            ("traffic", Bool),
            ("stderr", Bool),
            ("logs", StrOrList),
            ("from_seq", UInt),
        ],
        "follow_logs" => vec![("sidecars", SeqMap), ("stderr", Bool)],
        "start" | "stop" | "restart" | "kill" | "clear_logs" => SIDECARS.to_vec(),
        "signal" => [&SIDECARS[..], &[("signal", Str)]].concat(),
        "logs" => vec![("sidecar", Str), ("lines", UInt), ("stderr", Bool)],
        "events" => vec![("sidecar", Str), ("limit", UInt)],
        "request" => REQUEST.to_vec(),
        "load" => {
            [&REQUEST[..], &[("requests", UInt), ("duration_ms", UInt), ("concurrency", UInt)]].concat()
        }
        "stdin" => vec![("sidecar", Str), ("text", Str)],
        "reload" => vec![("dry_run", Bool)],
        "record" => vec![("file", Str), ("sidecar", Str), ("stop", Bool), ("max_bytes", UInt)],
        _ => Vec::new(),
    }
}

fn fits(kind: Kind, value: &Value) -> bool {
    let names = |v: &Value| v.as_array().is_some_and(|l| l.iter().all(Value::is_string));
    match kind {
        Str => value.is_string(),
        Bool => value.is_boolean(),
        UInt => value.is_u64(),
        StrList => names(value),
        StrOrList => value.as_str() == Some("*") || names(value),
        SeqMap => value.as_object().is_some_and(|m| m.values().all(|v| v.is_null() || v.is_u64())),
        Object => value.is_object(),
        Any => true,
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Str => "a string",
        Bool => "true or false",
        UInt => "a whole number of 0 or more",
        StrList => "a list of names",
        StrOrList => "\"*\" or a list of names",
        SeqMap => "an object of names to a sequence number or null",
        Object => "an object",
        Any => "anything",
    }
}

/// Params are an object (or absent), and each field named for `method` has its type.
pub fn check(method: &str, params: &Value) -> Result<(), RpcError> {
    let object = match params {
        Value::Null => return Ok(()),
        Value::Object(object) => object,
        _ => return Err((codes::INVALID_PARAMS, format!("{method}: params must be an object"))),
    };
    for (name, kind) in fields(method) {
        // null is absent: clients send their unset options as null.
        if let Some(value) = object.get(name)
            && !value.is_null()
            && !fits(kind, value)
        {
            let shown: String = value.to_string().chars().take(40).collect();
            return Err((
                codes::INVALID_PARAMS,
                format!("{method}: `{name}` must be {}, not {shown}", expected(kind)),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_are_named_and_right_ones_pass() {
        assert!(check("logs", &json!({"sidecar": "a", "lines": 10, "stderr": true})).is_ok());
        assert!(check("status", &Value::Null).is_ok());
        assert!(check("subscribe", &json!({"logs": "*"})).is_ok());
        assert!(check("follow_logs", &json!({"sidecars": {"a": 3, "b": null}})).is_ok());
        let (code, message) = check("logs", &json!({"sidecar": "a", "lines": "10"})).unwrap_err();
        assert_eq!(code, codes::INVALID_PARAMS);
        assert_eq!(message, "logs: `lines` must be a whole number of 0 or more, not \"10\"");
        assert!(check("hello", &json!({"version": 2, "read_only": "yes"})).is_err());
        assert!(check("subscribe", &json!({"logs": "echo"})).is_err());
        assert!(check("stop", &json!({"sidecars": ["a", 1]})).is_err());
        assert!(check("status", &json!([1])).is_err());
        assert!(check("load", &json!({"requests": 5, "duration_ms": null})).is_ok(), "null is absent");
    }
}
