//! Validation of `[[sidecar.request]]` templates (and the request of a health check):
//! each must have the fields its protocol needs and no others, so a template cannot
//! silently mean nothing.

use super::ConfigError;
use super::ipc::*;
use super::validate::Checker;
use serde_json::Value;
use std::ops::Range;
use toml::Spanned;

/// Builds a request from the fields given, checking them against the protocol.
pub(super) fn request_spec(
    c: &Checker,
    key: &str,
    whole: Range<usize>,
    protocol: Option<&Protocol>,
    f: &RawRequestFields,
) -> Result<RequestSpec, ConfigError> {
    let present = |name: &str| -> Option<Range<usize>> {
        match name {
            "method" => f.method.as_ref().map(|v| v.span()),
            "params" => f.params.as_ref().map(|v| v.span()),
            "value" => f.value.as_ref().map(|v| v.span()),
            "path" => f.path.as_ref().map(|v| v.span()),
            "body" => f.body.as_ref().map(|v| v.span()),
            _ => None,
        }
    };
    let refuse = |names: &[&str], why: &str| -> Result<(), ConfigError> {
        for name in names {
            if let Some(span) = present(name) {
                return c.error(span, format!("{key}.{name}"), why.to_string());
            }
        }
        Ok(())
    };
    match protocol {
        None => c.error(
            whole,
            key.to_string(),
            "requests need a [sidecar.ipc] table saying how to talk to the sidecar",
        ),
        Some(Protocol::Grpc { .. }) => {
            refuse(
                &["value", "path", "body"],
                "a gRPC request has `method` (package.Service/Method) and `params`",
            )?;
            let Some(method) = &f.method else {
                return c.error(
                    whole,
                    key.to_string(),
                    "a gRPC request needs `method`, like \"pkg.Service/Method\"",
                );
            };
            if !method.get_ref().trim_start_matches('/').contains('/') {
                return c.error(
                    method.span(),
                    format!("{key}.method"),
                    "a gRPC method is `package.Service/Method`",
                );
            }
            if let Some(p) = &f.params
                && !p.get_ref().is_object()
            {
                return c.error(p.span(), format!("{key}.params"), "a gRPC message is a table");
            }
            Ok(RequestSpec::Rpc {
                method: method.get_ref().trim_start_matches('/').to_string(),
                params: f.params.as_ref().map(|p| p.get_ref().clone()),
            })
        }
        Some(Protocol::JsonRpc) => {
            refuse(&["value", "path", "body"], "not a JSON-RPC field: use `method` and `params`")?;
            let Some(method) = &f.method else {
                return c.error(whole, key.to_string(), "a JSON-RPC request needs `method`");
            };
            if let Some(p) = &f.params
                && !matches!(p.get_ref(), Value::Object(_) | Value::Array(_))
            {
                return c.error(
                    p.span(),
                    format!("{key}.params"),
                    "JSON-RPC params must be a table or an array",
                );
            }
            Ok(RequestSpec::Rpc {
                method: method.get_ref().clone(),
                params: f.params.as_ref().map(|p| p.get_ref().clone()),
            })
        }
        Some(Protocol::JsonLines) => {
            refuse(&["method", "params", "path", "body"], "a json-lines request is one `value`")?;
            let Some(value) = &f.value else {
                return c.error(whole, key.to_string(), "a json-lines request needs `value`");
            };
            Ok(RequestSpec::Line { value: value.get_ref().clone() })
        }
        Some(Protocol::Http { .. }) => {
            refuse(&["params", "value"], "an HTTP request has `method`, `path` and `body`")?;
            let Some(path) = &f.path else {
                return c.error(whole, key.to_string(), "an HTTP request needs `path`");
            };
            if !path.get_ref().starts_with('/') {
                return c.error(path.span(), format!("{key}.path"), "the path must start with /");
            }
            let method = f.method.as_ref().map_or("GET".to_string(), |m| m.get_ref().to_ascii_uppercase());
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&method.as_str()) {
                let span = f.method.as_ref().expect("non-default").span();
                return c.error(span, format!("{key}.method"), format!("unknown HTTP method {method:?}"));
            }
            Ok(RequestSpec::Http {
                method,
                path: path.get_ref().clone(),
                body: f.body.as_ref().map(|b| b.get_ref().clone()),
            })
        }
    }
}

pub fn requests(
    c: &Checker,
    key: &str,
    raw: &[Spanned<RawRequestFields>],
    protocol: Option<&Protocol>,
) -> Result<Vec<RequestTemplate>, ConfigError> {
    let mut out: Vec<RequestTemplate> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let k = format!("{key}.request[{i}]");
        let spec = request_spec(c, &k, r.span(), protocol, r.get_ref())?;
        let name = r.get_ref().name.clone().unwrap_or_else(|| spec.method_label());
        if out.iter().any(|t| t.name == name) {
            return c.error(r.span(), format!("{k}.name"), format!("duplicate request name {name:?}"));
        }
        out.push(RequestTemplate { name, spec, description: None });
    }
    Ok(out)
}
