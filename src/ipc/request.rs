//! Sidetop's own requests to a sidecar: sent on the current run's connection (or one
//! run's, for its stop steps), through the transport the sidecar speaks, each recorded as
//! an exchange.

use super::*;

/// What a request still gets after its whole timeout went on waiting for the sidecar
/// to listen (or for a permit): enough to learn why it cannot be sent (a refused
/// connection), which says more than a bare timeout, even on a loaded machine.
const LAST_TRY: Duration = Duration::from_millis(100);

impl Ipc {
    /// Sends one request and records the exchange (histograms, traffic, subscribers).
    pub async fn request(&self, spec: &RequestSpec, origin: Origin) -> Arc<Exchange> {
        self.request_with_timeout(spec, origin, self.config.timeout).await
    }

    pub async fn request_with_timeout(
        &self,
        spec: &RequestSpec,
        origin: Origin,
        timeout: Duration,
    ) -> Arc<Exchange> {
        self.request_via(None, spec, origin, timeout).await
    }

    /// A request to one run only (its stop steps): on that run's connection, which fails
    /// once the run has ended, never on the next run's.
    pub(crate) async fn request_on(
        &self,
        run: &Arc<RpcConn>,
        spec: &RequestSpec,
        origin: Origin,
        timeout: Duration,
    ) -> Arc<Exchange> {
        self.request_via(Some(run), spec, origin, timeout).await
    }

    pub(super) async fn request_via(
        &self,
        run: Option<&Arc<RpcConn>>,
        spec: &RequestSpec,
        origin: Origin,
        timeout: Duration,
    ) -> Arc<Exchange> {
        let at = SystemTime::now();
        let deadline = tokio::time::Instant::now() + timeout;
        // A sidecar that is still starting gets the request once it listens.
        if run.is_none() && !self.is_connected() && self.attached.load(Ordering::Acquire) {
            let _ = self.wait_connected(timeout).await;
        }
        let permit = tokio::time::timeout_at(deadline, self.permits.acquire()).await;
        let (request, outcome, response, latency, status) = match permit {
            Err(_) => (describe_request(spec), Outcome::Timeout(timeout), None, None, None),
            Ok(Err(_)) => unreachable!("the semaphore is never closed"),
            Ok(Ok(_permit)) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let augmented = mcp_tasks::augment(self, spec);
                let sent = self.send(augmented.as_ref().unwrap_or(spec), left.max(LAST_TRY), run).await;
                let mut sent = mcp_tasks::follow(self, run, sent, timeout).await;
                // Reported against the timeout asked for, however it was spent.
                if let Outcome::Timeout(_) = sent.1 {
                    sent.1 = Outcome::Timeout(timeout);
                }
                sent
            }
        };
        let (mut outcome, response) = (outcome, response);
        if outcome.is_ok()
            && let Some(error) = response.as_deref().and_then(|r| meaning::tool_error(self.config.speaks, r))
        {
            outcome = Outcome::ToolError(error);
        }
        let exchange = Arc::new(Exchange {
            sidecar: self.name.clone(),
            at,
            method: meaning::label(self.config.speaks, spec),
            origin,
            request: Some(cap_text(request)),
            response: response.map(cap_text),
            latency,
            outcome,
            status,
            spec: Some(spec.clone()),
        });
        self.record(&exchange);
        exchange
    }

    pub(super) async fn send(
        &self,
        spec: &RequestSpec,
        timeout: Duration,
        run: Option<&Arc<RpcConn>>,
    ) -> (String, Outcome, Option<String>, Option<Duration>, Option<u16>) {
        let connection = || run.cloned().or_else(|| self.current());
        match (spec, &self.http) {
            (RequestSpec::Http { method, path, body }, Some(http)) => {
                let call = http.send(method, path, body.as_ref(), timeout).await;
                (describe_request(spec), call.outcome, call.response, call.latency, call.status)
            }
            (RequestSpec::Http { .. }, None) | (_, Some(_)) => (
                describe_request(spec),
                Outcome::Transport("request does not match the sidecar's protocol".into()),
                None,
                None,
                None,
            ),
            #[cfg(feature = "grpc")]
            (RequestSpec::Rpc { method, params }, None) if self.grpc.is_some() => {
                let grpc = self.grpc.as_ref().expect("checked");
                let call = grpc.call(method, params.as_ref(), timeout).await;
                (call.request, call.outcome, call.response, call.latency, None)
            }
            (RequestSpec::Rpc { method, params }, None) => {
                let speaks = self.config.speaks;
                let message = |id| {
                    let mut message = rpc_message(Some(id), method, params.as_ref());
                    meaning::add_progress_token(speaks, &mut message, id);
                    message
                };
                let call = if let Some(streamable) = &self.streamable {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let on_message = |bytes: &[u8]| self.on_http_message(bytes);
                    streamable.call(message(id), id, timeout, self.config.max_timeout, &on_message).await
                } else if let Some(injector) = self.injector() {
                    self.call_injected(injector.as_ref(), method, params.as_ref(), timeout).await
                } else {
                    let Some(conn) = connection() else {
                        return (describe_request(spec), not_connected(), None, None, None);
                    };
                    conn.call(message, timeout).await
                };
                (call.request, call.outcome, call.response, call.latency, None)
            }
            (RequestSpec::Line { value }, None) => {
                if self.injector().is_some() {
                    // Replies come in order and carry no id: one of ours among the
                    // application's would take the place of its reply.
                    let why = Outcome::Transport(inject::JSON_LINES_WHY.into());
                    return (describe_request(spec), why, None, None, None);
                }
                let Some(conn) = connection() else {
                    return (describe_request(spec), not_connected(), None, None, None);
                };
                let call = conn.call(|_| value.clone(), timeout).await;
                (call.request, call.outcome, call.response, call.latency, None)
            }
        }
    }

    /// A JSON-RPC notification (no reply), as handshakes send.
    pub async fn notify(&self, method: &str, params: Option<&Value>) -> Result<(), Outcome> {
        self.notify_via(None, method, params).await
    }

    /// A notification to one run only (see `request_on`).
    pub(crate) async fn notify_via(
        &self,
        run: Option<&Arc<RpcConn>>,
        method: &str,
        params: Option<&Value>,
    ) -> Result<(), Outcome> {
        if let Some(streamable) = &self.streamable {
            return streamable.notify(&rpc_message(None, method, params)).await;
        }
        let conn = run.cloned().or_else(|| self.current()).ok_or_else(not_connected)?;
        conn.send_only(&rpc_message(None, method, params)).await
    }
}
