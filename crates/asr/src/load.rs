//! What the pool measures of its own load: how busy its workers were
//! lately, and what a listening turn costs it. Admission predicts from
//! these how far behind the pool would fall with more calls, before any
//! audio has had to wait.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::recent::{Recent, WINDOW};

/// Weight of the newest turn in the running mean of a turn's cost.
const TURN_WEIGHT: f64 = 0.05;

/// The pool's load as last measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolLoad {
    /// Share of the workers' time spent recognizing over the last one to
    /// two seconds (0 to 1).
    pub busy: f64,
    /// Recognizer time a listening turn took, on average lately (all its
    /// audio fed and its final result); `None` before the first turn.
    pub turn_cost: Option<Duration>,
    /// Turns finished since the pool started.
    pub turns: u64,
}

#[derive(Debug)]
pub(crate) struct Load {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Busy time of the current and the previous window.
    busy: Recent,
    turn_cost_secs: Option<f64>,
    turns: u64,
}

impl Load {
    pub(crate) fn new(now: Instant) -> Load {
        Load {
            state: Mutex::new(State {
                busy: Recent::new(now),
                turn_cost_secs: None,
                turns: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker spent `busy` on one pass, ending at `now`.
    pub(crate) fn record_busy(&self, now: Instant, busy: Duration) {
        let mut s = self.lock();
        s.busy.roll(now);
        s.busy.current += busy;
    }

    /// A turn finished having cost the recognizer `processing`.
    pub(crate) fn record_turn(&self, processing: Duration) {
        let mut s = self.lock();
        let secs = processing.as_secs_f64();
        s.turn_cost_secs = Some(match s.turn_cost_secs {
            Some(mean) => mean + TURN_WEIGHT * (secs - mean),
            None => secs,
        });
        s.turns += 1;
    }

    pub(crate) fn read(&self, now: Instant, workers: usize) -> PoolLoad {
        let mut s = self.lock();
        s.busy.roll(now);
        let span = WINDOW + now.saturating_duration_since(s.busy.started);
        let busy = (s.busy.current + s.busy.previous).as_secs_f64()
            / (span.as_secs_f64() * workers as f64);
        PoolLoad {
            busy: busy.clamp(0.0, 1.0),
            turn_cost: s.turn_cost_secs.map(Duration::from_secs_f64),
            turns: s.turns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_share_and_turn_cost_follow_the_work() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let load = Load::new(t0);
        let idle = load.read(ms(500), 2);
        assert_eq!(idle.busy, 0.0);
        assert_eq!(idle.turn_cost, None);
        // 1.5 s of the 2 workers' 3 s (two windows less the half not yet
        // over) at 1.5 s into the second window.
        load.record_busy(ms(900), Duration::from_millis(1000));
        load.record_busy(ms(1400), Duration::from_millis(500));
        let busy = load.read(ms(1500), 2).busy;
        assert!((busy - 0.5).abs() < 1e-9, "{busy}");
        // Two windows on, the work has aged out.
        assert_eq!(load.read(ms(3100), 2).busy, 0.0);
        load.record_turn(Duration::from_millis(100));
        assert_eq!(
            load.read(ms(3100), 2).turn_cost,
            Some(Duration::from_millis(100))
        );
        load.record_turn(Duration::from_millis(300));
        let cost = load.read(ms(3100), 2).turn_cost.unwrap().as_secs_f64();
        assert!((cost - 0.110).abs() < 1e-9, "{cost}");
        assert_eq!(load.read(ms(3100), 2).turns, 2);
    }
}
