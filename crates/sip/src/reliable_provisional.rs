//! Reliable provisional responses (RFC 3262), the user agent server's side,
//! for callers that require them (`Require: 100rel`): our 180 carries an
//! RSeq and is sent again, at T1 doubling, until the caller's PRACK names
//! it, or for 64·T1, after which the INVITE is refused.
//!
//! A caller that only supports the extension gets our usual 180: RFC 3262
//! leaves it to the UAS, and a 180 without a session description needs no
//! reliability. Our 180s carry no SDP, so the 200 may follow before the
//! PRACK (§3). Pure: the dialog keeps it, the endpoint acts on its timer.

use std::time::{Duration, Instant};

use crate::timers::Timers;

/// A provisional response sent reliably and not yet acknowledged.
pub(crate) struct ReliableProvisional {
    payload: Vec<u8>,
    next_at: Option<Instant>,
    interval: Duration,
    give_up_at: Instant,
}

/// What its timer asks of the endpoint.
pub(crate) enum ProvisionalTimer {
    /// No PRACK within 64·T1: the INVITE must be refused.
    GaveUp,
    Wait {
        retransmit: Option<Vec<u8>>,
        next: Instant,
    },
}

impl ReliableProvisional {
    /// Keeps the response sent at `now`, to send again only over an
    /// unreliable transport (`retransmit`). Returns it and when to look at
    /// it next.
    pub fn sent(
        now: Instant,
        timers: &Timers,
        payload: Vec<u8>,
        retransmit: bool,
    ) -> (ReliableProvisional, Instant) {
        let next_at = retransmit.then_some(now + timers.t1);
        let give_up_at = now + timers.transaction_timeout();
        let sent = ReliableProvisional {
            payload,
            next_at,
            interval: timers.t1,
            give_up_at,
        };
        (sent, next_at.unwrap_or(give_up_at))
    }

    /// The retransmission due at `now`, if any, and when to look again; or
    /// that 64·T1 passed without a PRACK (§3).
    pub fn on_timer(&mut self, now: Instant) -> ProvisionalTimer {
        if self.give_up_at <= now {
            return ProvisionalTimer::GaveUp;
        }
        let mut retransmit = None;
        if self.next_at.is_some_and(|t| t <= now) {
            retransmit = Some(self.payload.clone());
            // §3: the interval doubles each time, with no T2 cap.
            self.interval *= 2;
            self.next_at = Some(now + self.interval);
        }
        let next = self
            .next_at
            .map_or(self.give_up_at, |n| n.min(self.give_up_at));
        ProvisionalTimer::Wait { retransmit, next }
    }
}

/// Whether a PRACK's RAck (`response-num CSeq-num Method`, §7.2) names our
/// reliable provisional response `rseq` to the INVITE with `invite_cseq`.
pub(crate) fn rack_names(rack: Option<&str>, rseq: u32, invite_cseq: u32) -> bool {
    let Some(rack) = rack else {
        return false;
    };
    let mut fields = rack.split_ascii_whitespace();
    let named_rseq = fields.next().and_then(|f| f.parse::<u32>().ok());
    let named_cseq = fields.next().and_then(|f| f.parse::<u32>().ok());
    let method = fields.next();
    named_rseq == Some(rseq)
        && named_cseq == Some(invite_cseq)
        && method.is_some_and(|m| m.eq_ignore_ascii_case("INVITE"))
        && fields.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(retransmit: bool) -> (ReliableProvisional, Instant, Instant) {
        let now = Instant::now();
        let (p, next) = ReliableProvisional::sent(
            now,
            &Timers::default(),
            b"SIP/2.0 180 Ringing".to_vec(),
            retransmit,
        );
        (p, now, next)
    }

    #[test]
    fn only_the_rack_naming_its_rseq_cseq_and_invite_acknowledges_it() {
        assert!(rack_names(Some("4711 1 INVITE"), 4711, 1));
        assert!(rack_names(Some(" 4711  1 invite "), 4711, 1));
        for wrong in [
            "4710 1 INVITE",
            "4711 2 INVITE",
            "4711 1 BYE",
            "4711 1",
            "",
            "x y z",
            "4711 1 INVITE x",
        ] {
            assert!(!rack_names(Some(wrong), 4711, 1), "{wrong}");
        }
        assert!(!rack_names(None, 4711, 1));
    }

    #[test]
    fn it_is_sent_again_at_t1_doubling_without_a_cap_until_64_t1() {
        let (mut p, start, mut next) = sent(true);
        let mut at = Vec::new();
        while let ProvisionalTimer::Wait {
            retransmit,
            next: n,
        } = p.on_timer(next)
        {
            if retransmit.is_some() {
                at.push((next - start).as_millis());
            }
            next = n;
        }
        assert_eq!(at, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(next - start, Duration::from_secs(32));
    }

    #[test]
    fn over_a_reliable_transport_it_only_waits_for_the_prack() {
        let (mut p, start, next) = sent(false);
        assert_eq!(next - start, Duration::from_secs(32));
        assert!(matches!(p.on_timer(next), ProvisionalTimer::GaveUp));
    }
}
