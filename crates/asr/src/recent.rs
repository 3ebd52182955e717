//! "Lately" for the pool's readings: the current one-second window and the
//! one before it, so a reading falls back to nothing within two seconds of
//! the last thing recorded.

use std::time::{Duration, Instant};

/// How long one window lasts.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// A value kept for the current window and the previous one.
#[derive(Debug)]
pub(crate) struct Recent {
    /// When the current window began.
    pub started: Instant,
    pub current: Duration,
    pub previous: Duration,
}

impl Recent {
    pub(crate) fn new(now: Instant) -> Recent {
        Recent {
            started: now,
            current: Duration::ZERO,
            previous: Duration::ZERO,
        }
    }

    /// Moves the windows on to `now`: one window on, the current becomes
    /// the previous; two or more, both are empty.
    pub(crate) fn roll(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.started);
        if age >= 2 * WINDOW {
            self.previous = Duration::ZERO;
            self.current = Duration::ZERO;
            self.started = now;
        } else if age >= WINDOW {
            self.previous = self.current;
            self.current = Duration::ZERO;
            self.started += WINDOW;
        }
    }
}
