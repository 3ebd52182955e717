//! How far the recognizer is behind the calls: the longest any queued
//! audio waited for a worker lately. A pool keeping up picks a session's
//! audio within milliseconds of its arrival; past capacity the wait grows
//! with every frame, and every caller's decision comes that much later.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::recent::Recent;

/// The lag is the longest wait of the current and the previous window
/// ([`Recent`]), so it falls back to zero within two windows of the last.
#[derive(Debug)]
pub(crate) struct Lag {
    windows: Mutex<Recent>,
}

impl Lag {
    pub(crate) fn new(now: Instant) -> Lag {
        Lag {
            windows: Mutex::new(Recent::new(now)),
        }
    }

    /// A worker took audio that had waited `wait`.
    pub(crate) fn record(&self, now: Instant, wait: Duration) {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        w.roll(now);
        w.current = w.current.max(wait);
    }

    /// The longest wait of the last one to two seconds.
    pub(crate) fn get(&self, now: Instant) -> Duration {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        w.roll(now);
        w.current.max(w.previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_recent_wait_counts_and_ages_out() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let lag = Lag::new(t0);
        assert_eq!(lag.get(t0), Duration::ZERO);
        lag.record(ms(100), Duration::from_millis(40));
        lag.record(ms(200), Duration::from_millis(400));
        lag.record(ms(300), Duration::from_millis(10));
        assert_eq!(lag.get(ms(900)), Duration::from_millis(400));
        // Next window: the previous one's worst still counts.
        lag.record(ms(1100), Duration::from_millis(5));
        assert_eq!(lag.get(ms(1500)), Duration::from_millis(400));
        // Two windows on, only what came since.
        lag.record(ms(2100), Duration::from_millis(7));
        assert_eq!(lag.get(ms(2200)), Duration::from_millis(7));
        assert_eq!(lag.get(ms(4500)), Duration::ZERO);
    }
}
