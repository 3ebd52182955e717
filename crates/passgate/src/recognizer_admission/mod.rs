//! Admission by recognizer load: whether one more call can be let in
//! without every caller's decision coming late.
//!
//! A call admitted now listens a few seconds later, so the audio waiting
//! for a worker now (the lag) shows an overload only once it has begun.
//! The rule therefore also predicts: from when the calls let in and not yet
//! listening were admitted, and the delays to their turns learnt from the
//! calls lately ([`TurnSchedule`]), the turns due in each of the next few
//! seconds, at the recognizer time a turn has lately cost, are a share of
//! the workers' time; a call that would take that share past `max_load` in
//! any of those seconds is refused. Calls that reach their turns together
//! (a burst let in at once, all listening after the same greeting) are
//! therefore refused by the second in which their turns would crowd, not
//! on an average over the window. A call over stops counting at once, and
//! a call that has not listened yet counts only as much as calls lately
//! went on to listen (a flood of signalling-only calls, or callers hanging
//! up in the greeting, load the recognizer with nothing). The lag stays as
//! the backstop for what the prediction misses.
//!
//! Sans-IO: the rule is given `now` and the pool's readings, so a test
//! drives it on a virtual clock.

mod learnt_file;
mod turn_schedule;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use learnt_file::LearntFile;
use turn_schedule::Waiting;
pub use turn_schedule::{Learnt, TurnSchedule, STEP};

/// A call is refused when its turn is more likely than this to fall in a
/// `LOAD_SPAN` predicted past `max_load` with it: a burst's call is refused
/// by the span its turn will crowd, not by a span it will almost surely
/// miss (a learnt spread keeps a little of every delay).
const MAX_RISK: f64 = 0.1;

fn steps_in_span() -> usize {
    (LOAD_SPAN.as_nanos() / STEP.as_nanos()).max(1) as usize
}

/// How fast the remembered peak of a turn's cost fades: a node whose
/// bursts have stopped lets more in again within the hour.
const PEAK_HALF_LIFE: Duration = Duration::from_secs(600);

/// Turns due within this of each other are taken to load the recognizer
/// together: the load is the recognizer time they need over this span.
/// A longer span lets the turns bunch inside it: a 2 s span can be filled
/// in its first second, and the turns bunched there wait.
pub const LOAD_SPAN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionLimits {
    /// Refuse while audio has lately waited longer than this for a worker;
    /// zero turns the check off.
    pub max_lag: Duration,
    /// Refuse a call that would take the predicted share of the workers'
    /// time over any `LOAD_SPAN` ahead past this; zero turns the check off.
    pub max_load: f64,
    /// The longest delay from a call's admission to its turn that the
    /// schedule learns: about the time from a call's answer to the end of
    /// its turn.
    pub window: Duration,
    /// What a turn is taken to cost at least, whatever the pool measured:
    /// what a turn costs on this hardware when turns crowd, the load
    /// admission predicts. A cost measured in a lull (or before any turn)
    /// would let the next burst in.
    pub min_turn_cost: Duration,
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
    Lag {
        lag: Duration,
        max: Duration,
    },
    /// `turn_cost`: what each turn predicted was taken to cost.
    Load {
        predicted: f64,
        max: f64,
        turn_cost: Duration,
    },
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
            Refusal::Load {
                predicted,
                max,
                turn_cost,
            } => write!(
                f,
                "recognizer load predicted at {predicted:.2} of its workers at {} ms a turn (asr.admit_max_load = {max})",
                turn_cost.as_millis()
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

/// A call let in, to hand back when it listens and when it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted(Waiting);

#[derive(Debug)]
pub struct RecognizerAdmission {
    limits: AdmissionLimits,
    schedule: TurnSchedule,
    /// What a turn costs under load: the highest cost the pool has
    /// lately reported, and when, fading by half every `PEAK_HALF_LIFE`
    /// (kept across a restart); none before any.
    peak_turn_cost: Option<(Duration, Instant)>,
}

impl RecognizerAdmission {
    /// Starts from what a node `learnt` before (its callers' delays to
    /// their turns, and what a turn cost), or from the priors.
    pub fn resume(
        limits: AdmissionLimits,
        learnt: Option<LearntFile>,
        now: Instant,
    ) -> RecognizerAdmission {
        let (learnt, peak) = match learnt {
            Some(file) => (file.learnt, Some((file.turn_cost, now))),
            None => (Learnt::prior(limits.window), None),
        };
        RecognizerAdmission {
            limits,
            schedule: TurnSchedule::new(learnt, limits.window, now),
            peak_turn_cost: peak,
        }
    }

    /// Takes `floor` as what a turn costs at least from now on: the floor
    /// measured again on this node.
    pub fn set_min_turn_cost(&mut self, floor: Duration) {
        self.limits.min_turn_cost = floor;
    }

    /// What the rule knows now, to keep across a restart.
    pub fn learnt(&self, now: Instant) -> LearntFile {
        LearntFile {
            learnt: self.schedule.learnt().clone(),
            turn_cost: self.faded_peak(now).unwrap_or(self.limits.min_turn_cost),
        }
    }

    fn faded_peak(&self, now: Instant) -> Option<Duration> {
        let (peak, at) = self.peak_turn_cost?;
        let since = now.saturating_duration_since(at).as_secs_f64();
        Some(peak.mul_f64(0.5f64.powf(since / PEAK_HALF_LIFE.as_secs_f64())))
    }

    /// What a turn is taken to cost at `now`: the pool's cost lately, or
    /// the fading peak of it if higher. A turn costs more when turns
    /// crowd (the workers share the cores with each other and with the
    /// passphrase checks), and what admission predicts is a crowd: the
    /// cost measured in a lull before a burst would let the burst in.
    fn turn_cost(&mut self, now: Instant, pool: &PoolReading) -> Duration {
        let faded = self.faded_peak(now);
        let cost = match (pool.turn_cost, faded) {
            (Some(cost), Some(peak)) if cost < peak => peak,
            (Some(cost), _) => {
                self.peak_turn_cost = Some((cost, now));
                cost
            }
            (None, Some(peak)) => peak,
            (None, None) => Duration::ZERO,
        };
        cost.max(self.limits.min_turn_cost)
    }

    /// The share of the workers' time the turns due in each `LOAD_SPAN`
    /// ahead would need (the span starting at each step), with `extra`
    /// calls more let in now.
    fn span_loads(&mut self, now: Instant, pool: &PoolReading, extra: usize) -> Vec<f64> {
        let cost = self.turn_cost(now, pool).as_secs_f64();
        let capacity = pool.workers.max(1) as f64 * LOAD_SPAN.as_secs_f64();
        let due = self.schedule.due(now, LOAD_SPAN, extra);
        let span = steps_in_span();
        (0..due.len())
            .map(|k| due[k..(k + span).min(due.len())].iter().sum::<f64>() * cost / capacity)
            .collect()
    }

    /// The highest share of the workers' time, over any `LOAD_SPAN` ahead,
    /// that the calls let in and not yet listening, the turns in progress,
    /// and `extra` calls more are predicted to need.
    pub fn predicted_load(&mut self, now: Instant, pool: &PoolReading, extra: usize) -> f64 {
        self.span_loads(now, pool, extra)
            .into_iter()
            .fold(0.0, f64::max)
    }

    /// Whether a call arriving at `now` could be let in, without letting it.
    pub fn check(&mut self, now: Instant, pool: &PoolReading) -> Result<(), Refusal> {
        self.turn_cost(now, pool);
        let max_lag = self.limits.max_lag;
        if !max_lag.is_zero() && pool.lag > max_lag {
            return Err(Refusal::Lag {
                lag: pool.lag,
                max: max_lag,
            });
        }
        let max = self.limits.max_load;
        if max > 0.0 {
            let turn_cost = self.turn_cost(now, pool);
            // A share at the limit is within it, whatever the rounding of
            // the sums behind it.
            let over = max * (1.0 + 1e-6);
            let loads = self.span_loads(now, pool, 1);
            let span = steps_in_span();
            let learnt = self.schedule.learnt();
            // How likely the call's turn is to fall in a span past the
            // limit with it, and the worst such span it could fall in. A
            // span full now (turns in progress, the lag's business) or
            // one the call will not reach does not refuse it.
            let mut risk = 0.0;
            let mut predicted: f64 = 0.0;
            for (k, mass) in learnt.delays.iter().enumerate() {
                let worst = loads[k.saturating_sub(span - 1)..=k]
                    .iter()
                    .copied()
                    .fold(0.0, f64::max);
                if worst > over && *mass > 0.0 {
                    risk += learnt.listen_share * mass;
                    predicted = predicted.max(worst);
                }
            }
            if risk > MAX_RISK {
                return Err(Refusal::Load {
                    predicted,
                    max,
                    turn_cost,
                });
            }
        }
        Ok(())
    }

    /// Lets a call in at `now`, or says why not.
    pub fn admit(&mut self, now: Instant, pool: &PoolReading) -> Result<Admitted, Refusal> {
        self.check(now, pool)?;
        Ok(Admitted(self.schedule.admitted(now)))
    }

    /// The call began its first listening turn at `now`.
    pub fn listening(&mut self, call: Admitted, now: Instant) {
        self.schedule.listening(call.0, now);
    }

    /// The call is over, `listened` or not: its turn, if it had one, is
    /// behind it.
    pub fn over(&mut self, call: Admitted, listened: bool) {
        if !listened {
            self.schedule.ended_waiting(call.0);
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
            lock(&self.admission).listening(self.call, Instant::now());
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
            min_turn_cost: Duration::from_millis(10),
        }
    }

    fn pool(lag_ms: u64, cost_ms: Option<u64>) -> PoolReading {
        PoolReading {
            lag: Duration::from_millis(lag_ms),
            turn_cost: cost_ms.map(Duration::from_millis),
            workers: 2,
        }
    }

    fn admitted_at_once(
        gate: &mut RecognizerAdmission,
        at: Instant,
        reading: &PoolReading,
    ) -> usize {
        (0..10_000)
            .take_while(|_| gate.admit(at, reading).is_ok())
            .count()
    }

    /// A gate that has seen `calls` callers each listen `delay` after
    /// admission, one every 100 ms, all before `t0`.
    fn taught(delay: Duration, calls: u32, t0: Instant) -> RecognizerAdmission {
        let start = t0 - Duration::from_millis(100) * calls - Duration::from_secs(60);
        let open = AdmissionLimits {
            max_lag: Duration::ZERO,
            max_load: 0.0,
            ..limits()
        };
        let mut gate = RecognizerAdmission::resume(open, None, start);
        let reading = pool(0, Some(100));
        for i in 0..calls {
            let at = start + Duration::from_millis(100) * i;
            let call = gate.admit(at, &reading).expect("admitted");
            gate.listening(call, at + delay);
            gate.over(call, true);
        }
        RecognizerAdmission {
            limits: limits(),
            ..gate
        }
    }

    #[test]
    fn before_anything_is_learnt_calls_are_admitted_until_the_workers_share_is_full() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        // 100 ms a turn on 2 workers at most half busy: 1 s of recognizer
        // time, 10 turns, in each second; turns taken to come alike over
        // the 10 s window: 100 calls.
        let reading = pool(0, Some(100));
        assert_eq!(admitted_at_once(&mut gate, t0, &reading), 100);
        let refused = gate.admit(t0, &reading).unwrap_err();
        assert!(
            matches!(refused, Refusal::Load { predicted, .. } if predicted > 0.5),
            "{refused:?}"
        );
        assert_eq!(refused.label(), "recognizer_load");
        // The refused call is not counted: 100 admitted still.
        assert!((gate.predicted_load(t0, &reading, 0) - 0.5).abs() < 1e-9);
        // Once the first calls are past the window, there is room again.
        let later = t0 + Duration::from_secs(11);
        assert!(gate.admit(later, &reading).is_ok());
    }

    #[test]
    fn cheaper_turns_admit_more_and_the_least_cost_holds_before_any_turn_and_after() {
        let t0 = Instant::now();
        let floor = AdmissionLimits {
            min_turn_cost: Duration::from_millis(90),
            ..limits()
        };
        let mut gate = RecognizerAdmission::resume(floor, None, t0);
        // 90 ms before any turn: 0.5 × 2 workers × 1 s / 90 ms × 10 spans = 111.
        assert_eq!(admitted_at_once(&mut gate, t0, &pool(0, None)), 111);
        // Turns measured cheaper than the least cost: the least cost rules.
        let mut gate = RecognizerAdmission::resume(floor, None, t0);
        assert_eq!(admitted_at_once(&mut gate, t0, &pool(0, Some(40))), 111);
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        assert_eq!(admitted_at_once(&mut gate, t0, &pool(0, Some(40))), 250);
    }

    #[test]
    fn callers_known_to_listen_together_are_let_in_by_the_second_their_turns_crowd() {
        let t0 = Instant::now();
        // Callers lately all listened 8 s after they were let in.
        let mut gate = taught(Duration::from_secs(8), 2000, t0);
        let reading = pool(0, Some(100));
        // A burst at once would listen in the same second: one second's 10
        // turns, not the 100 an even spread would take.
        let burst = admitted_at_once(&mut gate, t0, &reading);
        assert!((9..=11).contains(&burst), "{burst}");
        // Callers arriving 20 a second for 20 s, each listening 8 s after
        // it is let in: about 10 a second fit (10 turns in any second), the
        // rest are refused as they come.
        let mut gate = taught(Duration::from_secs(8), 2000, t0);
        let delay = Duration::from_secs(8);
        let mut in_greeting = std::collections::VecDeque::new();
        let mut admitted = 0;
        for i in 0..400u32 {
            let at = t0 + Duration::from_millis(50) * i;
            while let Some(&(since, call)) = in_greeting.front() {
                if since + delay > at {
                    break;
                }
                gate.listening(call, since + delay);
                in_greeting.pop_front();
            }
            if let Ok(call) = gate.admit(at, &reading) {
                admitted += 1;
                in_greeting.push_back((at, call));
            }
        }
        assert!((190..=215).contains(&admitted), "{admitted}");
    }

    #[test]
    fn calls_that_end_without_listening_stop_counting_for_those_to_come() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        let reading = pool(0, Some(100));
        // A flood of signalling-only calls: each over before it listens.
        for i in 0..2000u32 {
            let call = gate.admit(t0 + Duration::from_micros(i.into()), &reading);
            gate.over(call.expect("admitted"), false);
        }
        // Now ten times the calls of a node whose callers listen fit at once.
        let at = t0 + Duration::from_millis(1);
        let admitted = (0..1000)
            .take_while(|_| gate.admit(at, &reading).is_ok())
            .count();
        assert_eq!(admitted, 1000);
        // A call that listens counts as a turn in progress, and teaches
        // that calls listen at once.
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        let call = gate.admit(at, &reading).expect("admitted");
        gate.listening(call, at);
        let admitted = admitted_at_once(&mut gate, at, &reading);
        assert!(admitted < 99, "{admitted}");
    }

    #[test]
    fn a_restarted_node_admits_on_what_it_learnt_before() {
        let t0 = Instant::now();
        let taught = taught(Duration::from_secs(8), 2000, t0);
        let kept = taught.learnt(t0);
        // 100 ms a turn, faded for the minute since: 93 ms.
        let kept_ms = kept.turn_cost.as_millis();
        assert!((92..=94).contains(&kept_ms), "{kept_ms}");
        // Restarted: no turn measured yet, and the burst still sees its
        // turns crowd, at the turn cost kept.
        let mut restarted = RecognizerAdmission::resume(limits(), Some(kept), t0);
        let burst = admitted_at_once(&mut restarted, t0, &pool(0, None));
        assert!((10..=11).contains(&burst), "{burst}");
        // A fresh node: 10 ms at least, turns alike over the window.
        let mut fresh = RecognizerAdmission::resume(limits(), None, t0);
        assert_eq!(admitted_at_once(&mut fresh, t0, &pool(0, None)), 1000);
    }

    #[test]
    fn a_burst_is_judged_at_what_turns_cost_under_load_not_in_the_lull_before() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        // The last burst's turns cost 200 ms; in the lull since, 50 ms.
        assert!(gate.check(t0, &pool(0, Some(200))).is_ok());
        let lull = t0 + Duration::from_secs(60);
        assert!(gate.check(lull, &pool(0, Some(50))).is_ok());
        // 0.5 × 2 workers × 1 s over about 200 ms a turn, in each of the 10
        // spans: 50 calls, not the 200 that 50 ms would let in.
        // (The peak has faded a little in the minute: 187 ms.)
        let burst = admitted_at_once(&mut gate, lull, &pool(0, Some(50)));
        assert!((52..=54).contains(&burst), "{burst}");
        // The peak fades by half every ten minutes: an hour on, 50 ms rules.
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        assert!(gate.check(t0, &pool(0, Some(200))).is_ok());
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(admitted_at_once(&mut gate, later, &pool(0, Some(50))), 200);
    }

    #[test]
    fn a_lagging_recognizer_refuses_at_once_and_off_means_off() {
        let t0 = Instant::now();
        let mut gate = RecognizerAdmission::resume(limits(), None, t0);
        let refused = gate.admit(t0, &pool(301, Some(1))).unwrap_err();
        assert_eq!(refused.label(), "recognizer_lag");
        assert!(refused.to_string().contains("301 ms behind"), "{refused}");
        assert!(gate.admit(t0, &pool(300, Some(1))).is_ok());
        let mut off = RecognizerAdmission::resume(
            AdmissionLimits {
                max_lag: Duration::ZERO,
                max_load: 0.0,
                ..limits()
            },
            None,
            t0,
        );
        for _ in 0..10_000 {
            assert!(off.admit(t0, &pool(5_000, Some(1_000))).is_ok());
        }
    }
}
