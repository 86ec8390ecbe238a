//! Durations as operators read them, shared by every layer.

use std::time::Duration;

/// `400ms`, `2.31s`, `1m05s`: compact and exact enough for operators.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) && ms < 600_000 {
        format!("{}s", ms / 1000)
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        format!("{s:.2}s")
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}
