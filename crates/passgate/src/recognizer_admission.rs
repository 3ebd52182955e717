//! Admission by recognizer load: whether one more call can be let in
//! without every caller's decision coming late.
//!
//! A call admitted now listens a few seconds later, so the audio waiting
//! for a worker now (the lag) shows an overload only once it has begun.
//! The rule therefore also predicts: the calls admitted over the last
//! `window` and still in progress, each with a listening turn to come, at
//! the recognizer time a turn has lately cost, are a share of the workers'
//! time; a call that would take that share past `max_load` is refused. A
//! call over stops counting at once, and a call that has not listened yet
//! counts only as much as calls lately went on to listen (a flood of
//! signalling-only calls, or callers hanging up in the greeting, load the
//! recognizer with nothing). The lag stays as the backstop for what the
//! prediction misses.
//!
//! Sans-IO: the rule is given `now` and the pool's readings, so a test
//! drives it on a virtual clock.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a turn is taken to cost before the pool has measured one: what a
/// passphrase turn cost the recognizer on the benchmark machine with 250
/// callers at once (P5: 63 to 101 ms, its audio and its final result; 41 to
/// 50 ms with three). A node starts under whatever load it is given, so the
/// loaded figure: a fresh node takes a burst's first calls on it alone.
pub const PRIOR_TURN_COST: Duration = Duration::from_millis(90);
/// Weight of the newest call in the running share of calls that listened.
const LISTEN_WEIGHT: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionLimits {
    /// Refuse while audio has lately waited longer than this for a worker;
    /// zero turns the check off.
    pub max_lag: Duration,
    /// Refuse a call that would take the predicted share of the workers'
    /// time past this; zero turns the check off.
    pub max_load: f64,
    /// The calls admitted over this long are the ones whose turns are to
    /// come: about the time from a call's answer to the end of its turn.
    pub window: Duration,
}

/// The recognizer pool as it is now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolReading {
    pub lag: Duration,
    /// Recognizer time a turn has lately cost; `None` before any.
    pub turn_cost: Option<Duration>,
    pub workers: usize,
}

/// Why a call is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    Lag { lag: Duration, max: Duration },
    Load { predicted: f64, max: f64 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Lag { lag, max } => write!(
                f,
                "recognizer {} ms behind (asr.admit_max_lag_ms = {})",
                lag.as_millis(),
                max.as_millis()
            ),
            Refusal::Load { predicted, max } => write!(
                f,
                "recognizer load predicted at {predicted:.2} of its workers (asr.admit_max_load = {max})"
            ),
        }
    }
}

impl Refusal {
    /// The label counted in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Lag { .. } => "recognizer_lag",
            Refusal::Load { .. } => "recognizer_load",
        }
    }
}

/// A call let in, to hand back when it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted(u64);

#[derive(Debug)]
pub struct RecognizerAdmission {
    limits: AdmissionLimits,
    /// When each call in progress and inside the window was admitted, and
    /// whether it has listened, by admission order (so oldest first).
    admitted: BTreeMap<u64, (Instant, bool)>,
    next: u64,
    /// The share of calls lately that went on to listen (1 before any).
    listen_share: f64,
}

impl RecognizerAdmission {
    pub fn new(limits: AdmissionLimits) -> RecognizerAdmission {
        RecognizerAdmission {
            limits,
            admitted: BTreeMap::new(),
            next: 0,
            listen_share: 1.0,
        }
    }

    /// The share of the workers' time the calls admitted over the window,
    /// plus `extra` more, are predicted to need.
    pub fn predicted_load(&mut self, now: Instant, pool: &PoolReading, extra: usize) -> f64 {
        self.forget_before(now);
        let window = self.limits.window.as_secs_f64();
        if window <= 0.0 {
            return 0.0;
        }
        let share = self.listen_share;
        let turns: f64 = self
            .admitted
            .values()
            .map(|&(_, listened)| if listened { 1.0 } else { share })
            .sum::<f64>()
            + extra as f64 * share;
        let turns_per_second = turns / window;
        let cost = pool.turn_cost.unwrap_or(PRIOR_TURN_COST).as_secs_f64();
        turns_per_second * cost / pool.workers.max(1) as f64
    }

    /// Whether a call arriving at `now` could be let in, without letting it.
    pub fn check(&mut self, now: Instant, pool: &PoolReading) -> Result<(), Refusal> {
        let max_lag = self.limits.max_lag;
        if !max_lag.is_zero() && pool.lag > max_lag {
            return Err(Refusal::Lag {
                lag: pool.lag,
                max: max_lag,
            });
        }
        let max = self.limits.max_load;
        if max > 0.0 {
            let predicted = self.predicted_load(now, pool, 1);
            if predicted > max {
                return Err(Refusal::Load { predicted, max });
            }
        }
        Ok(())
    }

    /// Lets a call in at `now`, or says why not.
    pub fn admit(&mut self, now: Instant, pool: &PoolReading) -> Result<Admitted, Refusal> {
        self.check(now, pool)?;
        let id = self.next;
        self.next += 1;
        self.admitted.insert(id, (now, false));
        Ok(Admitted(id))
    }

    /// The call has begun its first listening turn.
    pub fn listening(&mut self, call: Admitted) {
        if let Some((_, listened)) = self.admitted.get_mut(&call.0) {
            *listened = true;
        }
        self.listen_share += LISTEN_WEIGHT * (1.0 - self.listen_share);
    }

    /// The call is over, `listened` or not: its turn, if it had one, is
    /// behind it.
    pub fn over(&mut self, call: Admitted, listened: bool) {
        self.admitted.remove(&call.0);
        if !listened {
            self.listen_share -= LISTEN_WEIGHT * self.listen_share;
        }
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some(entry) = self.admitted.first_entry() {
            if now.saturating_duration_since(entry.get().0) < self.limits.window {
                break;
            }
            entry.remove();
        }
    }
}

/// A call let in by recognizer load; dropped when the call is over.
pub struct AdmissionTicket {
    admission: Arc<Mutex<RecognizerAdmission>>,
    call: Admitted,
    listened: bool,
}

impl AdmissionTicket {
    /// [`RecognizerAdmission::admit`] on the shared rule.
    pub fn admit(
        admission: &Arc<Mutex<RecognizerAdmission>>,
        now: Instant,
        pool: &PoolReading,
    ) -> Result<AdmissionTicket, Refusal> {
        let call = lock(admission).admit(now, pool)?;
        Ok(AdmissionTicket {
            admission: admission.clone(),
            call,
            listened: false,
        })
    }

    /// The call has begun a listening turn.
    pub fn listening(&mut self) {
        if !std::mem::replace(&mut self.listened, true) {
            lock(&self.admission).listening(self.call);
        }
    }
}

impl Drop for AdmissionTicket {
    fn drop(&mut self) {
        lock(&self.admission).over(self.call, self.listened);
    }
}

/// A poisoned lock only means a panic elsewhere; the counts stay usable.
pub fn lock(
    admission: &Mutex<RecognizerAdmission>,
) -> std::sync::MutexGuard<'_, RecognizerAdmission> {
    admission.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AdmissionLimits {
        AdmissionLimits {
            max_lag: Duration::from_millis(300),
            max_load: 0.5,
            window: Duration::from_secs(10),
        }
    }

    fn pool(lag_ms: u64, cost_ms: Option<u64>) -> PoolReading {
        PoolReading {
            lag: Duration::from_millis(lag_ms),
            turn_cost: cost_ms.map(Duration::from_millis),
            workers: 2,
        }
    }

    #[test]
    fn calls_are_admitted_until_their_turns_would_fill_the_workers_share() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::new(limits());
        // 100 ms a turn on 2 workers at most half busy: 10 turns a second,
        // 100 calls over the 10 s window.
        let reading = pool(0, Some(100));
        let at = |i: u32| t0 + Duration::from_millis(50) * i;
        let mut calls = Vec::new();
        for i in 0..100 {
            calls.push(gate.admit(at(i), &reading).expect("admitted"));
        }
        let refused = gate.admit(at(100), &reading).unwrap_err();
        assert!(
            matches!(refused, Refusal::Load { predicted, .. } if predicted > 0.5),
            "{refused:?}"
        );
        assert_eq!(refused.label(), "recognizer_load");
        // The refused call is not counted: 100 admitted still.
        assert!((gate.predicted_load(at(100), &reading, 0) - 0.5).abs() < 1e-9);
        // A call over makes room at once.
        gate.listening(calls[50]);
        gate.over(calls[50], true);
        assert!(gate.admit(at(100), &reading).is_ok());
        assert!(gate.admit(at(101), &reading).is_err());
        // Once the first calls are past the window, there is room again.
        let later = t0 + Duration::from_millis(10_000);
        assert!(gate.admit(later, &reading).is_ok());
    }

    #[test]
    fn cheaper_turns_admit_more_and_the_prior_holds_before_any_turn() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::new(limits());
        let count = |gate: &mut RecognizerAdmission, reading: &PoolReading| {
            (0..1000)
                .take_while(|_| gate.admit(t0, reading).is_ok())
                .count()
        };
        // 90 ms before any turn: 0.5 × 2 workers / 90 ms × 10 s = 111.
        assert_eq!(count(&mut gate, &pool(0, None)), 111);
        let mut gate = RecognizerAdmission::new(limits());
        assert_eq!(count(&mut gate, &pool(0, Some(40))), 250);
    }

    #[test]
    fn calls_that_end_without_listening_stop_counting_for_those_to_come() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::new(limits());
        let reading = pool(0, Some(100));
        // A flood of signalling-only calls: each over before it listens.
        for i in 0..200u32 {
            let call = gate.admit(t0 + Duration::from_micros(i.into()), &reading);
            gate.over(call.expect("admitted"), false);
        }
        // Now 1000 such calls in progress at once still fit.
        let at = t0 + Duration::from_millis(1);
        let admitted = (0..1000)
            .take_while(|_| gate.admit(at, &reading).is_ok())
            .count();
        assert_eq!(admitted, 1000);
        // Once calls listen again, the share comes back and so do refusals.
        let mut gate = RecognizerAdmission::new(limits());
        let call = gate.admit(at, &reading).expect("admitted");
        gate.listening(call);
        let admitted = (0..1000)
            .take_while(|_| gate.admit(at, &reading).is_ok())
            .count();
        assert_eq!(admitted, 99, "100 with the one that listened");
    }

    #[test]
    fn a_lagging_recognizer_refuses_at_once_and_off_means_off() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::new(limits());
        let refused = gate.admit(t0, &pool(301, Some(1))).unwrap_err();
        assert_eq!(refused.label(), "recognizer_lag");
        assert!(refused.to_string().contains("301 ms behind"), "{refused}");
        assert!(gate.admit(t0, &pool(300, Some(1))).is_ok());
        let mut off = RecognizerAdmission::new(AdmissionLimits {
            max_lag: Duration::ZERO,
            max_load: 0.0,
            window: Duration::from_secs(10),
        });
        for _ in 0..10_000 {
            assert!(off.admit(t0, &pool(5_000, Some(1_000))).is_ok());
        }
    }
}
