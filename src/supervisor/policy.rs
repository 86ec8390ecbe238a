//! Restart decisions, kept pure so they are tested without processes: which exits
//! restart, exponential backoff that resets after stable uptime, and crash-loop detection.

use super::exit::ExitInfo;
use crate::config::{Backoff, CrashLoop, RestartPolicy};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub fn wants_restart(policy: RestartPolicy, exit: &ExitInfo) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => !exit.is_success(),
        RestartPolicy::Never => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    RestartIn(Duration),
    GiveUp { exits: u32, window: Duration },
}

#[derive(Debug)]
pub struct RestartTracker {
    backoff: Backoff,
    crash_loop: CrashLoop,
    /// Consecutive quick exits: the exponent of the next delay.
    attempt: u32,
    recent_exits: VecDeque<Instant>,
}

impl RestartTracker {
    pub fn new(backoff: Backoff, crash_loop: CrashLoop) -> Self {
        RestartTracker { backoff, crash_loop, attempt: 0, recent_exits: VecDeque::new() }
    }

    /// Called for an exit that the policy would restart.
    pub fn on_exit(&mut self, now: Instant, uptime: Duration) -> Decision {
        self.recent_exits.push_back(now);
        while let Some(&first) = self.recent_exits.front() {
            if now.duration_since(first) > self.crash_loop.window {
                self.recent_exits.pop_front();
            } else {
                break;
            }
        }
        if self.recent_exits.len() as u32 >= self.crash_loop.max_exits {
            return Decision::GiveUp {
                exits: self.recent_exits.len() as u32,
                window: self.crash_loop.window,
            };
        }
        if uptime >= self.backoff.reset_after {
            self.attempt = 0;
        }
        let delay = self.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        Decision::RestartIn(delay)
    }

    fn delay(&self, attempt: u32) -> Duration {
        let factor = self.backoff.multiplier.powi(attempt.min(64) as i32);
        let secs = (self.backoff.initial.as_secs_f64() * factor).min(self.backoff.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// An operator start/restart forgives the past.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.recent_exits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(max_exits: u32) -> RestartTracker {
        RestartTracker::new(
            Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                multiplier: 2.0,
                reset_after: Duration::from_secs(10),
            },
            CrashLoop { max_exits, window: Duration::from_secs(60) },
        )
    }

    #[test]
    fn delays_double_up_to_the_cap_and_reset_after_stable_uptime() {
        let mut t = tracker(100);
        let now = Instant::now();
        let quick = Duration::from_millis(5);
        let delays: Vec<_> = (0..6)
            .map(|_| match t.on_exit(now, quick) {
                Decision::RestartIn(d) => d.as_millis(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(t.on_exit(now, Duration::from_secs(11)), Decision::RestartIn(Duration::from_millis(100)));
        assert_eq!(t.on_exit(now, quick), Decision::RestartIn(Duration::from_millis(200)));
    }

    #[test]
    fn gives_up_after_max_exits_in_window_and_forgets_old_ones() {
        let mut t = tracker(3);
        let start = Instant::now();
        assert!(matches!(t.on_exit(start, Duration::ZERO), Decision::RestartIn(_)));
        // Outside the window by the time of the next exits.
        let later = start + Duration::from_secs(61);
        assert!(matches!(t.on_exit(later, Duration::ZERO), Decision::RestartIn(_)));
        assert!(matches!(t.on_exit(later, Duration::ZERO), Decision::RestartIn(_)));
        assert_eq!(
            t.on_exit(later, Duration::ZERO),
            Decision::GiveUp { exits: 3, window: Duration::from_secs(60) }
        );
        t.reset();
        assert!(matches!(t.on_exit(later, Duration::ZERO), Decision::RestartIn(_)));
    }

    #[test]
    fn policies() {
        let ok = ExitInfo::Code(0);
        let fail = ExitInfo::Signal { signal: 11, core_dumped: false };
        assert!(wants_restart(RestartPolicy::Always, &ok));
        assert!(!wants_restart(RestartPolicy::OnFailure, &ok));
        assert!(wants_restart(RestartPolicy::OnFailure, &fail));
        assert!(!wants_restart(RestartPolicy::Never, &fail));
    }
}
