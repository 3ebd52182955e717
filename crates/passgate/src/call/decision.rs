//! How long a caller waited for the reply to a spoken answer, and where the
//! time went: the recognizer's marks of the turn's end (`asr::TurnTiming`),
//! then the call's own as the transcript, the passphrase check and the
//! reply's audio reach it, until the media starts sending the reply.

use std::time::{Duration, Instant};

/// Where the time between the end of a spoken answer and the first audio
/// of the agent's reply went, marked as the call sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionLatency {
    /// Last voiced audio pushed → the recognizer saw the turn end (the
    /// end-pointer's silence, and any wait for a worker).
    pub end_pointing: Duration,
    /// The turn's end → its final result (the final decode).
    pub final_decode: Duration,
    /// The final result → the call task handling it.
    pub delivery: Duration,
    /// The transcript → the passphrase check's answer (store read and
    /// Argon2); zero when the turn needed no check.
    pub check: Duration,
    /// The check's answer (or the transcript) → the reply prompt's audio
    /// handed to the media (its rendering, if not ready).
    pub render: Duration,
    /// The audio handed over → the media thread sending its first packet.
    pub pacer_start: Duration,
    /// The whole: last voiced audio pushed → first packet of the reply.
    pub total: Duration,
}

/// Marks of the answer being decided (see [`DecisionLatency`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct DecisionMarks {
    timing: asr::TurnTiming,
    heard: Instant,
    checked: Option<Instant>,
    played: Option<Instant>,
}

impl DecisionMarks {
    /// The transcript reached the call at `now`.
    pub(super) fn heard(timing: asr::TurnTiming, now: Instant) -> DecisionMarks {
        DecisionMarks {
            timing,
            heard: now,
            checked: None,
            played: None,
        }
    }

    /// The passphrase check answered at `now`.
    pub(super) fn checked(&mut self, now: Instant) {
        self.checked = Some(now);
    }

    /// A prompt's audio went to the media at `now`; the first is the reply.
    pub(super) fn played(&mut self, now: Instant) {
        self.played.get_or_insert(now);
    }

    pub(super) fn latency(&self, first_audio: Instant) -> Option<DecisionLatency> {
        let t = self.timing;
        let spoke = t.last_speech_pushed?;
        let after_heard = self.checked.unwrap_or(self.heard);
        let played = self.played.unwrap_or(first_audio);
        let gap = |a: Instant, b: Instant| b.saturating_duration_since(a);
        Some(DecisionLatency {
            end_pointing: gap(spoke, t.ended),
            final_decode: gap(t.ended, t.decoded),
            delivery: gap(t.decoded, self.heard),
            check: gap(self.heard, after_heard),
            render: gap(after_heard, played),
            pacer_start: gap(played, first_audio),
            total: gap(spoke, first_audio),
        })
    }
}

impl DecisionLatency {
    /// One debug line with every stage, in milliseconds.
    pub(super) fn log(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        tracing::debug!(
            total_ms = ms(self.total),
            end_pointing_ms = ms(self.end_pointing),
            final_decode_ms = ms(self.final_decode),
            delivery_ms = ms(self.delivery),
            check_ms = ms(self.check),
            render_ms = ms(self.render),
            pacer_start_ms = ms(self.pacer_start),
            "decision latency"
        );
    }

    /// The stages in order, as `crate::metrics` labels them.
    pub fn stages(&self) -> [Duration; 6] {
        [
            self.end_pointing,
            self.final_decode,
            self.delivery,
            self.check,
            self.render,
            self.pacer_start,
        ]
    }
}
