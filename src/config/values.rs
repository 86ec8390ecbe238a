//! Scalar config values written as strings by people: durations, sizes, signal names,
//! and the command (argv array or shell string). Each parses with a message that says
//! what was expected, so the loader can point at the value.

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written like `"250ms"`, `"5s"`, `"1m"` or `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl FromStr for DurationValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "0" {
            return Ok(DurationValue(Duration::ZERO));
        }
        let d = humantime::parse_duration(s).map_err(|e| {
            format!("invalid duration {s:?} ({e}); write it like \"250ms\", \"5s\" or \"1m\"")
        })?;
        // Longer makes no sense here, and keeps deadline arithmetic far from overflow.
        if d > MAX_DURATION {
            return Err(format!("duration {s:?} is longer than a year"));
        }
        Ok(DurationValue(d))
    }
}

/// The longest duration any setting accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A byte count: an integer, or a string like `"64KiB"`, `"10MB"`, `"4 MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("invalid size {s:?}; write it like 65536, \"64KiB\" or \"10MB\""))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit {other:?} in {s:?}; use B, KB, KiB, MB, MiB, GB or GiB"
                ));
            }
        };
        number.checked_mul(multiplier).map(ByteSize).ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte count such as 65536 or \"64KiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A signal by name: `"SIGTERM"`, `"TERM"` or `"term"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalName(pub Signal);

pub fn parse_signal(s: &str) -> Result<Signal, String> {
    let upper = s.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    Signal::from_str(&full).map_err(|_| {
        format!("unknown signal {s:?}; use a name such as \"SIGTERM\", \"SIGINT\" or \"SIGQUIT\"")
    })
}

impl<'de> Deserialize<'de> for SignalName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_signal(&s).map(SignalName).map_err(de::Error::custom)
    }
}

/// When an exited sidecar is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        })
    }
}

/// `command` as written: an argv array (run directly) or one string (needs `shell = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    Argv(Vec<String>),
    Shell(String),
}

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings (argv) or a string with shell = true")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec::Shell(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandSpec, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(CommandSpec::Argv(argv))
            }
        }
        d.deserialize_any(V)
    }
}

/// `9464` or `:9464` means 127.0.0.1:9464; a full address is taken as given.
pub fn parse_metrics_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| format!("{text:?} is not an address to serve metrics on (like 127.0.0.1:9464)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback() {
        assert_eq!(parse_metrics_addr("9464").unwrap(), "127.0.0.1:9464".parse().unwrap());
        assert_eq!(parse_metrics_addr(":9464").unwrap(), "127.0.0.1:9464".parse().unwrap());
        assert_eq!(parse_metrics_addr("[::1]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert!(parse_metrics_addr("localhost").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!("250ms".parse::<DurationValue>().unwrap().0, Duration::from_millis(250));
        assert_eq!("1m".parse::<DurationValue>().unwrap().0, Duration::from_secs(60));
        assert_eq!("0".parse::<DurationValue>().unwrap().0, Duration::ZERO);
        assert!("5 parsecs".parse::<DurationValue>().is_err());
        assert!("300000000000y".parse::<DurationValue>().is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!("64KiB".parse::<ByteSize>().unwrap().0, 65536);
        assert_eq!("10MB".parse::<ByteSize>().unwrap().0, 10_000_000);
        assert_eq!("4 MiB".parse::<ByteSize>().unwrap().0, 4 << 20);
        assert!("12 bananas".parse::<ByteSize>().is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGINT").unwrap(), Signal::SIGINT);
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
