//! The flow's clock: real time that stands still while the caller holds the
//! call. A caller on hold can neither hear a prompt nor answer one, so the
//! flow's prompt, input and code timers wait for it and go on where they were
//! when the call resumes. The clock only moves forward.

use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy)]
pub struct FlowClock {
    /// When the current hold began.
    held_since: Option<Instant>,
    /// Time spent on hold in earlier holds.
    held_for: Duration,
}

impl FlowClock {
    /// The flow's time at the real instant `now`.
    pub fn now(&self, now: Instant) -> Instant {
        let held = self.held_for
            + self
                .held_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        now.checked_sub(held).unwrap_or(now)
    }

    /// The real instant at which the flow's clock reads `deadline`; `None`
    /// while on hold, when the flow's clock does not move.
    pub fn real(&self, deadline: Instant) -> Option<Instant> {
        match self.held_since {
            Some(_) => None,
            None => Some(deadline + self.held_for),
        }
    }

    pub fn hold(&mut self, now: Instant) {
        self.held_since.get_or_insert(now);
    }

    pub fn resume(&mut self, now: Instant) {
        if let Some(since) = self.held_since.take() {
            self.held_for += now.saturating_duration_since(since);
        }
    }

    pub fn is_held(&self) -> bool {
        self.held_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_clock_stands_still_while_held_and_goes_on_after() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut clock = FlowClock::default();
        assert_eq!(clock.now(t0 + s(1)), t0 + s(1));
        // A digit timeout due at flow time t0 + 5 s.
        assert_eq!(clock.real(t0 + s(5)), Some(t0 + s(5)));
        clock.hold(t0 + s(2));
        assert!(clock.is_held());
        assert_eq!(clock.now(t0 + s(2)), t0 + s(2));
        assert_eq!(clock.now(t0 + s(30)), t0 + s(2), "stands still");
        assert_eq!(clock.real(t0 + s(5)), None, "nothing falls due while held");
        clock.hold(t0 + s(10));
        clock.resume(t0 + s(32));
        assert_eq!(clock.now(t0 + s(32)), t0 + s(2), "resumes where it stopped");
        assert_eq!(clock.real(t0 + s(5)), Some(t0 + s(35)), "3 s were left");
        clock.hold(t0 + s(40));
        clock.resume(t0 + s(50));
        assert_eq!(clock.now(t0 + s(51)), t0 + s(11), "two holds add up");
    }
}
