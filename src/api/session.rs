//! One front end's conversation with the engine, whatever carries it (socket or
//! channel): `hello` first, its subscriptions and its bounded queue, and the read-only
//! rule. Engine commands run on their own (a slow restart does not hold up a status
//! read); what a session owns (hello, subscriptions) is answered at once.

use super::engine::{Engine, Reply};
use super::follow::{self, Follow, Outbox, Pace};
use super::wire::Notice;
use super::{PROTOCOL_VERSION, RpcResult, codes};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How often a screen's log follower sends (about a frame).
const SCREEN_PACE: std::time::Duration = std::time::Duration::from_millis(30);

pub enum Handled {
    Now(RpcResult),
    Later(Reply),
}

pub struct Session {
    engine: Arc<Engine>,
    pub outbox: Outbox,
    hello: bool,
    read_only: bool,
    follows: JoinSet<()>,
    /// Replaced as a whole by `follow_logs` (the dashboard follows what it shows).
    log_follows: JoinSet<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // A front end gone mid-request changes nothing: its follows stop, its actions stand.
        self.follows.abort_all();
        self.log_follows.abort_all();
    }
}

impl Session {
    pub fn new(engine: Arc<Engine>, read_only: bool) -> (Session, mpsc::Receiver<Notice>) {
        let (outbox, queue) = follow::outbox();
        let session = Session {
            engine,
            outbox,
            hello: false,
            read_only,
            follows: JoinSet::new(),
            log_follows: JoinSet::new(),
        };
        (session, queue)
    }

    pub fn call(&mut self, method: &str, params: Value) -> Handled {
        let now = |result| Handled::Now(result);
        if let Err(e) = super::params::check(method, &params) {
            return now(Err(e));
        }
        if method == "hello" {
            return now(self.hello(&params));
        }
        if !self.hello {
            return now(Err((codes::NO_HELLO, "say hello first (with the protocol version)".into())));
        }
        match method {
            "subscribe" => now(self.subscribe(&params)),
            "follow_logs" => now(self.follow_logs(&params)),
            _ if self.read_only && Engine::acts(method) => {
                now(Err((codes::READ_ONLY, "this client is read-only".into())))
            }
            _ => match self.engine.command(method, params) {
                Some(reply) => Handled::Later(reply),
                None => now(Err((codes::NO_METHOD, format!("no method {method:?}")))),
            },
        }
    }

    fn hello(&mut self, params: &Value) -> RpcResult {
        let version = params.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version != u64::from(PROTOCOL_VERSION) {
            return Err((
                codes::VERSION,
                format!(
                    "protocol version {version} is not spoken here (this sidetop speaks {PROTOCOL_VERSION})"
                ),
            ));
        }
        self.hello = true;
        self.read_only |= params.get("read_only").and_then(Value::as_bool).unwrap_or(false);
        Ok(json!({
            "version": PROTOCOL_VERSION,
            "sidetop": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "config": self.engine.config_path.display().to_string(),
            "read_only": self.read_only,
        }))
    }

    fn subscribe(&mut self, params: &Value) -> RpcResult {
        let flag = |key: &str| params.get(key).and_then(Value::as_bool).unwrap_or(false);
        let follow = Follow {
            events: flag("events"),
            status: flag("status"),
            samples: flag("samples"),
            traffic: flag("traffic"),
        };
        let logs = match params.get("logs") {
            Some(Value::String(all)) if all == "*" => self.engine.supervisor.sidecars().to_vec(),
            Some(Value::Array(names)) => self.engine.named(&json!({"sidecars": names}))?,
            _ => Vec::new(),
        };
        // A new subscription replaces the previous one (dropping a set aborts its tasks).
        self.follows = JoinSet::new();
        follow::start(&mut self.follows, &self.engine, &self.outbox, follow);
        let from = params.get("from_seq").and_then(Value::as_u64);
        for handle in logs {
            follow::logs(&mut self.follows, handle, &self.outbox, from, flag("stderr"), Pace::Every);
        }
        Ok(json!({}))
    }

    /// `{"sidecars": {"NAME": from_seq or null, ...}}`: follow exactly these logs from
    /// there (null: from now), instead of what this method was given before, paced for a
    /// screen: under a flood, only the newest lines a screen keeps are sent.
    fn follow_logs(&mut self, params: &Value) -> RpcResult {
        let Some(Value::Object(wanted)) = params.get("sidecars") else {
            return Err((codes::INVALID_PARAMS, "`sidecars` maps names to the sequence to start at".into()));
        };
        let mut handles = Vec::new();
        for (name, from) in wanted {
            let handle = self.engine.supervisor.get(name).map_err(super::engine::op_error)?;
            handles.push((handle, from.as_u64()));
        }
        self.log_follows = JoinSet::new();
        let stderr = params.get("stderr").and_then(Value::as_bool).unwrap_or(false);
        for (handle, from) in handles {
            follow::logs(
                &mut self.log_follows,
                handle,
                &self.outbox,
                from,
                stderr,
                Pace::Screen(SCREEN_PACE),
            );
        }
        Ok(json!({}))
    }
}
