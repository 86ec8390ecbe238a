//! How a process ended: an exit code, or a signal by name with "core dumped" when so.

use nix::sys::signal::Signal;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

impl ExitInfo {
    pub fn from_status(status: ExitStatus) -> ExitInfo {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitInfo::Code(code),
            (None, Some(signal)) => ExitInfo::Signal { signal, core_dumped: status.core_dumped() },
            // Stopped/continued statuses are not exits; `wait` never returns them.
            (None, None) => ExitInfo::Code(-1),
        }
    }

    /// Only a clean `exit(0)` is success; any signal is a failure.
    pub fn is_success(&self) -> bool {
        matches!(self, ExitInfo::Code(0))
    }

    pub fn signal_name(&self) -> Option<String> {
        match self {
            ExitInfo::Signal { signal, .. } => Some(signal_name(*signal)),
            ExitInfo::Code(_) => None,
        }
    }
}

pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string())
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(code) => write!(f, "exit code {code}"),
            ExitInfo::Signal { signal, core_dumped } => {
                write!(f, "{}", signal_name(*signal))?;
                if *core_dumped {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_raw_wait_statuses() {
        // Raw wait(2) statuses: exit code in the high byte; signal in the low 7 bits; 0x80 = core.
        assert_eq!(ExitInfo::from_status(ExitStatus::from_raw(3 << 8)).to_string(), "exit code 3");
        assert_eq!(
            ExitInfo::from_status(ExitStatus::from_raw(11 | 0x80)).to_string(),
            "SIGSEGV (core dumped)"
        );
        assert_eq!(ExitInfo::from_status(ExitStatus::from_raw(9)).to_string(), "SIGKILL");
        assert!(!ExitInfo::from_status(ExitStatus::from_raw(15)).is_success());
        assert!(ExitInfo::from_status(ExitStatus::from_raw(0)).is_success());
    }
}
