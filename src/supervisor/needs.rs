//! `[sidecar.needs]`: before a sidecar starts on its own, a quick command says whether
//! what it needs is installed (a Python package, a runtime, a model file). When it is
//! not, the sidecar stays idle with the config's hint instead of greeting the operator
//! with a red exit; an operator can still start it by hand.

use crate::config::{Needs, SidecarConfig};
use std::process::Stdio;
use std::time::Duration;

/// A check that takes longer than this counts as failed: it must not hold up a start.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// `Err` says why the check failed: its exit and its last line of stderr.
pub async fn check(needs: &Needs, sidecar: &SidecarConfig) -> Result<(), String> {
    let mut command = tokio::process::Command::new(&needs.argv[0]);
    command
        .args(&needs.argv[1..])
        .current_dir(&sidecar.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if !sidecar.inherit_env {
        command.env_clear();
    }
    command.envs(sidecar.env.iter().map(|(k, v)| (k, v)));
    let child = command.spawn().map_err(|e| format!("cannot run {}: {e}", needs.argv[0]))?;
    let out = tokio::time::timeout(CHECK_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("the check took longer than {}s", CHECK_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let exit = super::ExitInfo::from_status(out.status);
    Err(if last.is_empty() { format!("the check ended with {exit}") } else { last.to_string() })
}
