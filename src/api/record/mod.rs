//! Recording traffic through the engine: `--record FILE` at start, `ctl record NAME FILE`
//! and `ctl record --stop` later. One recording at a time; a new one ends the previous.

pub mod file;

use super::engine::Engine;
use super::{RpcError, RpcResult, codes};
use crate::api::record::file::{DEFAULT_MAX_BYTES, Recording};
use crate::supervisor::status::EventKind;
use serde_json::{Value, json};
use std::path::Path;

impl Engine {
    /// Records every exchange of `sidecar` (or of every sidecar) into `path` from now on;
    /// says what it started (and what it ended, when one was already running).
    pub async fn record(
        &self,
        path: &Path,
        sidecar: Option<String>,
        max_bytes: u64,
    ) -> Result<String, RpcError> {
        if let Some(name) = &sidecar {
            self.supervisor.get(name).map_err(|e| (codes::UNKNOWN_SIDECAR, e.to_string()))?;
        }
        let (supervisor, whose, shown) =
            (self.supervisor.clone(), sidecar.clone(), path.display().to_string());
        let on_trouble = Box::new(move |news: Result<(), String>| {
            let path = shown.clone();
            let kind = match news {
                Err(error) => EventKind::RecordingFailed { path, error },
                Ok(()) => EventKind::RecordingResumed { path },
            };
            supervisor.note_recording(whose.as_deref(), kind);
        });
        let recording =
            Recording::start(self.supervisor.subscribe_exchanges(), path, sidecar, max_bytes, on_trouble)
                .map_err(|e| (codes::FAILED, format!("cannot record to {}: {e}", path.display())))?;
        let whose = recording.sidecar.as_deref().map_or("every sidecar".to_string(), str::to_string);
        let started = format!("recording the exchanges of {whose} to {}", path.display());
        let previous = self.recording.lock().unwrap_or_else(|e| e.into_inner()).replace(recording);
        Ok(match previous {
            Some(previous) => format!("{}; {started}", ended(previous).await),
            None => started,
        })
    }

    /// Ends the recording, once what it has is written; `None` when none runs.
    pub async fn stop_recording(&self) -> Option<String> {
        let recording = self.recording.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(ended(recording).await)
    }

    pub(super) async fn record_command(&self, params: &Value) -> RpcResult {
        if params.get("stop").and_then(Value::as_bool).unwrap_or(false) {
            return match self.stop_recording().await {
                Some(summary) => Ok(json!({"summary": summary})),
                None => Err((codes::FAILED, "no recording is running".into())),
            };
        }
        let Some(file) = params.get("file").and_then(Value::as_str) else {
            return Err((codes::INVALID_PARAMS, "record needs \"file\" (or \"stop\": true)".into()));
        };
        // A relative path would land in the agent's folder, not the caller's.
        if !Path::new(file).is_absolute() {
            return Err((codes::INVALID_PARAMS, format!("record needs an absolute path, not {file:?}")));
        }
        let sidecar = params.get("sidecar").and_then(Value::as_str).map(str::to_string);
        let max_bytes = params.get("max_bytes").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_BYTES);
        let summary = self.record(Path::new(file), sidecar, max_bytes).await?;
        Ok(json!({"summary": summary}))
    }
}

async fn ended(recording: Recording) -> String {
    let path = recording.path.display().to_string();
    match recording.stop().await {
        Ok(summary) => format!("stopped: {summary}"),
        Err(e) => format!("the recording to {path} failed: {e}"),
    }
}
