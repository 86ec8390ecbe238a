//! `sidetop schema`: the JSON Schema of `sidetop.toml`, derived from the types the file is
//! read into (`raw.rs`, `ipc.rs`), so it cannot drift from what sidetop accepts. Editors
//! use it for completion, hover docs and type checks (taplo / Even Better TOML:
//! `#:schema ./sidetop.schema.json` on a config's first line). Cross-references (a
//! `depends_on` naming a real sidecar, fields that depend on the protocol) are checked
//! by `sidetop check`, not by the schema.

use super::raw::RawFile;
use super::values::{ByteSize, CommandSpec, DurationValue, SignalName};
use nix::sys::signal::Signal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;
use std::borrow::Cow;

/// The schema as pretty JSON.
pub fn json() -> String {
    let schema =
        schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<RawFile>();
    let mut schema = schema.to_value();
    without_null(&mut schema);
    refs_beside_words(&mut schema);
    // `[defaults]` and the tables of the arrays share one shape; what each array's tables
    // must have is said here.
    for (array, required) in [("sidecar", ["name", "command"]), ("sidecar_dir", ["path", "path"])] {
        if let Some(items) = schema.pointer_mut(&format!("/properties/{array}/items")) {
            let shape = items.take();
            let mut required: Vec<&str> = required.to_vec();
            required.dedup();
            *items = serde_json::json!({ "allOf": [shape, { "required": required }] });
        }
    }
    if let Some(top) = schema.as_object_mut() {
        top.insert("title".into(), "sidetop.toml".into());
        top.insert(
            "description".into(),
            "The config of sidetop, a terminal dashboard that supervises sidecar processes.".into(),
        );
    }
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// Draft 7 ignores every key beside a `$ref`: the description and default of a key whose
/// type is a reference would be lost to editors, so the reference goes into an `allOf`.
fn refs_beside_words(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(refs_beside_words);
            if map.len() > 1
                && let Some(target) = map.remove("$ref")
            {
                map.insert("allOf".into(), serde_json::json!([{ "$ref": target }]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(refs_beside_words),
        _ => {}
    }
}

/// TOML has no null: an optional key is one that may be left out, so the `null` that
/// the schema of an `Option` allows is taken out (`"type": ["string", "null"]` becomes
/// `"string"`, `anyOf: [X, {"type": "null"}]` becomes X).
fn without_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            let null = serde_json::json!({ "type": "null" });
            if let Some(Value::Array(options)) = map.get("anyOf")
                && options.len() == 2
                && options.contains(&null)
            {
                let kept = options.iter().find(|o| **o != null).cloned();
                map.remove("anyOf");
                if let Some(Value::Object(kept)) = kept {
                    map.extend(kept);
                }
            }
            map.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

// ---- JSON Schema of the values written as strings (for `sidetop schema`) ----

impl JsonSchema for DurationValue {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration such as \"250ms\", \"5s\", \"1m 30s\", or \"0\"; at most a year.",
            "pattern": "^\\s*(0|([0-9]+(\\.[0-9]+)?\\s*[a-zA-Zµ]+\\s*)+)$"
        })
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size in bytes: a number, or a string such as \"64KiB\" or \"10MB\" (B, KB, KiB, MB, MiB, GB, GiB).",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*([bB]|[kKmMgG]([bB]|[iI][bB])?)?\\s*$" }
            ]
        })
    }
}

impl JsonSchema for SignalName {
    fn schema_name() -> Cow<'static, str> {
        "Signal".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The signals this system has, spelled in any case, as `parse_signal` takes them.
        let any_case = |name: &str| -> String {
            name.chars().map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())).collect()
        };
        let names: Vec<String> =
            Signal::iterator().map(|s| any_case(s.as_str().trim_start_matches("SIG"))).collect();
        json_schema!({
            "type": "string",
            "description": "A signal name, with or without SIG, any case: \"SIGTERM\", \"INT\", \"quit\".",
            "pattern": format!("^\\s*([sS][iI][gG])?({})\\s*$", names.join("|"))
        })
    }
}

impl JsonSchema for CommandSpec {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An argv array run directly, or one string run with `sh -c` when `shell = true`.",
            "oneOf": [
                { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                { "type": "string", "minLength": 1 }
            ]
        })
    }
}
