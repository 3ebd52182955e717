//! When the calls let in will listen, and so how many listening turns fall
//! due in each of the next few seconds.
//!
//! A call listens some time after it is let in (its greeting, its number
//! entry), and that delay depends on the callers: a trunk of known numbers
//! listens after the greeting, one of unknown numbers after typing. The
//! schedule learns the delay's spread from the calls lately (a histogram
//! over `STEP`s, the mean over the last `MEMORY` calls), keeps the calls
//! let in and not yet listening counted by the step they were let in, and
//! from both predicts the turns due in each step ahead: a call that has
//! waited `a` without listening is due in the steps after `a` in proportion
//! to the delays learnt there, and only as likely to listen at all as calls
//! lately were, given that it has not yet.
//!
//! The prediction is made afresh once a step; between, a call let in adds
//! its own turn to it, and a call listening or ending stays in it until the
//! next step (a call admitted is never missed; a call gone counts a moment
//! longer).
//!
//! Sans-IO: every reading takes `now`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The schedule's resolution: of the delays learnt, of when calls were let
/// in, and of the turns due.
pub const STEP: Duration = Duration::from_millis(500);
/// How many calls what is learnt stands for at most: each of the last
/// this many weighs about alike, older ones fade. Alike, because the order
/// in which calls reach their turns says nothing: within a burst the calls
/// with the longest delays listen last, and a memory of a few calls would
/// hold only them.
pub const MEMORY: f64 = 512.0;
/// How many calls the priors stand for on a node that has learnt nothing:
/// after as many calls, half of what it predicts is learnt.
const PRIOR_CALLS: f64 = 32.0;

/// What the schedule has learnt of the callers: kept across restarts so a
/// restarted node does not meet its traffic as if it had never seen it.
#[derive(Debug, Clone, PartialEq)]
pub struct Learnt {
    /// Per step after admission, the share of first turns beginning in it;
    /// the last step holds every later delay. Sums to 1.
    pub delays: Vec<f64>,
    /// How many calls' delays `delays` stands for (at most `MEMORY`).
    pub delay_calls: f64,
    /// The share of calls lately that went on to listen.
    pub listen_share: f64,
    /// How many calls `listen_share` stands for (at most `MEMORY`).
    pub share_calls: f64,
}

impl Learnt {
    /// Before any call: every delay within `horizon` alike, and every call
    /// listening.
    pub fn prior(horizon: Duration) -> Learnt {
        let bins = bins_in(horizon);
        Learnt {
            delays: vec![1.0 / bins as f64; bins],
            delay_calls: PRIOR_CALLS,
            listen_share: 1.0,
            share_calls: PRIOR_CALLS,
        }
    }

    /// Learns that a call began listening `delay` after admission.
    fn listened_after(&mut self, delay: Duration) {
        let bins = self.delays.len();
        let at = ((delay.as_secs_f64() / STEP.as_secs_f64()) as usize).min(bins - 1);
        let weight = learn(&mut self.delay_calls);
        for (i, share) in self.delays.iter_mut().enumerate() {
            let seen = if i == at { 1.0 } else { 0.0 };
            *share += weight * (seen - *share);
        }
        self.listened(true);
    }

    /// Learns whether a call went on to listen.
    fn listened(&mut self, listened: bool) {
        let weight = learn(&mut self.share_calls);
        let seen = if listened { 1.0 } else { 0.0 };
        self.listen_share += weight * (seen - self.listen_share);
    }

    /// Whether this could have been learnt over `horizon`: one share per
    /// step, none negative, summing to 1, and a share of calls in 0..=1.
    pub fn fits(&self, horizon: Duration) -> bool {
        let sum: f64 = self.delays.iter().sum();
        self.delays.len() == bins_in(horizon)
            && self.delays.iter().all(|d| d.is_finite() && *d >= 0.0)
            && (sum - 1.0).abs() < 1e-6
            && (0.0..=1.0).contains(&self.listen_share)
            && [self.delay_calls, self.share_calls]
                .iter()
                .all(|c| (0.0..=MEMORY).contains(c))
    }
}

/// The weight of one more call in a mean over `calls` so far, which it
/// joins (up to `MEMORY`).
fn learn(calls: &mut f64) -> f64 {
    *calls = (*calls + 1.0).min(MEMORY);
    1.0 / *calls
}

fn bins_in(horizon: Duration) -> usize {
    (horizon.as_secs_f64() / STEP.as_secs_f64()).ceil().max(1.0) as usize
}

/// A call's place in the schedule, to hand back when it listens or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    step: u64,
    admitted: Instant,
}

#[derive(Debug)]
pub struct TurnSchedule {
    learnt: Learnt,
    origin: Instant,
    /// Calls let in and not yet listening, per step of admission time
    /// counted from `origin`.
    waiting: BTreeMap<u64, u32>,
    /// When calls lately began listening: turns in progress.
    began: VecDeque<Instant>,
    /// The turns due per step ahead, and the step it was made in.
    due: Vec<f64>,
    due_step: Option<u64>,
}

impl TurnSchedule {
    /// A schedule over `horizon` (about a call's answer to the end of its
    /// turn) starting from what was `learnt` before.
    pub fn new(learnt: Learnt, horizon: Duration, origin: Instant) -> TurnSchedule {
        let learnt = if learnt.fits(horizon) {
            learnt
        } else {
            Learnt::prior(horizon)
        };
        TurnSchedule {
            learnt,
            origin,
            waiting: BTreeMap::new(),
            began: VecDeque::new(),
            due: Vec::new(),
            due_step: None,
        }
    }

    pub fn learnt(&self) -> &Learnt {
        &self.learnt
    }

    /// A call let in at `now`, not yet listening.
    pub fn admitted(&mut self, now: Instant) -> Waiting {
        let step = self.step(now);
        *self.waiting.entry(step).or_default() += 1;
        if self.due_step == Some(step) {
            let share = self.learnt.listen_share;
            for (slot, mass) in self.due.iter_mut().zip(&self.learnt.delays) {
                *slot += share * mass;
            }
        }
        Waiting {
            step,
            admitted: now,
        }
    }

    /// The call began listening at `now`: its delay is learnt, and its
    /// turn is in progress.
    pub fn listening(&mut self, call: Waiting, now: Instant) {
        self.unwait(call);
        self.learnt
            .listened_after(now.saturating_duration_since(call.admitted));
        self.began.push_back(now);
    }

    /// The call ended before it listened.
    pub fn ended_waiting(&mut self, call: Waiting) {
        self.unwait(call);
        self.learnt.listened(false);
    }

    fn unwait(&mut self, call: Waiting) {
        // Not there when forgotten already: it waited past the horizon.
        if let Some(count) = self.waiting.get_mut(&call.step) {
            *count -= 1;
            if *count == 0 {
                self.waiting.remove(&call.step);
            }
        }
    }

    fn step(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin);
        (since.as_nanos() / STEP.as_nanos()) as u64
    }

    /// Turns due in each step from `now` on: the calls waiting, the turns
    /// begun within the last `span` (in progress, so in the first step),
    /// and `extra` calls let in now.
    pub fn due(&mut self, now: Instant, span: Duration, extra: usize) -> Vec<f64> {
        let step = self.step(now);
        if self.due_step != Some(step) {
            self.predict(now, step, span);
        }
        let share = self.learnt.listen_share;
        self.due
            .iter()
            .zip(&self.learnt.delays)
            .map(|(due, mass)| due + extra as f64 * share * mass)
            .collect()
    }

    fn predict(&mut self, now: Instant, step: u64, span: Duration) {
        let steps = self.learnt.delays.len();
        let mut due = vec![0.0; steps];
        while self
            .began
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= span)
        {
            self.began.pop_front();
        }
        due[0] += self.began.len() as f64;
        // Calls waiting longer than the horizon are forgotten: the learnt
        // delays end there.
        let oldest = step.saturating_sub(steps as u64);
        self.waiting = self.waiting.split_off(&oldest);
        let share = self.learnt.listen_share;
        // after[k]: the share of turns beginning k steps or more after
        // admission.
        let mut after = vec![0.0; steps + 1];
        for k in (0..steps).rev() {
            after[k] = after[k + 1] + self.learnt.delays[k];
        }
        for (&admitted, &count) in &self.waiting {
            let age = (step - admitted) as usize;
            let left = after[age.min(steps)];
            if left <= 1e-9 {
                continue;
            }
            // Likely to listen at all, given it has not yet.
            let listens = share * left / (share * left + 1.0 - share);
            let weight = count as f64 * listens / left;
            for (slot, mass) in due.iter_mut().zip(&self.learnt.delays[age..]) {
                *slot += weight * mass;
            }
        }
        self.due = due;
        self.due_step = Some(step);
    }

    /// Calls let in and not yet listening (those not forgotten).
    #[cfg(test)]
    pub fn waiting(&self) -> u32 {
        self.waiting.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HORIZON: Duration = Duration::from_secs(20);
    const SPAN: Duration = Duration::from_secs(2);

    fn total(due: &[f64]) -> f64 {
        due.iter().sum()
    }

    #[test]
    fn before_any_call_a_turn_is_due_alike_in_every_step() {
        let t0 = Instant::now();
        let mut schedule = TurnSchedule::new(Learnt::prior(HORIZON), HORIZON, t0);
        let due = schedule.due(t0, SPAN, 40);
        assert_eq!(due.len(), 40);
        for d in &due {
            assert!((d - 1.0).abs() < 1e-9, "{due:?}");
        }
    }

    #[test]
    fn a_call_waiting_is_due_in_the_steps_after_its_age() {
        let t0 = Instant::now();
        let mut schedule = TurnSchedule::new(Learnt::prior(HORIZON), HORIZON, t0);
        schedule.admitted(t0);
        // 15 s on and still waiting: every listener listens by 20 s, so it
        // is due within the next 5 s, all of it (every call listens).
        let due = schedule.due(t0 + Duration::from_secs(15), SPAN, 0);
        assert!((total(&due) - 1.0).abs() < 1e-6, "{due:?}");
        assert!(due[..10].iter().all(|d| (d - 0.1).abs() < 1e-9), "{due:?}");
        // Past the horizon it is forgotten.
        let due = schedule.due(t0 + Duration::from_secs(21), SPAN, 0);
        assert_eq!(total(&due), 0.0);
        assert_eq!(schedule.waiting(), 0);
    }

    #[test]
    fn the_delays_learnt_gather_the_turns_where_callers_listen() {
        let t0 = Instant::now();
        let mut schedule = TurnSchedule::new(Learnt::prior(HORIZON), HORIZON, t0);
        // Callers who all listen 8 s after they are let in, many more than
        // the memory holds.
        for i in 0..2000u64 {
            let at = t0 + Duration::from_millis(100 * i);
            let call = schedule.admitted(at);
            schedule.listening(call, at + Duration::from_secs(8));
        }
        let learnt = schedule.learnt().clone();
        assert!(learnt.delays[16] > 0.99, "{:?}", learnt.delays);
        assert!((learnt.delays.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // A call let in now is due 8 s on.
        let now = t0 + Duration::from_secs(300);
        let due = schedule.due(now, SPAN, 1);
        assert!(due[16] > 0.99, "{due:?}");
        // Ten let in now are due 4 s on once 4 s have passed, and ten let
        // in then, 8 s on.
        for _ in 0..10 {
            schedule.admitted(now);
        }
        let later = now + Duration::from_secs(4);
        let due = schedule.due(later, SPAN, 10);
        assert!(
            (due[8] - 10.0).abs() < 0.1 && (due[16] - 10.0).abs() < 0.1,
            "{due:?}"
        );
        assert!((total(&due) - 20.0).abs() < 0.1, "{due:?}");
    }

    #[test]
    fn a_call_let_in_counts_at_once_and_one_gone_from_the_next_step() {
        let t0 = Instant::now();
        let mut schedule = TurnSchedule::new(Learnt::prior(HORIZON), HORIZON, t0);
        assert_eq!(total(&schedule.due(t0, SPAN, 0)), 0.0);
        let call = schedule.admitted(t0);
        assert!((total(&schedule.due(t0, SPAN, 0)) - 1.0).abs() < 1e-9);
        schedule.ended_waiting(call);
        assert!((total(&schedule.due(t0, SPAN, 0)) - 1.0).abs() < 1e-9);
        assert_eq!(total(&schedule.due(t0 + STEP, SPAN, 0)), 0.0);
    }

    #[test]
    fn calls_that_end_without_listening_lower_the_share_due() {
        let t0 = Instant::now();
        let mut schedule = TurnSchedule::new(Learnt::prior(HORIZON), HORIZON, t0);
        for _ in 0..2000 {
            let call = schedule.admitted(t0);
            schedule.ended_waiting(call);
        }
        assert!(schedule.learnt().listen_share < 0.01);
        assert!(total(&schedule.due(t0 + STEP, SPAN, 1000)) < 10.0);
        // Turns begun count in the first step for the span.
        let call = schedule.admitted(t0);
        schedule.listening(call, t0 + Duration::from_secs(1));
        let due = schedule.due(t0 + Duration::from_secs(2), SPAN, 0);
        assert!((due[0] - 1.0).abs() < 1e-9, "{due:?}");
        assert_eq!(
            total(&schedule.due(t0 + Duration::from_secs(3), SPAN, 0)),
            0.0
        );
    }

    #[test]
    fn every_call_in_memory_weighs_alike_whatever_its_order() {
        let t0 = Instant::now();
        let mut schedule = TurnSchedule::new(Learnt::prior(HORIZON), HORIZON, t0);
        // A burst: 300 callers listening after 8 s, then 150 after 14 s
        // (those who typed their number first listen last).
        for (delay, count) in [(8, 300u32), (14, 150)] {
            for _ in 0..count {
                let call = schedule.admitted(t0);
                schedule.listening(call, t0 + Duration::from_secs(delay));
            }
        }
        let learnt = schedule.learnt();
        // Two in three at 8 s, one in three at 14 s, the prior's 32 calls
        // spread over the rest: what the burst was, not its last callers.
        assert!(
            (learnt.delays[16] - 300.0 / 482.0).abs() < 0.01,
            "{:?}",
            learnt.delays
        );
        assert!(
            (learnt.delays[28] - 150.0 / 482.0).abs() < 0.01,
            "{:?}",
            learnt.delays
        );
    }

    #[test]
    fn what_was_learnt_for_another_horizon_or_broken_is_not_used() {
        let t0 = Instant::now();
        let mut odd = Learnt::prior(Duration::from_secs(10));
        let schedule = TurnSchedule::new(odd.clone(), HORIZON, t0);
        assert_eq!(schedule.learnt(), &Learnt::prior(HORIZON));
        odd = Learnt::prior(HORIZON);
        odd.delays[0] = f64::NAN;
        assert!(!odd.fits(HORIZON));
        odd = Learnt::prior(HORIZON);
        odd.listen_share = 1.5;
        assert!(!odd.fits(HORIZON));
    }
}
