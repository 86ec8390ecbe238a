//! The name an application's HTTP request is measured under: its method and a path
//! template, so `/users/123` and `/users/456` are one route and the routes stay few.
//!
//! The rule (also in the README): a path segment becomes `:id` when it is a number, a
//! UUID, or a token of 8 or more characters made of hex digits or mixing letters and
//! digits (`3f9a1c7e`, `a1b2c3d4e5`, `user_8fj2k9x0`); other segments stay. The query is
//! left out. Past [`super::super::stats::MAX_METHODS`] distinct routes, the rest share
//! `(other)`, as methods do.

/// `GET /users/:id/orders` for `GET /users/123/orders?page=2`.
pub fn template(method: &str, path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let mut out = String::with_capacity(method.len() + 1 + path.len());
    out.push_str(method);
    out.push(' ');
    if path.is_empty() {
        out.push('/');
        return out;
    }
    let mut first = true;
    for segment in path.split('/') {
        if !first {
            out.push('/');
        }
        first = false;
        out.push_str(if is_id(segment) { ":id" } else { segment });
    }
    out
}

fn is_id(segment: &str) -> bool {
    if segment.is_empty() {
        return false;
    }
    let bytes = segment.as_bytes();
    if bytes.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if is_uuid(bytes) {
        return true;
    }
    if bytes.len() < 8 {
        return false;
    }
    let token = bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
    let digits = bytes.iter().any(u8::is_ascii_digit);
    let hex = bytes.iter().all(u8::is_ascii_hexdigit);
    let letters = bytes.iter().any(u8::is_ascii_alphabetic);
    token && digits && (hex || letters)
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::template;

    #[test]
    fn ids_in_paths_collapse_and_words_stay() {
        assert_eq!(template("GET", "/users/123"), "GET /users/:id");
        assert_eq!(template("GET", "/users/123/orders?page=2"), "GET /users/:id/orders");
        assert_eq!(template("DELETE", "/items/0b6e4a8e-6c1f-4e3e-9d7a-2f1c3b4a5d6e"), "DELETE /items/:id");
        assert_eq!(template("GET", "/blob/3f9a1c7e"), "GET /blob/:id");
        assert_eq!(template("GET", "/u/user_8fj2k9x0"), "GET /u/:id");
        assert_eq!(template("GET", "/price"), "GET /price");
        assert_eq!(template("GET", "/v1/health"), "GET /v1/health");
        assert_eq!(template("GET", "/api/deadbeef"), "GET /api/deadbeef", "a word of hex letters");
        assert_eq!(template("GET", "/static/app.js"), "GET /static/app.js");
        assert_eq!(template("GET", "/"), "GET /");
        assert_eq!(template("GET", ""), "GET /");
        assert_eq!(template("POST", "/a//b/"), "POST /a//b/");
    }
}
