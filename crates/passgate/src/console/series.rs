//! The key metrics as time series for the console's charts: the process's
//! own [`Metrics`] read every [`SAMPLE_EVERY`] into a ring of
//! [`SAMPLES_KEPT`] samples. Counters become counts per interval; gauges are
//! read as they are.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::store::Timestamp;
use serde::Serialize;

use crate::metrics::Metrics;

/// How often the metrics are read.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Samples kept: half an hour at [`SAMPLE_EVERY`].
pub const SAMPLES_KEPT: usize = 900;

/// One reading. Counts are of what happened since the reading before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at: Timestamp,
    /// Calls in progress.
    pub live_calls: u64,
    /// Calls that arrived.
    pub calls: u64,
    /// Calls that ended verified (transferred as verified, or hung up by
    /// the flow after authenticating).
    pub verified: u64,
    /// Factor checks that failed (a passphrase or a code that did not match,
    /// silence, expiry).
    pub factor_failures: u64,
    pub sms_sent: u64,
    /// How far behind the recognizer is, in milliseconds.
    pub recognizer_lag_ms: f64,
    /// Audit rows waiting in the spool for the store.
    pub spooled_rows: u64,
}

/// Running totals, to turn counters into counts per interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Totals {
    calls: u64,
    verified: u64,
    factor_failures: u64,
    sms_sent: u64,
}

impl Totals {
    fn read(metrics: &Metrics) -> Totals {
        Totals {
            calls: metrics.counter_sum(|n| n == "passgate_calls_total"),
            verified: metrics.counter_sum(|n| {
                n == "passgate_call_outcomes_total{outcome=\"transferred_verified\"}"
                    || n == "passgate_call_outcomes_total{outcome=\"authenticated\"}"
            }),
            factor_failures: metrics.counter_sum(|n| {
                n.starts_with("passgate_factor_results_total{") && !n.contains("result=\"match\"")
            }),
            sms_sent: metrics.counter_sum(|n| n == "passgate_sms_sent_total"),
        }
    }
}

/// The ring of samples; one per process.
#[derive(Default)]
pub struct Series {
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    samples: VecDeque<Sample>,
    last: Totals,
}

impl Series {
    /// Reads `metrics` now and keeps the sample.
    pub fn sample(&self, metrics: &Metrics, at: Timestamp) {
        let totals = Totals::read(metrics);
        let Ok(mut ring) = self.inner.lock() else {
            return;
        };
        let last = ring.last;
        let sample = Sample {
            at,
            live_calls: metrics.live_calls(),
            calls: totals.calls.saturating_sub(last.calls),
            verified: totals.verified.saturating_sub(last.verified),
            factor_failures: totals.factor_failures.saturating_sub(last.factor_failures),
            sms_sent: totals.sms_sent.saturating_sub(last.sms_sent),
            recognizer_lag_ms: metrics.recognizer_lag_now().as_secs_f64() * 1000.0,
            spooled_rows: metrics.spooled_rows(),
        };
        ring.last = totals;
        if ring.samples.len() == SAMPLES_KEPT {
            ring.samples.pop_front();
        }
        ring.samples.push_back(sample);
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.inner
            .lock()
            .map(|r| r.samples.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Samples `metrics` every [`SAMPLE_EVERY`] for as long as the process runs.
pub fn start(metrics: Arc<Metrics>) -> Arc<Series> {
    let series = Arc::new(Series::default());
    let ring = series.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            ring.sample(&metrics, Timestamp::now());
        }
    });
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::flow::{AccountId, AuditEvent, PassphraseResult};

    #[test]
    fn counters_become_counts_per_interval_and_the_ring_is_bounded() {
        let metrics = Metrics::default();
        let series = Series::default();
        metrics.call_started();
        metrics.call_started();
        series.sample(&metrics, Timestamp::from_unix_millis(0));
        metrics.call_over();
        metrics.call_ended("transferred_verified");
        metrics.audit(&AuditEvent::PassphraseChecked {
            account: AccountId("a".into()),
            result: PassphraseResult::NoMatch,
        });
        metrics.audit(&AuditEvent::PassphraseChecked {
            account: AccountId("a".into()),
            result: PassphraseResult::Match,
        });
        metrics.sms(true);
        series.sample(&metrics, Timestamp::from_unix_millis(2000));
        let s = series.samples();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].calls, s[0].live_calls, s[0].verified), (2, 2, 0));
        assert_eq!(
            (s[1].calls, s[1].live_calls, s[1].verified),
            (0, 1, 1),
            "{s:?}"
        );
        assert_eq!((s[1].factor_failures, s[1].sms_sent), (1, 1));
        for i in 0..SAMPLES_KEPT {
            series.sample(&metrics, Timestamp::from_unix_millis(4000 + i as i64));
        }
        let s = series.samples();
        assert_eq!(s.len(), SAMPLES_KEPT);
        assert_eq!(s[0].at, Timestamp::from_unix_millis(4000));
    }
}
