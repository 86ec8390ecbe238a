//! The engine's calls, named once: the socket and the in-process link carry a call's name
//! as text, and this is the one list of what the names are and which of them act (and are
//! refused to read-only clients).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Status,
    Snapshot,
    Latency,
    Traffic,
    Logs,
    Events,
    Start,
    Stop,
    Restart,
    Kill,
    Signal,
    Stdin,
    Request,
    Load,
    ClearLogs,
    Reload,
    Record,
    Shutdown,
}

impl Call {
    pub const ALL: [Call; 18] = [
        Call::Status,
        Call::Snapshot,
        Call::Latency,
        Call::Traffic,
        Call::Logs,
        Call::Events,
        Call::Start,
        Call::Stop,
        Call::Restart,
        Call::Kill,
        Call::Signal,
        Call::Stdin,
        Call::Request,
        Call::Load,
        Call::ClearLogs,
        Call::Reload,
        Call::Record,
        Call::Shutdown,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Call::Status => "status",
            Call::Snapshot => "snapshot",
            Call::Latency => "latency",
            Call::Traffic => "traffic",
            Call::Logs => "logs",
            Call::Events => "events",
            Call::Start => "start",
            Call::Stop => "stop",
            Call::Restart => "restart",
            Call::Kill => "kill",
            Call::Signal => "signal",
            Call::Stdin => "stdin",
            Call::Request => "request",
            Call::Load => "load",
            Call::ClearLogs => "clear_logs",
            Call::Reload => "reload",
            Call::Record => "record",
            Call::Shutdown => "shutdown",
        }
    }

    pub fn from_name(name: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether it changes anything: everything but the reads.
    pub fn acts(self) -> bool {
        !matches!(
            self,
            Call::Status | Call::Snapshot | Call::Latency | Call::Traffic | Call::Logs | Call::Events
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_found_by_its_own_name_and_nothing_else_is() {
        for call in Call::ALL {
            assert_eq!(Call::from_name(call.name()), Some(call));
        }
        assert_eq!(Call::from_name("subscribe"), None);
        assert_eq!(Call::ALL.iter().filter(|c| c.acts()).count(), 12);
    }
}
