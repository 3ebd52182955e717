//! P2's SRTP comparison: at each load, the same calls with plain RTP and
//! with SRTP (both sides encrypting), run back to back against one agent,
//! and the per-call CPU of the one against the other.

use std::fmt::Write as _;

use crate::report::table;

use super::step::StepResult;

/// SRTP may cost at most this much more CPU per call than plain RTP.
pub const GOAL_RATIO: f64 = 1.15;

fn per_call_cpu(step: &StepResult, base: &StepResult) -> Option<f64> {
    (step.answered > 0)
        .then(|| (step.agent_cores - base.agent_cores) * 100.0 / step.answered as f64)
}

fn ratio(plain: &StepResult, srtp: &StepResult, base: &StepResult) -> Option<f64> {
    let (p, s) = (per_call_cpu(plain, base)?, per_call_cpu(srtp, base)?);
    (p > 0.0).then(|| s / p)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn jitter_p99(step: &StepResult) -> String {
    step.received
        .as_ref()
        .and_then(|r| r.jitter.percentile(99.0))
        .map_or("–".into(), |us| format!("{:.2}", us as f64 / 1000.0))
}

fn loss(step: &StepResult) -> String {
    let r = step.received.as_ref().filter(|r| r.sequence_span > 0);
    opt(
        r.map(|r| {
            r.sequence_span.saturating_sub(r.received) as f64 * 100.0 / r.sequence_span as f64
        }),
        3,
    )
}

/// The comparison as Markdown: one row per load, the goal judged at the
/// largest. `pairs` holds (plain, SRTP) for each load with calls.
pub fn markdown(pairs: &[(StepResult, StepResult)], base: &StepResult) -> String {
    let mut md = String::new();
    md.push_str(
        "The same steps again with SRTP: each call offers `RTP/SAVP` with an `AES_CM_128_HMAC_SHA1_80` key \
         (SDES, RFC 4568) and Passgate, running with `rtp.srtp = \"offer\"`, answers with a key of its own. \
         The generator encrypts every packet it sends and checks and decrypts every packet it receives, with \
         the same SRTP crate (`webrtc-srtp`, through `media::Srtp`). At each load the plain and the SRTP calls \
         run back to back against the same Passgate process (the order alternating from one load to the next), \
         and per-call CPU is against the same 0-call baseline. The generator sends each key press's RFC 4733 \
         end packet three times with one sequence number, as it does with plain RTP: under SRTP the second and \
         third are replays, which Passgate drops and counts (two per key, the last column).\n\n",
    );
    let header = [
        "calls",
        "plain: CPU % per call",
        "SRTP: CPU % per call",
        "SRTP ÷ plain",
        "jitter p99 ms plain / SRTP",
        "loss % plain / SRTP",
        "keys sent / detected (SRTP)",
        "generator CPU % plain / SRTP",
        "SRTP dropped: generator / Passgate",
    ];
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|(plain, srtp)| {
            let dropped = srtp.received.as_ref().map_or(0, |r| r.srtp_dropped);
            vec![
                plain.calls.to_string(),
                opt(per_call_cpu(plain, base), 4),
                opt(per_call_cpu(srtp, base), 4),
                opt(ratio(plain, srtp, base), 2),
                format!("{} / {}", jitter_p99(plain), jitter_p99(srtp)),
                format!("{} / {}", loss(plain), loss(srtp)),
                srtp.sent.as_ref().map_or("–".into(), |s| {
                    format!("{} / {}", s.digits, srtp.digits_detected)
                }),
                format!(
                    "{:.1} / {:.1}",
                    plain.generator_cores * 100.0,
                    srtp.generator_cores * 100.0
                ),
                format!("{dropped} / {}", srtp.agent_srtp_dropped),
            ]
        })
        .collect();
    md.push_str(&table(&header, &rows));
    let top = pairs
        .iter()
        .filter(|(p, s)| p.answered > 0 && s.answered > 0)
        .max_by_key(|(p, _)| p.answered);
    match top.and_then(|(p, s)| Some((p.answered, ratio(p, s, base)?))) {
        Some((calls, r)) => {
            let _ = writeln!(
                md,
                "\nGoal, judged at {calls} calls: SRTP ≤ {GOAL_RATIO}× plain RTP in CPU per call: {r:.2}× — {}",
                if r <= GOAL_RATIO { "**met**" } else { "**missed**" }
            );
        }
        None => md.push_str("\nNo load with calls ran both ways: nothing to judge.\n"),
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(calls: usize, cores: f64) -> StepResult {
        StepResult {
            calls,
            answered: calls,
            agent_cores: cores,
            ..StepResult::default()
        }
    }

    #[test]
    fn the_ratio_is_of_per_call_costs_above_the_baseline() {
        let base = step(0, 0.02);
        // Plain: (0.42 - 0.02) / 1000 = 0.04 %; SRTP: 0.044 %: 1.10×.
        let pairs = [(step(1000, 0.42), step(1000, 0.46))];
        let md = markdown(&pairs, &base);
        assert!(md.contains("| 1000 | 0.0400 | 0.0440 | 1.10 |"), "{md}");
        assert!(md.contains("1.10× — **met**"), "{md}");
        let pairs = [(step(1000, 0.42), step(1000, 0.52))];
        assert!(markdown(&pairs, &base).contains("1.25× — **missed**"));
    }
}
