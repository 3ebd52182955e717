//! Prometheus metrics, written in the text exposition format by /metrics.
//! Updated a few times per call, so a mutex-guarded map is plenty.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use auth::flow::{AuditEvent, CodeResult, PassphraseResult};

use crate::media_engine::MediaCounters;

/// Upper bounds (seconds) of the recognizer latency histogram.
const LATENCY_BUCKETS: [f64; 8] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Upper bounds (seconds) of the decision latency histogram: a spoken
/// answer's end to its reply's first audio, whose goal is 0.5 s.
const DECISION_BUCKETS: [f64; 8] = [0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0];
/// The stages of a decision (`call::core::DecisionLatency`), as labelled.
const DECISION_STAGES: [&str; 6] = [
    "end_pointing",
    "final_decode",
    "delivery",
    "check",
    "render",
    "pacer_start",
];

#[derive(Default)]
pub struct Metrics {
    /// Calls started and not finished (their audit rows stored).
    active: AtomicI64,
    /// Of those, calls over and waiting for their audit rows.
    settling: AtomicI64,
    /// Audit rows spooled and not yet stored; milliseconds the oldest has waited.
    spool_rows: AtomicI64,
    spool_age_ms: AtomicI64,
    /// How long audio lately waited for a recognizer worker, in µs.
    recognizer_lag_us: AtomicI64,
    /// The share of the recognizer workers the calls admitted lately are
    /// predicted to need, in millionths.
    recognizer_load_ppm: AtomicI64,
    /// What admission takes a recognizer turn to cost at least, in µs.
    turn_cost_floor_us: AtomicI64,
    counters: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Histogram>,
    decision: Mutex<Histogram>,
    /// Seconds spent in each of `DECISION_STAGES`, summed over decisions.
    decision_stages: Mutex<[f64; DECISION_STAGES.len()]>,
    /// Kept by the media threads.
    pub media: std::sync::Arc<MediaCounters>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; 8],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64; 8], secs: f64) {
        for (i, bound) in bounds.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, bounds: &[f64; 8]) {
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, bound) in bounds.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", self.buckets[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

impl Metrics {
    fn add(&self, name: &str, by: u64) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(name.to_string()).or_default() += by;
        }
    }

    /// Calls in progress: their flow and media are alive. Calls SIP has
    /// ended whose tasks are behind (a saturated machine) count too.
    pub fn live_calls(&self) -> u64 {
        let active = self.active.load(Ordering::Relaxed);
        (active - self.settling.load(Ordering::Relaxed)).max(0) as u64
    }

    /// Calls over whose audit rows are not stored yet.
    pub fn settling_calls(&self) -> u64 {
        self.settling.load(Ordering::Relaxed).max(0) as u64
    }

    /// The sum of the counters whose full name (family and labels) `pick`
    /// chooses: the console's charts read totals through it.
    pub fn counter_sum(&self, pick: impl Fn(&str) -> bool) -> u64 {
        self.counters
            .lock()
            .map(|c| c.iter().filter(|(n, _)| pick(n)).map(|(_, v)| *v).sum())
            .unwrap_or(0)
    }

    /// How far behind the recognizer was at its last reading.
    pub fn recognizer_lag_now(&self) -> Duration {
        Duration::from_micros(self.recognizer_lag_us.load(Ordering::Relaxed).max(0) as u64)
    }

    /// Audit rows spooled and not yet in the store.
    pub fn spooled_rows(&self) -> u64 {
        self.spool_rows.load(Ordering::Relaxed).max(0) as u64
    }

    /// A new call refused because too many calls are live (or settling),
    /// or by recognizer load.
    pub fn call_shed(&self) {
        self.add("passgate_calls_shed_total", 1);
    }

    /// A new call refused by recognizer load, `why` the rule's label.
    pub fn call_refused(&self, why: &str) {
        self.add(&format!("passgate_calls_refused_total{{why=\"{why}\"}}"), 1);
    }

    /// A new call refused by recognizer load now rings while admission
    /// looks again.
    pub fn call_queued(&self) {
        self.add("passgate_calls_queued_total", 1);
    }

    /// A call rang `waited` for admission, and was let in or not (refused,
    /// or the caller hung up).
    pub fn queue_wait(&self, waited: std::time::Duration, admitted: bool) {
        let outcome = if admitted { "admitted" } else { "not_admitted" };
        self.add(
            &format!("passgate_calls_queue_ended_total{{outcome=\"{outcome}\"}}"),
            1,
        );
        self.add(
            "passgate_calls_queue_wait_ms_total",
            waited.as_millis() as u64,
        );
    }

    /// What admission takes a recognizer turn to cost at least
    /// (`crate::turn_cost`).
    pub fn admission_turn_cost_floor(&self, floor: Duration) {
        self.turn_cost_floor_us
            .store(floor.as_micros() as i64, Ordering::Relaxed);
    }

    /// The recognizer load predicted for the calls admitted lately.
    pub fn recognizer_predicted_load(&self, share: f64) {
        self.recognizer_load_ppm
            .store((share * 1e6) as i64, Ordering::Relaxed);
    }

    pub fn call_started(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.add("passgate_calls_total", 1);
    }

    /// The call's flow and media are gone; its audit rows may still be on their way.
    pub fn call_over(&self) {
        self.settling.fetch_add(1, Ordering::Relaxed);
    }

    /// Follows [`Metrics::call_over`] once the call's audit rows are stored;
    /// `outcome` is the call's outcome by name (`CallOutcome::label`).
    pub fn call_ended(&self, outcome: &str) {
        self.settling.fetch_sub(1, Ordering::Relaxed);
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.outcome(outcome);
    }

    fn outcome(&self, kind: &str) {
        self.add(
            &format!("passgate_call_outcomes_total{{outcome=\"{kind}\"}}"),
            1,
        );
    }

    /// Calls a previous run left without an end row, closed on start with
    /// `outcome`.
    pub fn calls_closed_as(&self, outcome: &str, calls: u64) {
        for _ in 0..calls {
            self.outcome(outcome);
        }
    }

    /// How far behind the recognizer is (see `asr::Recognizer::lag`).
    pub fn recognizer_lag(&self, lag: Duration) {
        self.recognizer_lag_us
            .store(lag.as_micros() as i64, Ordering::Relaxed);
    }

    /// Audit rows in the local spool not yet in the store, and the age of
    /// the oldest (0 when none wait).
    pub fn audit_spool(&self, rows: usize, oldest_age: Duration) {
        self.spool_rows.store(rows as i64, Ordering::Relaxed);
        self.spool_age_ms
            .store(oldest_age.as_millis() as i64, Ordering::Relaxed);
    }

    /// The spool could not be written (the rows are kept in memory).
    pub fn audit_spool_error(&self) {
        self.add("passgate_audit_spool_errors_total", 1);
    }

    pub fn audit(&self, event: &AuditEvent) {
        let factor = match event {
            AuditEvent::PassphraseChecked { result, .. } => Some((
                "passphrase",
                match result {
                    PassphraseResult::Match => "match",
                    PassphraseResult::NoMatch => "no_match",
                    PassphraseResult::Silence => "silence",
                    PassphraseResult::Unavailable => "unavailable",
                    PassphraseResult::Error => "error",
                    PassphraseResult::TimedOut => "timed_out",
                },
            )),
            AuditEvent::CodeChecked { result, .. } => Some((
                "sms_code",
                match result {
                    CodeResult::Accepted => "match",
                    CodeResult::Rejected { .. } => "no_match",
                    CodeResult::Exhausted => "exhausted",
                    CodeResult::Expired => "expired",
                },
            )),
            _ => None,
        };
        if let Some((factor, result)) = factor {
            self.add(
                &format!(
                    "passgate_factor_results_total{{factor=\"{factor}\",result=\"{result}\"}}"
                ),
                1,
            );
        }
    }

    pub fn sms(&self, sent: bool) {
        self.add(
            if sent {
                "passgate_sms_sent_total"
            } else {
                "passgate_sms_failed_total"
            },
            1,
        );
    }

    pub fn transfer(&self, auth: &str, completed: bool) {
        let result = if completed { "completed" } else { "failed" };
        self.add(
            &format!("passgate_transfers_total{{auth=\"{auth}\",result=\"{result}\"}}"),
            1,
        );
    }

    /// A key press that reached the flow, by the way it came: benchmarks
    /// compare it with the keys they sent.
    pub fn digit(&self, source: &str) {
        self.add(
            &format!("passgate_dtmf_digits_total{{source=\"{source}\"}}"),
            1,
        );
    }

    pub fn media_digit(&self, source: media::DigitSource) {
        self.digit(match source {
            media::DigitSource::Rfc4733 => "rfc4733",
            media::DigitSource::Inband => "inband",
        });
    }

    pub fn store_error(&self) {
        self.add("passgate_store_errors_total", 1);
    }

    pub fn recognizer_busy(&self) {
        self.add("passgate_recognizer_busy_total", 1);
    }

    pub fn recognition(&self, processing: Duration) {
        if let Ok(mut h) = self.latency.lock() {
            h.observe(&LATENCY_BUCKETS, processing.as_secs_f64());
        }
    }

    /// A spoken answer's reply began playing `total` after its end, spent
    /// in `DECISION_STAGES` as `parts`.
    pub fn decision(&self, total: Duration, parts: [Duration; DECISION_STAGES.len()]) {
        if let Ok(mut h) = self.decision.lock() {
            h.observe(&DECISION_BUCKETS, total.as_secs_f64());
        }
        if let Ok(mut stages) = self.decision_stages.lock() {
            for (sum, part) in stages.iter_mut().zip(parts) {
                *sum += part.as_secs_f64();
            }
        }
    }

    pub fn rtp_finished(&self, stats: &media::SessionStats) {
        self.add(
            "passgate_rtp_packets_received_total",
            stats.receiver.datagrams,
        );
        self.add(
            "passgate_rtp_packets_lost_total",
            stats.receiver.jitter.lost,
        );
        // Read by the session before the socket was connected to the
        // caller; later ones the kernel drops unseen.
        self.add(
            "passgate_rtp_foreign_source_packets_total",
            stats.receiver.foreign_source,
        );
        self.add(
            "passgate_srtp_dropped_total{why=\"auth_failed\"}",
            stats.srtp.auth_failures,
        );
        self.add(
            "passgate_srtp_dropped_total{why=\"replayed\"}",
            stats.srtp.replayed,
        );
        self.add(
            "passgate_srtp_dropped_total{why=\"malformed\"}",
            stats.srtp.malformed,
        );
    }

    pub fn render(&self, sip: Option<sip::driver::DriverStats>) -> String {
        let mut out = String::new();
        out.push_str("# TYPE passgate_calls_active gauge\n");
        let _ = writeln!(
            out,
            "passgate_calls_active {}",
            self.active.load(Ordering::Relaxed)
        );
        out.push_str("# TYPE passgate_calls_settling gauge\n");
        let _ = writeln!(out, "passgate_calls_settling {}", self.settling_calls());
        out.push_str("# TYPE passgate_audit_spool_rows gauge\n");
        let _ = writeln!(
            out,
            "passgate_audit_spool_rows {}",
            self.spool_rows.load(Ordering::Relaxed)
        );
        out.push_str("# TYPE passgate_recognizer_lag_seconds gauge\n");
        let _ = writeln!(
            out,
            "passgate_recognizer_lag_seconds {}",
            self.recognizer_lag_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        out.push_str("# TYPE passgate_recognizer_predicted_load gauge\n");
        let _ = writeln!(
            out,
            "passgate_recognizer_predicted_load {}",
            self.recognizer_load_ppm.load(Ordering::Relaxed) as f64 / 1e6
        );
        out.push_str("# TYPE passgate_admission_turn_cost_floor_seconds gauge\n");
        let _ = writeln!(
            out,
            "passgate_admission_turn_cost_floor_seconds {}",
            self.turn_cost_floor_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        out.push_str("# TYPE passgate_audit_spool_age_seconds gauge\n");
        let _ = writeln!(
            out,
            "passgate_audit_spool_age_seconds {}",
            self.spool_age_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        if let Ok(counters) = self.counters.lock() {
            let mut typed = std::collections::BTreeSet::new();
            for (name, value) in counters.iter() {
                let family = name.split('{').next().unwrap_or(name);
                if typed.insert(family.to_string()) {
                    let _ = writeln!(out, "# TYPE {family} counter");
                }
                let _ = writeln!(out, "{name} {value}");
            }
        }
        for (name, value) in [
            ("passgate_rtp_send_errors_total", &self.media.send_errors),
            (
                "passgate_rtp_receive_errors_total",
                &self.media.receive_errors,
            ),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out.push_str("# TYPE passgate_media_threads_io_uring gauge\n");
        for (direction, threads) in [
            ("send", &self.media.io_uring_send_threads),
            ("receive", &self.media.io_uring_receive_threads),
        ] {
            let _ = writeln!(
                out,
                "passgate_media_threads_io_uring{{direction=\"{direction}\"}} {}",
                threads.load(Ordering::Relaxed)
            );
        }
        if let Ok(h) = self.latency.lock() {
            h.render(&mut out, "passgate_recognizer_seconds", &LATENCY_BUCKETS);
        }
        if let Ok(h) = self.decision.lock() {
            h.render(&mut out, "passgate_decision_seconds", &DECISION_BUCKETS);
        }
        if let Ok(stages) = self.decision_stages.lock() {
            out.push_str("# TYPE passgate_decision_stage_seconds_total counter\n");
            for (stage, sum) in DECISION_STAGES.iter().zip(stages.iter()) {
                let _ = writeln!(
                    out,
                    "passgate_decision_stage_seconds_total{{stage=\"{stage}\"}} {sum}"
                );
            }
        }
        if let Some(s) = sip {
            out.push_str("# TYPE passgate_sip_transactions gauge\n");
            let _ = writeln!(out, "passgate_sip_transactions {}", s.transactions);
            out.push_str("# TYPE passgate_sip_messages_total counter\n");
            let _ = writeln!(
                out,
                "passgate_sip_messages_total {}",
                s.endpoint.messages_in
            );
            out.push_str("# TYPE passgate_sip_refused_total counter\n");
            let _ = writeln!(
                out,
                "passgate_sip_refused_total{{reason=\"overload\"}} {}",
                s.endpoint.calls_refused_overload
            );
            let _ = writeln!(
                out,
                "passgate_sip_refused_total{{reason=\"rate\"}} {}",
                s.endpoint.calls_refused_rate
            );
            let _ = writeln!(
                out,
                "passgate_sip_refused_total{{reason=\"draining\"}} {}",
                s.endpoint.calls_refused_draining
            );
            let _ = writeln!(
                out,
                "passgate_sip_refused_total{{reason=\"forbidden\"}} {}",
                s.endpoint.requests_forbidden
            );
            let _ = writeln!(
                out,
                "passgate_sip_refused_total{{reason=\"backlog\"}} {}",
                s.calls.refused_backlog
            );
            out.push_str("# TYPE passgate_sip_calls_stalled_total counter\n");
            let _ = writeln!(out, "passgate_sip_calls_stalled_total {}", s.calls.stalled);
            out.push_str("# TYPE passgate_sip_auth_failures_total counter\n");
            for (reason, n) in [
                ("wrong_password", s.endpoint.auth_wrong_password),
                ("unknown_user", s.endpoint.auth_unknown_user),
                ("malformed", s.endpoint.auth_malformed),
                ("stale_nonce", s.endpoint.auth_stale_nonce),
                ("replayed", s.endpoint.auth_replayed),
                ("uri_mismatch", s.endpoint.auth_uri_mismatch),
            ] {
                let _ = writeln!(
                    out,
                    "passgate_sip_auth_failures_total{{reason=\"{reason}\"}} {n}"
                );
            }
            out.push_str("# TYPE passgate_sip_auth_locked_total counter\n");
            let _ = writeln!(
                out,
                "passgate_sip_auth_locked_total {}",
                s.endpoint.auth_locked
            );
            out.push_str("# TYPE passgate_sip_tcp_connections gauge\n");
            let _ = writeln!(out, "passgate_sip_tcp_connections {}", s.tcp_connections);
            out.push_str("# TYPE passgate_sip_tcp_refused_total counter\n");
            for (reason, n) in [
                ("forbidden", s.tcp.refused_forbidden),
                ("per_source", s.tcp.refused_per_source),
                ("total", s.tcp.refused_total),
            ] {
                let _ = writeln!(
                    out,
                    "passgate_sip_tcp_refused_total{{reason=\"{reason}\"}} {n}"
                );
            }
            out.push_str("# TYPE passgate_sip_tcp_closed_total counter\n");
            for (reason, n) in [
                ("idle", s.tcp.closed_idle),
                ("message_timeout", s.tcp.closed_message_timeout),
                ("framing", s.tcp.closed_framing),
                ("tls_handshake", s.tcp.tls_handshake_failed),
                ("ws_handshake", s.tcp.ws_refused),
                ("ws_frame", s.tcp.ws_closed_frames),
            ] {
                let _ = writeln!(
                    out,
                    "passgate_sip_tcp_closed_total{{reason=\"{reason}\"}} {n}"
                );
            }
            out.push_str("# TYPE passgate_sip_malformed_total counter\n");
            let _ = writeln!(
                out,
                "passgate_sip_malformed_total {}",
                s.endpoint.malformed_answered + s.endpoint.malformed_dropped
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_the_histogram_render_in_prometheus_text() {
        let m = Metrics::default();
        m.call_started();
        m.call_started();
        m.call_started();
        m.call_over();
        m.call_ended("transferred_no_account");
        m.call_over();
        m.sms(true);
        m.media_digit(media::DigitSource::Rfc4733);
        m.media_digit(media::DigitSource::Rfc4733);
        m.digit("sip_info");
        m.recognition(Duration::from_millis(40));
        let text = m.render(None);
        assert!(text.contains("passgate_calls_active 2\n"), "{text}");
        assert!(text.contains("passgate_calls_settling 1\n"), "{text}");
        assert_eq!(
            m.live_calls(),
            1,
            "a call waiting for its audit rows is not live"
        );
        assert!(text.contains("passgate_calls_total 3\n"));
        assert!(
            text.contains("passgate_call_outcomes_total{outcome=\"transferred_no_account\"} 1\n")
        );
        assert!(text.contains("passgate_sms_sent_total 1\n"));
        assert!(text.contains("passgate_dtmf_digits_total{source=\"rfc4733\"} 2\n"));
        assert!(text.contains("passgate_dtmf_digits_total{source=\"sip_info\"} 1\n"));
        assert!(text.contains("passgate_recognizer_seconds_bucket{le=\"0.025\"} 0\n"));
        assert!(text.contains("passgate_recognizer_seconds_bucket{le=\"0.05\"} 1\n"));
        assert_eq!(
            text.matches("# TYPE passgate_call_outcomes_total counter")
                .count(),
            1
        );
    }

    #[test]
    fn calls_the_sip_driver_ended_or_refused_for_the_application_are_exported() {
        let mut sip = sip::driver::DriverStats::default();
        sip.calls.stalled = 2;
        sip.calls.refused_backlog = 3;
        let text = Metrics::default().render(Some(sip));
        assert!(
            text.contains("passgate_sip_calls_stalled_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("passgate_sip_refused_total{reason=\"backlog\"} 3\n"),
            "{text}"
        );
    }
}
