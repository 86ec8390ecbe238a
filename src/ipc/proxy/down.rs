//! sidetop's own answers when the sidecar cannot take a request: `503` with the reason
//! in the body, or for gRPC a trailers-only `UNAVAILABLE` with it in `grpc-message`.

use super::ProxyBody;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};

/// gRPC's status code for "try again later".
const GRPC_UNAVAILABLE: &str = "14";

pub fn unavailable(text: &str, grpc: bool) -> Response<ProxyBody> {
    answer(StatusCode::SERVICE_UNAVAILABLE, text, grpc)
}

pub fn bad_gateway(text: &str, grpc: bool) -> Response<ProxyBody> {
    answer(StatusCode::BAD_GATEWAY, &format!("sidetop: {text}\n"), grpc)
}

fn answer(status: StatusCode, text: &str, grpc: bool) -> Response<ProxyBody> {
    let mut resp = if grpc {
        let mut resp = Response::new(Either::Right(Full::new(Bytes::new())));
        let headers = resp.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static(GRPC_UNAVAILABLE));
        headers.insert(
            "grpc-message",
            HeaderValue::from_str(&percent_encode(text.trim_end()))
                .unwrap_or(HeaderValue::from_static("unavailable")),
        );
        resp
    } else {
        let mut resp = Response::new(Either::Right(Full::new(Bytes::copy_from_slice(text.as_bytes()))));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert("retry-after", HeaderValue::from_static("1"));
        }
        resp
    };
    resp.headers_mut().insert("x-sidetop", HeaderValue::from_static("proxy"));
    resp
}

/// gRPC's percent-encoding of `grpc-message`: printable ASCII but `%` as is.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
