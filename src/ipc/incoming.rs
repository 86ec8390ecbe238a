//! What a sidecar sends: replies routed to their requests, its own notifications and
//! requests (recorded, answered, turned into log lines), frames too large to take.

use super::*;

impl Ipc {
    /// A message on a Streamable HTTP event stream that is not the awaited reply: like a
    /// frame on stdout. Returns the progress token it is about, if any.
    pub(super) fn on_http_message(&self, bytes: &[u8]) -> Option<u64> {
        let message: Value = serde_json::from_slice(bytes).ok()?;
        let method = message.get("method").and_then(Value::as_str)?.to_string();
        self.record_unsolicited(method.clone(), bytes, Outcome::Ok);
        let params = message.get("params").cloned().unwrap_or_default();
        self.heard(&method, &params);
        // A request from the server (`roots/list`, `sampling/createMessage`, `ping`) is
        // answered with a POST of its own, as over stdio: never left waiting.
        if let Some(id) = message.get("id").filter(|id| !id.is_null())
            && let Some(streamable) = &self.streamable
        {
            streamable.answer_in_background(&meaning::answer_message(
                self.config.speaks,
                id.clone(),
                &method,
                &params,
            ));
        }
        (method == "notifications/progress").then(|| meaning::progress_token(&params)).flatten()
    }

    /// A line for the sidecar's log from sidetop's side of the protocol (a server's log
    /// message, a task's status). A server that floods its log loses lines here, not the
    /// reader's time: counted, and said in the log by its reader.
    pub(crate) fn log_line(&self, line: String) {
        if let Some((notes, dropped)) = &*self.notes.lock().unwrap_or_else(|e| e.into_inner())
            && let Err(mpsc::error::TrySendError::Full(_)) = notes.try_send(line)
        {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A notification or request from the server: what it means for sidetop (a log line,
    /// lists to fetch again, diagnostics to count).
    pub(super) fn heard(&self, method: &str, params: &Value) {
        let speaks = self.config.speaks;
        if let Some(line) = meaning::log_line(speaks, method, params) {
            self.log_line(line);
        }
        match method {
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed"
                if speaks == Speaks::Mcp =>
            {
                self.relist.notify_one()
            }
            "textDocument/publishDiagnostics" if speaks == Speaks::Lsp => {
                if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                    let count = params.get("diagnostics").and_then(Value::as_array).map_or(0, Vec::len);
                    let mut documents = self.diagnostics.lock().unwrap_or_else(|e| e.into_inner());
                    // A document without diagnostics counts for nothing: not kept, so
                    // the map holds only documents with something to say, at most
                    // MAX_DIAGNOSED of them.
                    if count == 0 {
                        documents.remove(uri);
                    } else if documents.len() < MAX_DIAGNOSED || documents.contains_key(uri) {
                        documents.insert(uri.to_string(), count);
                    } else {
                        tracing::debug!(
                            "{}: diagnostics of {uri} not counted: {MAX_DIAGNOSED} documents already are",
                            self.name
                        );
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn record(&self, exchange: &Arc<Exchange>) {
        self.metrics().record(exchange, Instant::now());
        let _ = self.exchanges.send(exchange.clone());
        self.changed.notify_one();
    }

    pub(super) fn record_unsolicited(&self, method: String, text: &[u8], outcome: Outcome) {
        self.record_unsolicited_cut(method, text, outcome, super::protocol::TRAFFIC_TEXT_CAP);
    }

    /// The same keeping at most `cap` bytes of the text.
    pub(super) fn record_unsolicited_cut(&self, method: String, text: &[u8], outcome: Outcome, cap: usize) {
        let exchange = Arc::new(Exchange {
            sidecar: self.name.clone(),
            at: SystemTime::now(),
            method,
            origin: Origin::Sidecar,
            request: None,
            response: Some(super::protocol::capped_text(text, cap)),
            latency: None,
            outcome,
            status: None,
            spec: None,
        });
        self.metrics().record_unsolicited(&exchange);
        let _ = self.exchanges.send(exchange);
        self.changed.notify_one();
    }

    /// A frame from the sidecar, read from `conn` (the connection of the run that sent
    /// it); returns whether it was protocol (else it is log text).
    pub fn on_frame(&self, conn: &Arc<RpcConn>, bytes: &[u8], at: Instant) -> bool {
        let routed = conn.route(bytes, at);
        let mut answers = Vec::new();
        let protocol = self.account(conn, routed, bytes, &mut answers);
        match answers.len() {
            0 => {}
            // A batch is answered with a batch (JSON-RPC 2.0, section 6).
            1 if !matches!(bytes.trim_ascii_start().first(), Some(b'[')) => {
                self.answer(conn, answers.pop().expect("one"))
            }
            _ => self.answer(conn, Value::Array(answers)),
        }
        protocol
    }

    /// Counts and records one routed frame (or every item of a batch); collects the
    /// answers owed to requests from the sidecar.
    pub(super) fn account(
        &self,
        conn: &RpcConn,
        routed: Routed,
        bytes: &[u8],
        answers: &mut Vec<Value>,
    ) -> bool {
        match routed {
            Routed::Delivered => true,
            Routed::NotProtocol => false,
            Routed::Late => {
                self.metrics().late += 1;
                true
            }
            Routed::UnknownId(id) => {
                self.record_unsolicited(
                    "(reply)".into(),
                    bytes,
                    Outcome::Malformed(format!("reply with unknown id {id}")),
                );
                true
            }
            Routed::Malformed(why) => {
                self.record_unsolicited("(frame)".into(), bytes, Outcome::Malformed(why));
                // Keep the text in the log too: nothing is lost.
                false
            }
            Routed::Incoming { method, request_id, params } => {
                if method == "notifications/progress"
                    && let Some(token) = meaning::progress_token(&params)
                {
                    conn.touch(token);
                }
                self.heard(&method, &params);
                if let Some(id) = request_id {
                    // Answer so the sidecar is not left waiting on us.
                    answers.push(meaning::answer_message(self.config.speaks, id, &method, &params));
                }
                self.record_unsolicited(method, bytes, Outcome::Ok);
                true
            }
            Routed::Batch(items) => {
                let mut protocol = false;
                for item in items {
                    protocol |= self.account(conn, item, bytes, answers);
                }
                protocol
            }
        }
    }

    /// Writes an answer without holding up the reader; at most `MAX_ANSWERING` at once,
    /// the rest are counted as protocol errors and not answered.
    pub(super) fn answer(&self, conn: &Arc<RpcConn>, answer: Value) {
        match self.answering.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = conn.clone();
                tokio::spawn(async move {
                    let _ = conn.send_only(&answer).await;
                    drop(permit);
                });
            }
            Err(_) => self.record_unsolicited(
                "(request)".into(),
                b"",
                Outcome::Malformed(format!(
                    "the sidecar sent requests faster than it reads answers; {MAX_ANSWERING} answers pending, this one dropped"
                )),
            ),
        }
    }

    /// A frame larger than sidetop accepts (at least `len` bytes) was skipped.
    pub fn on_oversize(&self, len: usize) {
        let size = if len > framing::MAX_FRAME { format!("{len} bytes") } else { "over the cap".to_string() };
        self.record_unsolicited(
            "(frame)".into(),
            b"",
            Outcome::Malformed(format!("frame of {size} exceeds the {} byte cap", framing::MAX_FRAME)),
        );
    }
}
