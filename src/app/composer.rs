//! The request composer: pick a template or start blank, edit the method and the JSON
//! (params, json-lines value, or HTTP method/path/body) in a small multi-line editor,
//! check the JSON (a parse error shows its line and column and nothing is sent), send,
//! see the reply; earlier sends are recalled with Ctrl-P / Ctrl-N.

use crate::api::SidecarSetup;
use crate::config::ipc::{Protocol, RequestSpec};
use crate::ipc::protocol::Exchange;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;
use std::sync::Arc;

pub use super::text_area::TextArea;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rpc,
    Line,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Method,
    Path,
    Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    Send(RequestSpec),
    Close,
}

#[derive(Debug, Clone)]
pub struct Composer {
    pub sidecar: usize,
    pub kind: Kind,
    /// The templates F2 goes through: the config's, then an MCP server's tools.
    pub templates: Vec<crate::config::ipc::RequestTemplate>,
    /// Which template the fields came from, if any.
    pub template: Option<usize>,
    pub method: TextArea,
    pub path: TextArea,
    pub body: TextArea,
    pub field: Field,
    pub error: Option<String>,
    pub reply: Option<Arc<Exchange>>,
    pub sending: bool,
    /// When the request in flight was sent: progress reported since shows while it runs.
    pub sent_at: Option<std::time::SystemTime>,
    /// Position when recalling history (Ctrl-P/N).
    pub recall: Option<usize>,
    /// Methods (JSON-RPC) or paths (HTTP) seen in the sidecar's traffic, newest first:
    /// ↑/↓ in that field go through the ones that start with what is typed.
    pub completions: Vec<String>,
    /// While going through them: the text typed before, and the position reached.
    cycling: Option<(String, usize)>,
}

impl PartialEq for Composer {
    fn eq(&self, other: &Self) -> bool {
        (self.sidecar, self.kind, self.template, &self.method, &self.path, &self.body, self.field)
            == (
                other.sidecar,
                other.kind,
                other.template,
                &other.method,
                &other.path,
                &other.body,
                other.field,
            )
    }
}

/// Requests a client of these protocols commonly sends, offered as completions.
fn protocol_methods(speaks: crate::config::ipc::Speaks) -> &'static [&'static str] {
    use crate::config::ipc::Speaks;
    match speaks {
        Speaks::Mcp => &[
            "tools/call",
            "tools/list",
            "resources/list",
            "resources/read",
            "prompts/list",
            "prompts/get",
            "logging/setLevel",
            "ping",
        ],
        Speaks::Lsp => &[
            "textDocument/hover",
            "textDocument/definition",
            "textDocument/references",
            "textDocument/completion",
            "textDocument/documentSymbol",
            "workspace/symbol",
        ],
        Speaks::Plain => &[],
    }
}

fn pretty(v: &Option<Value>) -> String {
    v.as_ref().map(|v| serde_json::to_string_pretty(v).expect("Value serializes")).unwrap_or_default()
}

impl Composer {
    /// `None` when the sidecar has no IPC.
    pub fn new(sidecar: usize, config: &SidecarSetup) -> Option<Composer> {
        let kind = match config.protocol.as_ref()? {
            Protocol::JsonRpc | Protocol::Grpc { .. } => Kind::Rpc,
            Protocol::JsonLines => Kind::Line,
            Protocol::Http { .. } => Kind::Http,
        };
        let mut c = Composer {
            sidecar,
            kind,
            templates: config.requests.clone(),
            template: None,
            method: TextArea::from(if kind == Kind::Http { "GET" } else { "" }),
            path: TextArea::from(if kind == Kind::Http { "/" } else { "" }),
            body: TextArea::from(""),
            field: if kind == Kind::Line { Field::Body } else { Field::Method },
            error: None,
            reply: None,
            sending: false,
            sent_at: None,
            recall: None,
            completions: Vec::new(),
            cycling: None,
        };
        if !c.templates.is_empty() {
            c.load_template(0);
        }
        Some(c)
    }

    /// For a sidecar as the dashboard knows it: its templates (with the tools its MCP
    /// server listed) and the methods seen in its traffic.
    pub fn for_view(sidecar: usize, view: &crate::app::model::SidecarView) -> Option<Composer> {
        let mut c = Composer::new(sidecar, &view.setup)?.with_traffic(view.traffic.iter());
        // Then the protocol's own methods, for servers whose protocol sidetop knows.
        for method in protocol_methods(view.setup.speaks) {
            if !c.completions.iter().any(|m| m == method) {
                c.completions.push(method.to_string());
            }
        }
        c.templates = view.templates();
        if c.template.is_none() && !c.templates.is_empty() {
            c.load_template(0);
        }
        Some(c)
    }

    /// Completions from the exchanges the sidecar had (oldest first, as the model keeps
    /// them): what sidetop sent it, not what it sent on its own.
    pub fn with_traffic<'a>(
        mut self,
        traffic: impl DoubleEndedIterator<Item = &'a Arc<Exchange>>,
    ) -> Composer {
        for exchange in traffic.rev().filter(|e| e.origin != crate::ipc::protocol::Origin::Sidecar) {
            let word = match self.kind {
                // An MCP tool call is measured as `tools/call NAME`: the method is the first word.
                Kind::Rpc => exchange.method.split(' ').next().unwrap_or_default().to_string(),
                Kind::Http => {
                    exchange.method.split_once(' ').map_or(String::new(), |(_, path)| path.to_string())
                }
                Kind::Line => String::new(),
            };
            if !word.is_empty() && !self.completions.contains(&word) {
                self.completions.push(word);
            }
        }
        self
    }

    /// The field completions apply to.
    pub fn completion_field(&self) -> Option<Field> {
        match self.kind {
            Kind::Rpc => Some(Field::Method),
            Kind::Http => Some(Field::Path),
            Kind::Line => None,
        }
    }

    /// Completions for what is typed in the completion field.
    pub fn matching(&self) -> Vec<&str> {
        let typed = match &self.cycling {
            Some((typed, _)) => typed.clone(),
            None => self.completion_text().text(),
        };
        let typed = typed.trim();
        self.completions.iter().map(String::as_str).filter(|c| c.starts_with(typed)).collect()
    }

    fn completion_text(&self) -> &TextArea {
        if self.kind == Kind::Http { &self.path } else { &self.method }
    }

    /// ↑/↓: the next (or previous) completion into the field.
    fn cycle(&mut self, forward: bool) {
        let typed = self.cycling.as_ref().map_or_else(|| self.completion_text().text(), |c| c.0.clone());
        let matching: Vec<String> =
            self.completions.iter().filter(|c| c.starts_with(typed.trim())).cloned().collect();
        if matching.is_empty() {
            return;
        }
        let n = matching.len();
        let next = match (self.cycling.as_ref().map(|c| c.1), forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        let chosen = TextArea::from(&matching[next]);
        if self.kind == Kind::Http {
            self.path = chosen;
        } else {
            self.method = chosen;
        }
        self.template = None;
        self.cycling = Some((typed, next));
    }

    pub fn load_template(&mut self, index: usize) {
        let Some(t) = self.templates.get(index) else { return };
        let spec = t.spec.clone();
        self.load_spec(&spec);
        self.template = Some(index);
    }

    /// The fields of `spec`, to edit and send (a template, or an exchange sent before).
    pub fn load_spec(&mut self, spec: &RequestSpec) {
        self.template = None;
        match spec {
            RequestSpec::Rpc { method, params } => {
                self.method = TextArea::from(method);
                self.body = TextArea::from(&pretty(params));
            }
            RequestSpec::Line { value } => self.body = TextArea::from(&pretty(&Some(value.clone()))),
            RequestSpec::Http { method, path, body } => {
                self.method = TextArea::from(method);
                self.path = TextArea::from(path);
                self.body = TextArea::from(&pretty(body));
            }
        }
        self.error = None;
    }

    fn fields(&self) -> &'static [Field] {
        match self.kind {
            Kind::Rpc => &[Field::Method, Field::Body],
            Kind::Line => &[Field::Body],
            Kind::Http => &[Field::Method, Field::Path, Field::Body],
        }
    }

    /// The request as typed, or why it cannot be sent.
    pub fn build(&self) -> Result<RequestSpec, String> {
        let text = self.body.text();
        let body: Option<Value> = if text.trim().is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()))?,
            )
        };
        let method = self.method.text().trim().to_string();
        match self.kind {
            Kind::Rpc => {
                if method.is_empty() {
                    return Err("the method is empty".into());
                }
                if let Some(b) = &body
                    && !matches!(b, Value::Object(_) | Value::Array(_))
                {
                    return Err("JSON-RPC params must be an object or an array".into());
                }
                Ok(RequestSpec::Rpc { method, params: body })
            }
            Kind::Line => Ok(RequestSpec::Line { value: body.ok_or("the value is empty")? }),
            Kind::Http => {
                let path = self.path.text().trim().to_string();
                if !path.starts_with('/') {
                    return Err("the path must start with /".into());
                }
                Ok(RequestSpec::Http { method: method.to_ascii_uppercase(), path, body })
            }
        }
    }

    pub fn key(&mut self, key: &KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Action::Close,
            KeyCode::F(5) => return self.send(),
            KeyCode::Char('s') if ctrl => return self.send(),
            KeyCode::Enter if self.field != Field::Body => return self.send(),
            KeyCode::Tab | KeyCode::BackTab => {
                let fields = self.fields();
                let at = fields.iter().position(|f| *f == self.field).unwrap_or(0);
                let next = if key.code == KeyCode::Tab { at + 1 } else { at + fields.len() - 1 };
                self.field = fields[next % fields.len()];
            }
            KeyCode::F(2) | KeyCode::Char('t') if key.code == KeyCode::F(2) || ctrl => {
                if !self.templates.is_empty() {
                    let next = self.template.map_or(0, |t| (t + 1) % self.templates.len());
                    self.load_template(next);
                }
            }
            KeyCode::Up | KeyCode::Down
                if Some(self.field) == self.completion_field() && !self.completions.is_empty() =>
            {
                self.cycle(key.code == KeyCode::Down);
            }
            _ => {
                self.cycling = None;
                let area = match self.field {
                    Field::Method => &mut self.method,
                    Field::Path => &mut self.path,
                    Field::Body => &mut self.body,
                };
                if area.key(key, self.field == Field::Body) {
                    self.error = None;
                    self.template = None;
                }
            }
        }
        Action::None
    }

    /// A paste goes into the focused field as text: a line break in it never sends.
    pub fn paste(&mut self, text: &str) {
        self.cycling = None;
        let multiline = self.field == Field::Body;
        let area = match self.field {
            Field::Method => &mut self.method,
            Field::Path => &mut self.path,
            Field::Body => &mut self.body,
        };
        area.paste(text, multiline);
        self.error = None;
        self.template = None;
    }

    fn send(&mut self) -> Action {
        match self.build() {
            Ok(spec) => {
                self.error = None;
                self.sending = true;
                self.sent_at = Some(std::time::SystemTime::now());
                Action::Send(spec)
            }
            Err(e) => {
                self.error = Some(e);
                Action::None
            }
        }
    }

    /// Replaces the fields with an earlier send's, keeping the reply pane.
    pub fn recall_from(&mut self, earlier: &Composer) {
        self.method = earlier.method.clone();
        self.path = earlier.path.clone();
        self.body = earlier.body.clone();
        self.template = earlier.template;
        self.error = None;
    }
}
